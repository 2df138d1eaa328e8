"""What tiles show: the effective box holds its share of the energy and is the smallest that
does (against a brute force); a layer whose field is far wider than the image gets tiles with
content, not gray padding; VGG16 at 224 px keeps the old crops byte for byte."""
import itertools

import keras
import numpy as np
import pytest

import deconv
from deconv.io import render
from deconv.io import tiles
from deconv.sweeps import pass2
from deconv.sweeps import report
from deconv.sweeps import sweep as sweeps_lib
from deconv.sweeps import winners as winners_lib
from tests.conftest import photos


def _brute_force_smallest(energy, share):
    """The smallest area of any box holding `share` of `energy`, trying every box."""
    total, best = energy.sum(), None
    height, width = energy.shape
    for top, bottom in itertools.combinations(range(height + 1), 2):
        for left, right in itertools.combinations(range(width + 1), 2):
            if energy[top:bottom, left:right].sum() >= share * total * (1 - 1e-12):
                area = (bottom - top) * (right - left)
                best = area if best is None else min(best, area)
    return best


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("share", [0.5, 0.95])
def test_the_effective_box_holds_its_share_and_is_smallest(seed, share):
    rng = np.random.default_rng(seed)
    energy = np.zeros((13, 11))
    energy[rng.integers(0, 13, 6), rng.integers(0, 11, 6)] = rng.uniform(0.1, 5, 6)
    reconstruction = np.sqrt(energy)[..., None] * np.array([1.0, 0, 0])  # energy in one channel
    top, left, bottom, right = tiles.effective_box(reconstruction, share)
    assert energy[top:bottom, left:right].sum() >= share * energy.sum() * (1 - 1e-9)
    assert (bottom - top) * (right - left) == _brute_force_smallest(energy, share)


def test_the_effective_box_of_nothing_and_of_a_large_image():
    assert tiles.effective_box(np.zeros((20, 20, 3))) is None
    spot = np.zeros((224, 224, 3))
    spot[100:110, 30:44] = 1.0  # at 224 px the box is made of 7-pixel cells
    top, left, bottom, right = tiles.effective_box(spot, 0.95)
    assert top <= 100 < 110 <= bottom and left <= 30 < 44 <= right
    assert bottom - top <= 10 + 2 * 7 and right - left <= 14 + 2 * 7


def test_a_square_inside_the_image():
    assert tiles.square_inside((10, 20, 30, 25), (64, 64)) == (10, 12, 30, 32)
    assert tiles.square_inside((0, 50, 8, 64), (64, 64)) == (0, 50, 14, 64)
    assert tiles.square_inside((0, 0, 64, 40), (64, 64)) == (0, 0, 64, 64)


@pytest.fixture(scope="module")
def deep_net():
    """A small CNN whose last layer sees far more than a 32-pixel image (its field: 125 px)."""
    layers = [keras.Input((None, None, 3))]
    for number in range(5):
        layers += [keras.layers.Conv2D(8, 5, strides=2 if number < 4 else 1, padding="same",
                                       activation="relu", name=f"c{number}")]
    model = keras.Sequential(layers)
    rng = np.random.default_rng(3)
    for weight in model.weights:
        weight.assign(rng.normal(0.02, 0.2, weight.shape).astype(np.float32))
    return deconv.Deconvnet(model, preprocessing="unit", relu_rule="guided")


def _winners(net, layer, images):
    """Each image's strongest activation of map 0, projected: `(winners, reconstructions)`."""
    size = images.shape[1]
    acts = net.activations(images, layer)[..., 0]
    found = []
    for number, maps in enumerate(acts):
        position = tuple(int(v) for v in np.unravel_index(maps.argmax(), maps.shape))
        box = deconv.receptive_field(net, layer, position, (size, size))
        found.append(pass2.Projected(winners_lib.Winner(number + 1, f"{number}", 0, position,
                                                        float(maps.max())),
                                     float(maps.max()), box, (size, size), list(box)))
    projection = net.project_details(images, layer, [0] * len(images),
                                     np.array([w.position for w in found]))
    return found, projection.reconstructions


def _tiles(net, layer, images, crop, projected=None, **options):
    found, reconstructions = projected or _winners(net, layer, images)
    sweep = sweeps_lib.make_sweep(net, layer, 0, top=len(images))
    feats, patches, shown = report.tiles(net, sweep, found, reconstructions,
                                         images.astype(np.uint8), images.shape[1], crop=crop,
                                         **options)
    return shown, (feats, patches)


def _gray_share(tile):
    return float(np.all(tile == tiles.GRAY, axis=-1).mean())


def test_tiles_of_a_field_far_wider_than_the_image_show_something(deep_net):
    images = photos((32, 32), ("astronaut", "coffee", "chelsea")).astype(np.float32)
    window = deconv.receptive_field(deep_net, "c4", (0, 0), (32, 32), clip=False)
    assert window[2] - window[0] > 3 * 32
    found, (feats, patches) = _tiles(deep_net, "c4", images, "auto", min_tile=32)
    old_found, (old_feats, old_patches) = _tiles(deep_net, "c4", images, "theoretical")
    for winner, feat, patch in zip(found, feats, patches):
        assert winner.crop.kind == "effective" and feat.shape == patch.shape == (32, 32, 3)
        assert _gray_share(patch) <= 0.25
        assert feat.astype(float).std() > 8
        top, left, bottom, right = winner.crop.box
        assert 0 <= top < bottom <= 32 and 0 <= left < right <= 32
        assert bottom - top == right - left  # square: no distortion
    for patch, feat in zip(old_patches, old_feats):  # what it was: mostly gray padding
        assert _gray_share(patch) > 0.75
        assert feat.astype(float).std() < 8


def test_the_activation_is_outlined_only_where_the_crop_does_not_centre_it(deep_net):
    images = photos((32, 32), ("astronaut",)).astype(np.float32)
    for crop in ("image", "effective"):
        _, (_, patches) = _tiles(deep_net, "c4", images, crop)
        assert np.all(patches[0] == tiles.MARK, axis=-1).any(), crop
    _, (_, patches) = _tiles(deep_net, "c4", images, "theoretical")
    assert not np.all(patches[0] == tiles.MARK, axis=-1).any()


def _old_tiles(net, layer, found, reconstructions, pixels, size, min_tile=64):
    """The tiles as deconv drew them before crop rules existed (the field's whole window)."""
    feats, patches = [], []
    for winner, reconstruction, image in zip(found, reconstructions, pixels):
        window = deconv.receptive_field(net, layer, winner.position, (size, size), clip=False)
        feat = render.place(render.crop(reconstruction, winner.box), winner.box, window, 0.0)
        patch = render.place(render.crop(image, winner.box), winner.box, window, 128)
        feats.append(render.upscale(render.to_uint8(feat, "symmetric"), min_tile))
        patches.append(render.upscale(patch, min_tile))
    return feats, patches


def test_vgg16_at_224_keeps_the_old_crops_byte_for_byte(net16):
    images = photos((224, 224), ("astronaut", "chelsea")).astype(np.float32)
    projected = _winners(net16, "conv5_3", images)  # its field, 212 px, fits in the image
    old_feats, old_patches = _old_tiles(net16, "conv5_3", *projected, images.astype(np.uint8),
                                        224)
    for crop in ("theoretical", "auto"):
        found, (feats, patches) = _tiles(net16, "conv5_3", images, crop, projected)
        assert all(w.crop.kind == "theoretical" for w in found)
        for new, old in zip(feats + patches, old_feats + old_patches):
            np.testing.assert_array_equal(new, old)
