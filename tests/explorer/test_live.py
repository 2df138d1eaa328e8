"""The live explorer's computations (`deconv.explorer.live`), against the library's own calls
and NumPy: every layer's activations from one pass, the map grid picture, projections with both
rules, receptive fields, the image limits and caches, and first calls from many threads."""
import concurrent.futures

import numpy as np
import pytest

import deconv
from deconv.core.rules.base import RELU_RULES
from deconv.errors import DeconvError
from deconv.explorer import live
from tests.explorer.conftest import SIZE, png_bytes


def test_every_layer_from_one_pass_equals_each_layer_alone(explorer, net16, photo):
    key, original = explorer.add_image(png_bytes(photo))
    assert original == (SIZE, SIZE) and key == live.image_id(photo)
    np.testing.assert_array_equal(explorer.image(key), photo)
    for layer in ("conv1_1", "pool2", "conv3_1", "conv5_3"):
        np.testing.assert_allclose(explorer.activations(key, layer),
                                   net16.activations(photo[None], layer)[0],
                                   rtol=1e-5, atol=1e-5)
    assert set(explorer.layers) == {name for name in net16.layer_names
                                    if len(net16.step(name).shape) == 4}


def _cell(picture, cell, columns, unit):
    row, column = divmod(unit, columns)
    return picture[row * cell[0]:(row + 1) * cell[0], column * cell[1]:(column + 1) * cell[1]]


@pytest.mark.parametrize("normalize", ["layer", "map"])
def test_the_map_grid_holds_every_map_in_its_cell(explorer, net16, photo, normalize):
    key, _ = explorer.add_image(png_bytes(photo))
    maps = net16.activations(photo[None], "conv3_1")[0].astype(np.float64)  # 8 x 8 x 256
    grid = explorer.map_grid(key, "block3_conv1", normalize)
    assert grid.cell == (8, 8) and grid.columns == 32 and grid.picture.shape == (64, 256)
    np.testing.assert_allclose(grid.strength, maps.max(axis=(0, 1)), rtol=1e-5)
    for unit in (0, 5, 100, 255):
        y, x = grid.argmax[unit]
        assert maps[y, x, unit] == pytest.approx(maps[..., unit].max(), rel=1e-5)
        peak = maps.max() if normalize == "layer" else maps[..., unit].max()
        expected = np.clip(np.round(255 * maps[..., unit] / peak), 0, 255) if peak > 0 else 0
        assert np.abs(_cell(grid.picture, grid.cell, 32, unit) - expected).max() <= 1
        assert np.abs(explorer.one_map(key, "conv3_1", unit, normalize).astype(int)
                      - expected).max() <= 1


def test_large_maps_are_shrunk_to_the_thumbnail_side(net16, photo):
    small = live.Explorer(net16, live.Options(size=SIZE, thumb=8))
    key, _ = small.add_image(png_bytes(photo))
    grid = small.map_grid(key, "conv1_1")  # 32 x 32 maps, 64 of them
    assert grid.cell == (8, 8) and grid.picture.shape == (16, 256)
    one = small.one_map(key, "conv1_1", 3)
    assert one.shape == (32, 32)
    box_mean = one.astype(np.float64).reshape(8, 4, 8, 4).mean(axis=(1, 3))
    assert np.abs(_cell(grid.picture, grid.cell, 32, 3) - box_mean).max() <= 1.5


@pytest.mark.parametrize("relu_rule,mode,position", [
    ("deconvnet", "activation", None), ("guided", "activation", None),
    ("deconvnet", "activation", (2, 5)), ("guided", "maps", None)])
def test_projections_are_the_library_call(explorer, vgg16, photo, relu_rule, mode, position):
    key, _ = explorer.add_image(png_bytes(photo))
    found = explorer.project(key, "conv3_1", 7, position, relu_rule, mode)
    oracle = deconv.Deconvnet(vgg16, relu_rule=relu_rule).project_details(
        photo[None], "conv3_1", 7, None if position is None else [position], mode)
    np.testing.assert_array_equal(deconv.to_uint8(found.reconstruction),
                                  deconv.to_uint8(oracle.reconstructions[0]))
    assert found.value == pytest.approx(float(oracle.values[0]))
    assert found.position == tuple(oracle.positions[0])
    if position is not None:
        assert found.position == position
    if mode == "activation":
        assert found.box == tuple(deconv.receptive_field(vgg16, "conv3_1", found.position,
                                                         (SIZE, SIZE)))
    else:
        assert found.box is None
    assert explorer.nets["guided"].model is explorer.nets["deconvnet"].model is vgg16


