"""Pass 2 grouped by image, several images' winners in one call, equals projecting each winner
alone (`project_details`)."""
import numpy as np
import pytest
from PIL import Image

from deconv.sweeps import by_image
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
    reconstructions, values, pixels = by_image.project_by_image(
        net19, layer, found, size, "stretch", batch_size=batch_size)
    assert list(by_image.group_by_image(found)) == list(dict.fromkeys(w.path for w in found))
    for number, winner in enumerate(found):
        image = np.asarray(Image.open(winner.path).convert("RGB"))
        alone = net19.project_details(image[None].astype(np.float32), layer, [winner.feature],
                                      np.array([winner.position]))
        np.testing.assert_array_equal(pixels[number], image)
        np.testing.assert_allclose(values[number], alone.values[0], rtol=1e-5)
        scale = max(np.abs(alone.reconstructions[0]).max(), 1e-12)
        np.testing.assert_allclose(reconstructions[number] / scale,
                                   alone.reconstructions[0] / scale, atol=1e-5)
        assert winner.original_size is not None
    assert np.abs(reconstructions).sum() > 0  # the test is not comparing zeros


def test_calls_share_images_and_split_large_groups():
    groups = [("a", [0, 1, 2, 3]), ("b", [4]), ("c", [5, 6])]
    assert list(by_image._calls(groups, 3)) == [
        [("a", [0, 1, 2])], [("a", [3]), ("b", [4])], [("c", [5, 6])]]
    assert list(by_image._calls(groups, 7)) == [groups]
    assert list(by_image._calls(groups, 7, share=False)) == [[group] for group in groups]
