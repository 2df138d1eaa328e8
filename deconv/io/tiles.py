"""What a projection's tile shows: the one place that decides the crop of every tile (the
runner's grids, the atlas's strips and sheets, evolution, the explorer).

A tile shows a box of the image and of the projection, both square (images are square) and
resampled to one size per grid or strip. The crop rules:

* `theoretical`: the activation's whole receptive field (its window), the part outside the
  image mid-gray: the activation sits at the tile's centre, and every tile of a layer has the
  layer's scale. Useless once fields outgrow the image (deep layers of ResNet, EfficientNet,
  Inception, ...): a thumbnail of the photo floating in gray.
* `image`: the receptive field clipped to the image, grown to the smallest square inside the
  image that holds it: no gray padding.
* `effective`: the smallest box that holds `share` (95 %) of the projection's energy (sum of
  squares), the effective receptive field of Luo et al. (NeurIPS 2016) measured on this
  projection itself, grown to a square inside the image.
* `auto` (the default): `theoretical` for a layer whose field fits inside the image (so VGG16's
  tiles at 224 px are as before), else `effective`.

With `image` and `effective` the activation's position is not the tile's centre: its cell of
the layer's map is outlined on the patch.
"""
import dataclasses
import math

import numpy as np
from PIL import Image, ImageDraw

from deconv.io import render

CROPS = ("auto", "theoretical", "image", "effective")
HELP = ("What a tile shows: theoretical (the whole receptive field, gray outside the image), "
        "image (the field clipped to the image), effective (the smallest box holding 95% of the "
        "projection's energy); auto: theoretical where the field fits in the image, else "
        "effective.")
EFFECTIVE_SHARE = 0.95
_CELLS = 32  # the energy grid's cells per side: the effective box is exact at that resolution
GRAY = 128
CLIP_PERCENTILE = 99.5  # the display scale of `image` and `effective` tiles
MARK = (255, 221, 0)  # the activation's cell on a patch: yellow, with a dark edge


@dataclasses.dataclass(frozen=True)
class Crop:
    """Where a tile comes from.

    Attributes:
      kind: the kind of crop applied (`theoretical`, `image` or `effective`; `auto` resolved).
      box: `(top, left, bottom, right)` the tile shows, in the image's pixels (`theoretical`:
        the unclipped window, which may reach outside the image).
      effective: the effective box (the smallest box holding `share` of the projection's
        energy), or None for a projection that is zero everywhere.
    """
    kind: str
    box: tuple
    effective: tuple


def check(kind):
    """Returns `kind` if it is a crop kind, else raises ValueError naming the valid ones."""
    if kind not in CROPS:
        raise ValueError(f"Unknown crop {kind!r}; valid: {', '.join(CROPS)}.")
    return kind


def _box_sums(grid):
    """Every box of cells of `grid` `(h, w)`: `(tops, bottoms, lefts, rights, sums)`, the sums
    `(pairs of rows, pairs of columns)`."""
    table = np.zeros((grid.shape[0] + 1, grid.shape[1] + 1))
    table[1:, 1:] = grid.cumsum(axis=0).cumsum(axis=1)
    tops, bottoms = np.triu_indices(grid.shape[0] + 1, 1)
    lefts, rights = np.triu_indices(grid.shape[1] + 1, 1)
    sums = (table[bottoms[:, None], rights[None, :]] - table[tops[:, None], rights[None, :]]
            - table[bottoms[:, None], lefts[None, :]] + table[tops[:, None], lefts[None, :]])
    return tops, bottoms, lefts, rights, sums


def effective_box(reconstruction, share=EFFECTIVE_SHARE):
    """The smallest box (by area in pixels) holding `share` of a projection's energy.

    The energy (the sum of squares over the channels) is summed in square cells of
    `ceil(side / 32)` pixels, and every box of whole cells is tried: the box is exact for
    images up to 32 pixels a side, and made of 7-pixel cells at 224. Among boxes of equal area,
    the one holding the most energy.

    Args:
      reconstruction: `(H, W, 3)` (or `(H, W)`) float.
      share: in (0, 1].

    Returns:
      `(top, left, bottom, right)` in pixels, half-open, inside the image; None if the
      projection is zero everywhere.
    """
    energy = np.asarray(reconstruction, np.float64) ** 2
    energy = energy.sum(axis=-1) if energy.ndim == 3 else energy
    height, width = energy.shape
    cell = math.ceil(max(height, width) / _CELLS)
    rows, columns = math.ceil(height / cell), math.ceil(width / cell)
    padded = np.zeros((rows * cell, columns * cell))
    padded[:height, :width] = energy
    grid = padded.reshape(rows, cell, columns, cell).sum(axis=(1, 3))
    total = grid.sum()
    if not total > 0:
        return None
    tops, bottoms, lefts, rights, sums = _box_sums(grid)
    heights = np.minimum(bottoms * cell, height) - tops * cell
    widths = np.minimum(rights * cell, width) - lefts * cell
    area = heights[:, None] * widths[None, :]
    enough = sums >= share * total * (1 - 1e-12)
    area = np.where(enough, area, np.iinfo(np.int64).max)
    candidates = np.flatnonzero(area == area.min())
    row, column = np.unravel_index(candidates[np.argmax(sums.flat[candidates])], sums.shape)
    return (int(tops[row] * cell), int(lefts[column] * cell),
            int(min(bottoms[row] * cell, height)), int(min(rights[column] * cell, width)))