def test_bad_requests_are_one_line_errors(explorer, photo):
    key, _ = explorer.add_image(png_bytes(photo))
    for call, message in [
            (lambda: explorer.project(key, "conv9_9", 0), "Unknown layer 'conv9_9'"),
            (lambda: explorer.project(key, "conv3_1", 256), "which has 256 maps: 0 to 255"),
            (lambda: explorer.project(key, "conv3_1", 0, (8, 0)), "outside"),
            (lambda: explorer.project(key, "conv3_1", 0, relu_rule="lrp"),
             "Valid: deconvnet, guided"),
            (lambda: explorer.project(key, "conv3_1", 0, mode="ranges"), "Valid: activation"),
            (lambda: explorer.map_grid(key, "conv3_1", "global"), "Valid: layer, map"),
            (lambda: explorer.project("0" * 16, "conv3_1", 0), "Unknown image")]:
        with pytest.raises(DeconvError, match=message):
            call()


def test_images_are_refused_past_the_limits_with_the_reason(net16, photo):
    strict = live.Explorer(net16, live.Options(size=SIZE, max_bytes=9000, max_pixels=1000))
    big = np.random.default_rng(0).integers(0, 256, (40, 40, 3), np.uint8)  # 1600 px
    for data, message in [(png_bytes(big), "40x40 is 1,600 pixels, more than the 1,000 allowed"),
                          (b"GIF89a but not really", "not an image Pillow can identify"),
                          (b"", "an empty file"),
                          (b"\0" * 9001, "9,001 bytes, more than the 9,000 allowed")]:
        with pytest.raises(DeconvError, match=message):
            strict.add_image(data)
    assert strict.add_image(png_bytes(photo[:20, :30]))[1] == (20, 30)  # 600 px: accepted


def test_images_and_activations_are_kept_by_hash_and_evicted(net16, photo):
    small = live.Explorer(net16, live.Options(size=SIZE, images=2, activations=1))
    keys = [small.add_image(png_bytes(np.roll(photo, shift, axis=1)))[0] for shift in range(3)]
    assert len(set(keys)) == 3 and small.add_image(png_bytes(photo))[0] == keys[0]
    with pytest.raises(live.UnknownImage):
        small.image(keys[1])  # the oldest, once keys[0] was added again
    first = small.activations(keys[2], "conv2_1")
    assert small.activations(keys[2], "conv2_2") is small.activations(keys[2], "conv2_2")
    small.activations(keys[0], "conv2_1")
    assert small.activations(keys[2], "conv2_1") is not first  # recomputed after eviction
    np.testing.assert_array_equal(small.activations(keys[2], "conv2_1"), first)


def test_first_calls_from_many_threads_give_the_library_results(vgg16, photo):
    """A fresh net (nothing built yet): 20 requests at once over 2 layers, 2 rules, 2 modes
    and positions build and trace their graphs safely (the first calls of each graph), run
    side by side (the later ones), and each equals the library's call."""
    fresh = live.Explorer(deconv.Deconvnet(vgg16), live.Options(size=SIZE))
    key, _ = fresh.add_image(png_bytes(photo))
    requests = [(layer, 3 + repeat, position, relu_rule, mode)
                for layer in ("conv2_2", "conv4_1") for relu_rule in RELU_RULES
                for mode, position, repeat in (
                    ("activation", None, 0), ("activation", (1, 1), 0), ("maps", None, 0),
                    ("activation", None, 1), ("activation", None, 2))]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        found = list(pool.map(lambda r: fresh.project(key, *r[:3], relu_rule=r[3], mode=r[4]),
                              requests))
    nets = {relu_rule: deconv.Deconvnet(vgg16, relu_rule=relu_rule) for relu_rule in RELU_RULES}
    for (layer, unit, position, relu_rule, mode), result in zip(requests, found):
        oracle = nets[relu_rule].project(photo[None], layer, unit,
                                    None if position is None else [position], mode)
        np.testing.assert_array_equal(deconv.to_uint8(result.reconstruction),
                                      deconv.to_uint8(oracle[0]))
