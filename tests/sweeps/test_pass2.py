"""Pass 2 grouped by image, several images' winners in one call, equals projecting each winner
alone (`project_details`); its records are new and immutable."""
import dataclasses

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