def square_inside(box, image_size):
    """The smallest square inside the image holding `box` (centred on it, moved in from the
    edges); a box taller or wider than the image gives the largest square."""
    top, left, bottom, right = box
    side = min(max(bottom - top, right - left), *image_size)
    corner = []
    for start, end, length in ((top, bottom, image_size[0]), (left, right, image_size[1])):
        begin = (start + end - side) // 2
        corner.append(int(min(max(begin, 0), length - side)))
    return corner[0], corner[1], corner[0] + side, corner[1] + side


def choose(kind, window, box, reconstruction, image_size, share=EFFECTIVE_SHARE):
    """Returns the `Crop` of one projection.

    Args:
      kind: one of `CROPS`.
      window: the activation's unclipped receptive field; `box`: the same clipped to the image.
      reconstruction: the projection, `(H, W, 3)`.
      image_size: `(H, W)`.
    """
    effective = effective_box(reconstruction, share)
    if check(kind) == "auto":
        fits = window[2] - window[0] <= image_size[0] and window[3] - window[1] <= image_size[1]
        kind = "theoretical" if fits else "effective"
    if kind == "theoretical":
        return Crop(kind, tuple(window), effective)
    shown = effective if kind == "effective" and effective is not None else box
    return Crop(kind, square_inside(shown, image_size), effective)


def cut(picture, crop_box, fill):
    """The pixels of `crop_box` in `picture` `(H, W, ...)`, `fill` where the box leaves it."""
    top, left, bottom, right = crop_box
    height, width = picture.shape[:2]
    canvas = np.full((bottom - top, right - left, *picture.shape[2:]), fill, picture.dtype)
    inner = (max(top, 0), max(left, 0), min(bottom, height), min(right, width))
    canvas[inner[0] - top:inner[2] - top, inner[1] - left:inner[3] - left] = \
        picture[inner[0]:inner[2], inner[1]:inner[3]]
    return canvas


def resize(tile, side):
    """A uint8 tile resized to `side` x `side`: nearest neighbour when enlarging (the pixels of a
    small field stay visible), Lanczos when shrinking."""
    if tile.shape[:2] == (side, side):
        return tile
    enlarging = max(tile.shape[:2]) < side
    method = Image.Resampling.NEAREST if enlarging else Image.Resampling.LANCZOS
    return np.asarray(Image.fromarray(tile).resize((side, side), method))


def cell_of(window, stride):
    """The activation's cell in the image: `stride` (the layer's pixels per map cell) pixels
    around the centre of its receptive field `window`."""
    centre_y, centre_x = (window[0] + window[2]) / 2, (window[1] + window[3]) / 2
    half = stride / 2
    return centre_y - half, centre_x - half, centre_y + half, centre_x + half


def mark(patch, crop, cell):
    """Outlines `cell` (image pixels) on a patch tile drawn from `crop` (any size), when the
    crop is not centred on it (`image` and `effective`) and is larger than the cell."""
    top, left, bottom, right = crop.box
    if crop.kind == "theoretical" or bottom - top <= cell[2] - cell[0]:
        return patch
    scale = patch.shape[0] / (bottom - top)
    centre_y = ((cell[0] + cell[2]) / 2 - top) * scale
    centre_x = ((cell[1] + cell[3]) / 2 - left) * scale
    half = max((cell[2] - cell[0]) * scale / 2, 2.5)  # at least 5 pixels: visible
    y0, x0, y1, x1 = centre_y - half, centre_x - half, centre_y + half - 1, centre_x + half - 1
    picture = Image.fromarray(patch)
    draw = ImageDraw.Draw(picture)
    draw.rectangle([x0 - 1, y0 - 1, x1 + 1, y1 + 1], outline=(0, 0, 0))
    draw.rectangle([x0, y0, x1, y1], outline=MARK)
    return np.asarray(picture)


def draw(reconstruction, image, crop, normalize, sized, cell):
    """Returns `(projection tile, patch tile)`, uint8, of one projection and its image: `crop`'s
    box of each (mid-gray outside the image), the projection normalised after cropping
    (`deconv.io.render.to_uint8`; for `image` and `effective` crops, scaled at the 99.5th
    percentile of its values, the rest clipped, so that a few extreme pixels do not leave a flat tile), both
    passed through `sized` (a resizing), the activation's `cell` outlined on the patch where
    the crop does not centre it (see `mark`)."""
    percentile = 100 if crop.kind == "theoretical" else CLIP_PERCENTILE
    feat = render.to_uint8(cut(np.asarray(reconstruction), crop.box, 0.0), normalize, percentile)
    patch = cut(np.asarray(image), crop.box, GRAY)
    return sized(feat), mark(sized(patch), crop, cell)


def stride_of(image_size, map_size):
    """A layer's pixels per cell of its maps (the image's side over the map's)."""
    return image_size[0] / map_size[0]
