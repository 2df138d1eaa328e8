"""Activation overlays and the class plot, checked against maps computed by hand."""
import os
import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import deconv
from deconv.analysis import class_maps
from deconv.analysis import class_plot
from deconv.io import images as image_files
from deconv.analysis import overlays
from deconv.errors import DeconvError
from deconv.io.streaming import Reading
from tests.helpers import colour_model
from tests.helpers.colour_model import BLUE, CONSTANT, GREEN, RED

VIRIDIS_LOW, VIRIDIS_HIGH = (68, 1, 84), (253, 231, 37)


def test_upsample_is_tensorflow_bilinear_resize():
    maps = np.random.default_rng(0).normal(size=(3, 5, 7))
    for size in ((20, 21), (5, 7), (11, 30)):
        oracle = tf.image.resize(maps[..., None], size, method="bilinear").numpy()[..., 0]
        np.testing.assert_allclose(overlays.upsample(maps, size), oracle, atol=1e-5)
    np.testing.assert_allclose(overlays.upsample(np.full((2, 3), 4.0), (8, 12)), 4.0)


def _bilinear_by_hand(cells, row_centres, column_centres, size):
    """Linear interpolation along each axis between the cells' centres (np.interp: the ends
    hold their value)."""
    rows = np.stack([np.interp(np.arange(size[0]), row_centres, column)
                     for column in cells.T], axis=1)
    return np.stack([np.interp(np.arange(size[1]), column_centres, row) for row in rows])


def test_heat_cells_sit_at_their_receptive_field_centres(vgg16):
    """VGG16 conv5_3 has stride 16: cell j is centred on pixel 16 j + 7.5. At 100 x 120 px
    pooling drops 4 rows and 8 columns, so stretching the 6 x 7 map over the whole image (the
    old half-pixel resize) would put the last cell 3.7 and 8.6 pixels too far down and right."""
    net = deconv.Deconvnet(vgg16)
    rows, columns = overlays.cell_centres(net, "conv5_3", (100, 120))
    np.testing.assert_array_equal(rows, 16 * np.arange(6) + 7.5)
    np.testing.assert_array_equal(columns, 16 * np.arange(7) + 7.5)
    image = np.random.default_rng(2).uniform(0, 255, (100, 120, 3)).astype(np.float32)
    found = overlays.top_maps(net, "conv5_3", image, features=[3, 17])
    assert np.all(found.maps.max(axis=(1, 2)) > 0)
    for cells, heat in zip(found.maps, found.heats):
        np.testing.assert_allclose(heat, _bilinear_by_hand(cells, rows, columns, (100, 120)),
                                   atol=1e-6 * np.abs(cells).max())
    hot = np.zeros((6, 7))
    hot[5, 6] = 1.0
    heat = overlays.to_image(net, "conv5_3", hot, (100, 120))
    assert np.all(heat[88:, 104:] == 1.0)  # beyond the last centre (87.5, 103.5)
    np.testing.assert_allclose(heat[87, 104:], 31 / 32)  # half a pixel before it
    assert not heat[:72].any() and not heat[:, :88].any()  # up to the cells before (71.5)
    # At 224 px (a multiple of the stride) the true centres are the half-pixel ones.
    maps = np.random.default_rng(3).normal(size=(2, 14, 14))
    oracle = tf.image.resize(maps[..., None], (224, 224), method="bilinear").numpy()[..., 0]
    np.testing.assert_allclose(overlays.to_image(net, "conv5_3", maps, (224, 224)), oracle,
                               atol=1e-5)


def test_top_maps_of_one_image_are_its_colours_by_hand(colour_net):
    image = colour_model.tinted(np.random.default_rng(1), 0, (12, 10))
    image[:4, :, 2] = 250  # a blue-ish band: red is stronger on average, blue second
    image[:4, :, 0] = 0
    found = overlays.top_maps(colour_net, "colours", image, top=3)
    maps = colour_model.by_hand(image[None])[0]
    assert found.features.tolist() == [RED, BLUE, CONSTANT]
    # A 1x1 conv keeps the image's size: each heat is the map itself.
    np.testing.assert_allclose(found.heats, np.moveaxis(maps[..., [RED, BLUE, CONSTANT]], -1, 0),
                               atol=1e-6)
    np.testing.assert_allclose(found.means, maps.mean(axis=(0, 1))[[RED, BLUE, CONSTANT]],
                               atol=1e-6)
    pooled = overlays.top_maps(colour_net, "pooled", image, features=[GREEN, RED])
    assert pooled.maps.shape == (2, 6, 5) and pooled.heats.shape == (2, 12, 10)
    by_hand = maps[..., [GREEN, RED]].reshape(6, 2, 5, 2, 2).max(axis=(1, 3))
    oracle = tf.image.resize(by_hand, (12, 10), method="bilinear").numpy()
    np.testing.assert_allclose(pooled.heats, np.moveaxis(oracle, -1, 0), atol=1e-5)


