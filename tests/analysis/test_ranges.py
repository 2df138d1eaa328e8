"""Ranges of maps and activations projected together, and GIF frames."""
import keras
import numpy as np
import pytest

import deconv
from deconv.analysis import ranges
from deconv.core import selection
from tests.helpers import oracle


@pytest.mark.parametrize("count_rule,total,expected", [
    (9, 512, 9), (1000, 512, 512), (0.2, 512, 102), (0.001, 512, 1), (0.5, 3, 2),
    (0.5, 5, 3), (0.5, 7, 4), (0.25, 10, 3), (0.1, 25, 3),  # halves round up, not to even
    (0, 512, 1), (-3, 512, 1), (1.5, 512, 1), (1.0, 512, 1), (2.0, 512, 2), ("x", 512, 1),
    (True, 512, 1)])
def test_count_rules(count_rule, total, expected):
    assert selection.count_of(count_rule, total) == expected


def _kept_by_hand(acts, maps, per_map):
    mask = np.zeros_like(acts)
    for i, image in enumerate(acts):
        strongest = np.argsort(-image.max(axis=(0, 1)), kind="stable")[:maps]
        for c in strongest:
            flat = image[..., c].ravel()
            for place in np.argsort(-flat, kind="stable")[:per_map]:
                mask[i, place // acts.shape[2], place % acts.shape[2], c] = 1
    return mask


def test_ranges_keep_the_right_activations_and_project_them_together(net19, vgg19,
                                                                      images_64x48):
    maps, per_map = net19.range_counts("conv3_2", (64, 48), 0.05, 3)
    assert (maps, per_map) == (13, 3)
    projection = net19.project_ranges(images_64x48, "conv3_2", 0.05, 3)
    acts = net19.activations(images_64x48, "conv3_2")
    mask = _kept_by_hand(acts, maps, per_map)
    np.testing.assert_allclose(projection.values, (acts * mask).reshape(2, -1).max(axis=1),
                               rtol=1e-5)
    # The joint projection is the reverse pass of the sum of the kept activations.
    _, expected = oracle.gradient(vgg19, images_64x48, "block3_conv2", lambda a: a * mask)
    assert oracle.relative_error(projection.reconstructions, expected).max() <= 1e-4


def test_whole_maps_of_a_linear_layer_report_their_own_maximum():
    """Maps of a linear conv can be negative everywhere: the reported value and position are
    the largest kept activation, not a zero of a masked-out map."""
    model = keras.Sequential([keras.Input((None, None, 3)),
                              keras.layers.Conv2D(4, 3, padding="same", activation="relu",
                                                  name="c1"),
                              keras.layers.MaxPooling2D(2, name="p1"),
                              keras.layers.Conv2D(3, 3, padding="same", name="linear")])
    rng = np.random.default_rng(8)
    for layer in (model.get_layer("c1"), model.get_layer("linear")):
        layer.kernel.assign(rng.normal(0, 0.3, layer.kernel.shape).astype(np.float32))
    model.get_layer("linear").kernel.assign(model.get_layer("linear").kernel * 0.01)
    model.get_layer("linear").bias.assign(np.full(3, -57.0, np.float32))
    net = deconv.Deconvnet(model)
    images = rng.uniform(0, 255, (2, 12, 10, 3)).astype(np.float32)
    acts = net.activations(images, "linear")
    assert acts.max() < 0
    found = net.project_details(images, "linear", [0, 2], mode="maps")
    kept = acts[..., [0, 2]].max(axis=-1).reshape(2, -1)
    np.testing.assert_allclose(found.values, kept.max(axis=1), rtol=1e-6)
    np.testing.assert_array_equal(found.positions, np.stack(
        np.unravel_index(kept.argmax(axis=1), acts.shape[1:3]), axis=1))
    # The projection is unchanged: the reverse pass of the kept maps with their own values.
    mask = np.zeros(3, np.float32)
    mask[[0, 2]] = 1
    _, expected = oracle.gradient(model, images, "linear", lambda a: a * mask, caffe=False)
    assert oracle.relative_error(found.reconstructions, expected).max() <= 1e-5


def test_frame_counts_reach_every_count_the_frames_allow():
    assert ranges.frame_counts(64, 100000) == list(range(1, 65))  # every map count appears
    assert ranges.frame_counts(64, 64) == list(range(1, 65))
    assert ranges.frame_counts(512, 24)[:4] == [1, 2, 3, 4]
    assert ranges.frame_counts(7, 1) == [1]
    for channels in (1, 2, 3, 5, 64, 128, 512):
        for frames in (1, 2, 3, 5, 24, 63, 64, 65, 511, 512, 100000):
            counts = ranges.frame_counts(channels, frames)
            assert len(counts) == min(frames, channels), (channels, frames, counts)
            assert counts == sorted(set(counts)) and counts[0] == 1
            assert counts[-1] == channels or frames == 1, (channels, frames, counts)
            steps = np.diff(counts)
            assert np.all(steps[1:] >= steps[:-1] - 1), counts  # then geometrically: widening


def test_frames_add_maps_by_strength(net19, images_64x48):
    acts = net19.activations(images_64x48[:1], "conv2_1")[0]
    masks, counts = ranges.frame_masks(acts, 6)
    order = np.argsort(-acts.max(axis=(0, 1)), kind="stable")
    for mask, count in zip(masks, counts):
        assert set(np.flatnonzero(mask)) == set(order[:count])
    frames = net19.project_frames(images_64x48[0], "conv2_1", masks[[0, -1]])
    for frame, mask in zip(frames, masks[[0, -1]]):
        alone = net19.project(images_64x48[:1], "conv2_1", np.flatnonzero(mask), mode="maps")
        assert oracle.relative_error(frame[None], alone).max() <= 1e-5


