"""Turning reconstructions and images into pictures: normalisation, crops, grids. Pure NumPy.

Reconstructions are signed and unnormalised; `to_uint8` documents the two ways shown here.
"""
import math

import numpy as np

NORMALISATIONS = ("symmetric", "minmax")


def to_uint8(reconstruction, method="symmetric"):
    """Returns a displayable uint8 image from a reconstruction, each image normalised on its own.

    Args:
      reconstruction: `(H, W, 3)` or `(N, H, W, 3)` float.
      method: `"symmetric"` maps 0 to mid-gray 128 and the largest absolute value to 1 or 255
        (`128 + 127 * r / max|r|`): the sign and the zero level stay readable, as in the paper's
        gray-background figures. `"minmax"` stretches `[min, max]` to `[0, 255]` (the TF1
        project's choice): more contrast, but zero moves.

    Returns:
      uint8 array of the same shape. An all-zero reconstruction gives mid-gray (symmetric) or
      black (minmax).
    """
    if method not in NORMALISATIONS:
        raise ValueError(f"Unknown normalisation {method!r}; valid: {', '.join(NORMALISATIONS)}.")
    recon = np.asarray(reconstruction, np.float64)
    single = recon.ndim == 3
    batch = recon[None] if single else recon
    axes = (1, 2, 3)
    if method == "symmetric":
        peak = np.abs(batch).max(axis=axes, keepdims=True)
        scaled = 128 + 127 * np.divide(batch, peak, out=np.zeros_like(batch), where=peak > 0)
    else:
        low = batch.min(axis=axes, keepdims=True)
        span = batch.max(axis=axes, keepdims=True) - low
        scaled = 255 * np.divide(batch - low, span, out=np.zeros_like(batch), where=span > 0)
    out = np.clip(np.round(scaled), 0, 255).astype(np.uint8)
    return out[0] if single else out


def crop(image, box):
    """Returns `image[top:bottom, left:right]` for a half-open `(top, left, bottom, right)` box."""
    top, left, bottom, right = box
    return image[top:bottom, left:right]


def grid(tiles, columns=None, gap=2, fill=255):
    """Lays uint8 tiles `(h_i, w_i, 3)` out in a square-ish grid, row by row.

    Each cell is as large as the largest tile; a smaller tile sits centred in its cell, padded
    with `fill`, so tiles of the same index in two grids line up.

    Args:
      tiles: a non-empty sequence of uint8 `(h, w, 3)` arrays.
      columns: cells per row; default `ceil(sqrt(len(tiles)))`.
      gap: pixels of `fill` between cells and around the grid.
      fill: the padding value.

    Returns:
      One uint8 `(H, W, 3)` image.
    """
    if not len(tiles):
        raise ValueError("grid needs at least one tile.")
    columns = columns or math.ceil(math.sqrt(len(tiles)))
    rows = math.ceil(len(tiles) / columns)
    cell_h = max(tile.shape[0] for tile in tiles)
    cell_w = max(tile.shape[1] for tile in tiles)
    out = np.full((rows * (cell_h + gap) + gap, columns * (cell_w + gap) + gap, 3), fill, np.uint8)
    for i, tile in enumerate(tiles):
        row, column = divmod(i, columns)
        top = gap + row * (cell_h + gap) + (cell_h - tile.shape[0]) // 2
        left = gap + column * (cell_w + gap) + (cell_w - tile.shape[1]) // 2
        out[top:top + tile.shape[0], left:left + tile.shape[1]] = tile
    return out


def place(patch, box, window, fill):
    """Returns `patch` (the clipped `box` of an image) inside the full `window` it was cut from.

    A receptive field at an image's edge is clipped; placing the clip in its whole window keeps
    every tile of a layer the same size, with the activation's centre at the tile's centre.

    Args:
      patch: `(h, w, ...)`, the pixels of `box`.
      box: `(top, left, bottom, right)` clipped to the image.
      window: the unclipped `(top, left, bottom, right)`, containing `box`.
      fill: the value of the window's part outside the image.
    """
    canvas = np.full((window[2] - window[0], window[3] - window[1], *patch.shape[2:]), fill,
                     patch.dtype)
    top, left = box[0] - window[0], box[1] - window[1]
    canvas[top:top + patch.shape[0], left:left + patch.shape[1]] = patch
    return canvas


def upscale(tile, min_side):
    """Enlarges a tile by the smallest whole factor (nearest neighbour) making it `min_side`."""
    factor = max(1, math.ceil(min_side / max(1, min(tile.shape[:2]))))
    return tile.repeat(factor, axis=0).repeat(factor, axis=1) if factor > 1 else tile
