"""Ranges of maps and activations projected together, and GIF frames."""
import os
import subprocess
import sys

import imageio.v3 as imageio
import numpy as np
import pytest

from deconv import ranges
from deconv import selection
from deconv import visualize
from tests import oracle


@pytest.mark.parametrize("rule,total,expected", [
    (9, 512, 9), (1000, 512, 512), (0.2, 512, 102), (0.001, 512, 1), (0.5, 3, 2),
    (0, 512, 1), (-3, 512, 1), (1.5, 512, 1), (1.0, 512, 1), (2.0, 512, 2), ("x", 512, 1),
    (True, 512, 1)])
def test_count_rules(rule, total, expected):
    assert selection.count_of(rule, total) == expected


def test_command_line_count_parsing():
    assert visualize.count_rule("9") == 9 and visualize.count_rule("0.2") == 0.2
    assert visualize.count_rule("abc") == 1 and visualize.count_rule("2.5") == 2.5


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


def test_frames_add_maps_by_strength(net19, images_64x48):
    counts = ranges.frame_counts(512, 24)
    assert counts[:4] == [1, 2, 3, 4] and counts[-1] == 512 and len(counts) <= 24
    assert counts == sorted(set(counts))
    acts = net19.activations(images_64x48[:1], "conv2_1")[0]
    masks, counts = ranges.frame_masks(acts, 6)
    order = np.argsort(-acts.max(axis=(0, 1)), kind="stable")
    for mask, count in zip(masks, counts):
        assert set(np.flatnonzero(mask)) == set(order[:count])
    frames = net19.project_frames(images_64x48[0], "conv2_1", masks[[0, -1]])
    for frame, mask in zip(frames, masks[[0, -1]]):
        alone = net19.project(images_64x48[:1], "conv2_1", np.flatnonzero(mask), mode="maps")
        assert oracle.relative_error(frame[None], alone).max() <= 1e-5


def _visualize(*flags):
    return subprocess.run([sys.executable, "-m", "deconv.visualize", *flags],
                          capture_output=True, text=True, timeout=600)


def test_command_line_image_and_gif_modes(tmp_path):
    image = os.path.join(os.path.dirname(os.path.dirname(__file__)), "examples", "images",
                         "chelsea.jpg")
    result = _visualize(image, "--out", str(tmp_path / "cat"), "-m", "0.2", "-a", "9",
                        "--weights", "random", "--size", "64", "--layers", "conv1_2,conv3_1")
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "cat.png").exists()
    import json
    layers = json.loads((tmp_path / "cat.json").read_text())["layers"]
    assert [(x["layer"], x["maps_kept"], x["activations_per_map"]) for x in layers] == [
        ("conv1_2", 13, 9), ("conv3_1", 51, 9)]
    result = _visualize(image, "-g", "--out", str(tmp_path / "cat"), "--frames", "5",
                        "--weights", "random", "--size", "64", "--layers", "conv2_1")
    assert result.returncode == 0, result.stderr[-2000:]
    frames = imageio.imread(tmp_path / "cat_conv2_1.gif", index=None)
    assert frames.shape[0] == len(ranges.frame_counts(128, 5)) == 5
    assert frames.shape[1:3] == (64 + 14, 64)  # the image, with a caption line above
