"""Normalisation and grids."""
import numpy as np
import pytest

from deconv.io import render


def test_symmetric_keeps_zero_gray_and_sign():
    recon = np.zeros((2, 2, 3))
    recon[0, 0] = [-4, 0, 2]
    out = render.to_uint8(recon)
    np.testing.assert_array_equal(out[0, 0], [1, 128, 192])
    assert (out[1, 1] == 128).all()


def test_minmax_stretches_each_image_on_its_own():
    batch = np.stack([np.linspace(-1, 1, 12).reshape(2, 2, 3), np.full((2, 2, 3), 7.0)])
    out = render.to_uint8(batch, "minmax")
    assert out[0].min() == 0 and out[0].max() == 255
    assert (out[1] == 0).all()  # constant image: no span to stretch
    with pytest.raises(ValueError, match="symmetric"):
        render.to_uint8(batch, "bogus")


def test_grid_centres_tiles_in_equal_cells():
    tiles = [np.zeros((4, 6, 3), np.uint8), np.zeros((2, 2, 3), np.uint8) + 50,
             np.zeros((4, 4, 3), np.uint8) + 100]
    out = render.grid(tiles, gap=1)
    # 2 columns x 2 rows of 4x6 cells, 1-pixel gaps.
    assert out.shape == (2 * 5 + 1, 2 * 7 + 1, 3)
    assert (out[1:5, 1:7] == 0).all()
    assert (out[2:4, 1 + 7 + 2:1 + 7 + 4] == 50).all()  # centred in the second cell
    assert (out[6:10, 1 + 1:1 + 5] == 100).all()
    assert out[0, 0, 0] == 255
