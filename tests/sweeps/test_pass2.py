"""Pass 2 grouped by image, several images' winners in one call, equals projecting each winner
alone (`project_details`); its records are new and immutable."""
import dataclasses
import types

import numpy as np
import pytest
from PIL import Image

import deconv
from deconv.io import tiles
from deconv.sweeps import pass2
from deconv.sweeps.winners import Winner
from tests.conftest import photos


@pytest.mark.parametrize("layer, batch_size", [("conv3_1", 3), ("conv4_1", 7)],
                         ids=["windows to the pixels: one image a call",
                              "whole maps below: images share a call"])
def test_grouped_projection_equals_one_by_one(net19, tmp_path, layer, batch_size):
    size = 48
    paths = []
    for name, image in zip(("astronaut", "chelsea"), photos((size, size))):
        paths.append(str(tmp_path / f"{name}.png"))
        Image.fromarray(image).save(paths[-1])
    layer = net19.resolve(layer)
    assert net19.window_reaches_pixels(layer, (size, size)) == (batch_size == 3)
    height, width = net19.map_size(layer, (size, size))
    rng = np.random.default_rng(3)
    found = [Winner(rank, paths[rng.integers(2)], int(rng.integers(net19.feature_count(layer))),
                    (int(rng.integers(height)), int(rng.integers(width))), 0.0)
             for rank in range(7)]
    reconstructions = np.zeros((len(found), size, size, 3), np.float32)
    pixels = np.zeros((len(found), size, size, 3), np.uint8)
    records = [None] * len(found)
    for part in pass2.project(net19, layer, found, size, "stretch", batch_size=batch_size):
        assert len(part.numbers) <= batch_size
        for n, projected, reconstruction in zip(part.numbers, part.projected,
                                                part.reconstructions):
            reconstructions[n], pixels[n], records[n] = reconstruction, part.image, projected
    assert list(pass2.group_by_image(found)) == list(dict.fromkeys(w.path for w in found))
    for number, winner in enumerate(found):
        image = np.asarray(Image.open(winner.path).convert("RGB"))
        alone = net19.project_details(image[None].astype(np.float32), layer, [winner.feature],
                                      np.array([winner.position]))
        np.testing.assert_array_equal(pixels[number], image)
        assert records[number].winner is winner
        np.testing.assert_allclose(records[number].projected_value, alone.values[0], rtol=1e-5)
        assert records[number].box == deconv.receptive_field(net19, layer, winner.position,
                                                             (size, size))
        scale = max(np.abs(alone.reconstructions[0]).max(), 1e-12)
        np.testing.assert_allclose(reconstructions[number] / scale,
                                   alone.reconstructions[0] / scale, atol=1e-5)
        assert records[number].original_size == (size, size)
        assert records[number].box_original == list(records[number].box)
    assert np.abs(reconstructions).sum() > 0  # the test is not comparing zeros


def test_calls_share_images_and_split_large_groups():
    groups = [("a", [0, 1, 2, 3]), ("b", [4]), ("c", [5, 6])]
    assert list(pass2._calls(groups, 3)) == [
        [("a", [0, 1, 2])], [("a", [3]), ("b", [4])], [("c", [5, 6])]]
    assert list(pass2._calls(groups, 7)) == [groups]
    assert list(pass2._calls(groups, 7, share=False)) == [[group] for group in groups]


def test_records_are_immutable_and_survive_their_json():
    winner = Winner(2, "a.png", 7, (3, 4), 1.5)
    projected = pass2.Projected(winner, 1.25, (0, 1, 5, 6), (40, 30), [0, 0, 4, 5])
    with pytest.raises(dataclasses.FrozenInstanceError):
        winner.value = 0.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        projected.box = None
    shown = dataclasses.replace(projected, crop=tiles.Crop("image", (0, 0, 8, 8),
                                                                     None))
    assert list(shown.record()) == [
        "rank", "path", "feature", "position", "value", "box", "projected_value",
        "original_size", "box_original", "box_effective", "crop", "crop_box"]
    assert shown.record()["crop_box"] == [0, 0, 8, 8] and projected.record()["crop"] is None
    for one in (projected, shown):
        assert pass2.Projected.from_record(one.record()) == one


def test_views_come_in_runs_of_bounded_winners():
    views = [("a", [1, 2]), ("b", [3]), ("c", [4, 5, 6, 7]), ("d", [8])]
    assert [[name for name, _ in run] for run in pass2._runs_of_views(views, 3)] == [
        ["a", "b"], ["c"], ["d"]]  # a view larger than the limit is a run of its own
    assert [[name for name, _ in run] for run in pass2._runs_of_views(views, 100)] == [
        ["a", "b", "c", "d"]]


def test_views_projected_in_runs_equal_all_at_once(net19, tmp_path):
    """A sweep of many maps holds at most `held` winners' tiles; the views it hands on are the
    same as when every winner of the layer is projected at once."""
    size, layer = 40, net19.resolve("conv3_1")
    paths = []
    for name, image in zip(("astronaut", "chelsea", "coffee"),
                           photos((size, size), ("astronaut", "chelsea", "coffee"))):
        paths.append(str(tmp_path / f"{name}.png"))
        Image.fromarray(image).save(paths[-1])
    rng = np.random.default_rng(5)
    views = [(types.SimpleNamespace(layer=layer, mode="activation", name=number),
              [Winner(rank, paths[rng.integers(3)], number, (int(rng.integers(10)),
                                                              int(rng.integers(10))), 0.0)
               for rank in range(2)]) for number in range(5)]
    reading = deconv.Reading(size, "stretch", 4)
    in_runs = list(pass2.project_views(net19, views, reading, None, held=3))
    at_once = list(pass2.project_views(net19, views, reading, None, held=100))
    assert [view.name for view, *_ in in_runs] == list(range(5))
    for (view, projected, reconstructions, pixels), (_, projected_all, reconstructions_all,
                                                      pixels_all) in zip(in_runs, at_once):
        assert [one.winner for one in projected] == [one.winner for one in projected_all]
        np.testing.assert_allclose([one.projected_value for one in projected],
                                   [one.projected_value for one in projected_all], rtol=1e-5)
        scale = max(np.abs(reconstructions_all).max(), 1e-12)
        np.testing.assert_allclose(reconstructions / scale, reconstructions_all / scale,
                                   atol=1e-5)
        np.testing.assert_array_equal(pixels, pixels_all)
    assert np.abs(np.concatenate([r for _, _, r, _ in in_runs])).sum() > 0