def test_overlay_colours_follow_the_heat(colour_net):
    image = np.full((8, 8, 3), 255, np.uint8)
    image[:, :4] = (0, 0, 255)  # blue left half, white right half
    found = overlays.top_maps(colour_net, "colours", image, features=[BLUE])
    picture = overlays.overlay_grid(image, found.heats, ["blue"], alpha=1.0)
    tile = picture[2 + 14:, 2:]  # inside the grid's gap, below the tile's caption
    assert tuple(tile[0, 0]) == VIRIDIS_HIGH and tuple(tile[0, 7]) == VIRIDIS_LOW
    assert overlays.colour_range([np.ones((2, 2)), 3 * np.ones((2, 2))], "each") == [
        (0.0, 1.0), (0.0, 3.0)]
    assert overlays.colour_range([np.ones((2, 2)), -np.ones((2, 2))], "shared") == [
        (-1.0, 1.0)] * 2


def test_sum_of_maps_over_a_folder_is_the_sum_of_separate_maps(colour_net, colour_folder):
    root, written = colour_folder
    paths = image_files.find_images(str(root), image_files.parse_extensions(None))
    found = overlays.map_sums(colour_net, "pooled", paths, features=[RED, BLUE],
                              reading=Reading(16, batch_size=3))
    names = [os.path.relpath(paths[n], root) for n in found.numbers]
    assert len(found.numbers) == 8 and len(found.skipped) == 3  # loose.png is read too
    pixels = np.stack([image_files.read_image(paths[n], 16)[0] for n in found.numbers])
    separate = [overlays.summed_maps(colour_net, "pooled", pixels, [m]) for m in (RED, BLUE)]
    np.testing.assert_allclose(found.sums, separate[0] + separate[1], atol=1e-6)
    for name, summed in zip(names, found.sums):
        if name in written:  # and against the maps by hand
            by_hand = colour_model.by_hand(written[name][None])[0][..., [RED, BLUE]]
            np.testing.assert_allclose(summed, by_hand.reshape(8, 2, 8, 2, 2).max(
                axis=(1, 3)).sum(axis=-1), atol=1e-6)
    heats = overlays.upsample(found.sums, (16, 16))
    np.testing.assert_allclose(heats, overlays.upsample(separate[0], (16, 16))
                               + overlays.upsample(separate[1], (16, 16)), atol=1e-9)
    strongest = found.order(strongest=True)
    means = found.sums.mean(axis=(1, 2))
    assert np.all(np.diff(means[strongest]) <= 0) and names[strongest[-1]] == "loose.png"


def test_class_plot_data_and_picture(colour_net, colour_folder, tmp_path):
    root, _ = colour_folder
    maps = {"red": [RED, CONSTANT], "blue": [BLUE]}
    scores = class_maps.class_scores(colour_net, "colours", str(root), maps=maps,
                                     reading=Reading(16, batch_size=4))
    assert scores.series == ["red", "blue"] and len(scores.skipped) == 3
    assert scores.groups == ["blue"] * 3 + [""] + ["red"] * 4
    pixels = np.stack([image_files.read_image(path, 16)[0] for path in scores.paths])
    means = colour_model.by_hand(pixels).mean(axis=(1, 2))
    np.testing.assert_allclose(scores.scores[:, 0], means[:, RED] + means[:, CONSTANT],
                               atol=1e-6)
    np.testing.assert_allclose(scores.scores[:, 1], means[:, BLUE], atol=1e-6)
    data = class_plot.to_json(scores)
    by_folder = data["mean_score_by_folder"]
    assert by_folder["red"]["red"] > 0.4 > by_folder["red"]["blue"]
    assert by_folder["blue"]["blue"] > 0.4 > by_folder["blue"]["red"]
    assert by_folder["(top level)"]["red"] == pytest.approx(0.05, abs=1e-6)
    class_plot.plot(tmp_path / "plot.png", scores)
    with Image.open(tmp_path / "plot.png") as picture:
        assert picture.format == "PNG" and picture.width >= 600
        colours = {tuple(c) for c in np.asarray(picture.convert("RGB")).reshape(-1, 3)}
    assert (31, 119, 180) in colours and (255, 127, 14) in colours  # the two series' lines


def test_every_class_of_many_gets_its_own_colour(tmp_path):
    from matplotlib import colormaps
    from matplotlib.colors import to_hex
    tab20 = [to_hex(c) for c in colormaps["tab20"].colors]
    assert class_plot.colours(12) == tab20[0::2] + tab20[1:4:2]  # tab10 first, as before
    for count in (1, 12, 20, 21, 45, 300):
        palette = class_plot.colours(count)
        assert len(palette) == len(set(palette)) == count
    # In the picture: a line per class, the 11th and 12th in their own colours (not the 1st's).
    series = [f"class{i}" for i in range(12)]
    scores = class_maps.ClassScores("block1_conv1", series, {name: [0] for name in series},
                                    [f"{i}.png" for i in range(4)], ["a", "a", "b", "b"],
                                    np.arange(48, dtype=np.float64).reshape(4, 12), [])
    class_plot.plot(tmp_path / "many.png", scores)
    with Image.open(tmp_path / "many.png") as picture:
        drawn = {tuple(c) for c in np.asarray(picture.convert("RGB")).reshape(-1, 3)}
    for colour in class_plot.colours(12):
        assert tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5)) in drawn, colour


def test_plot_without_matplotlib_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    monkeypatch.setitem(sys.modules, "matplotlib.backends.backend_agg", None)
    with pytest.raises(DeconvError, match=r"needs matplotlib.*pip install matplotlib"):
        class_plot.require_matplotlib()


