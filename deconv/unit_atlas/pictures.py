"""The atlas's pictures: each entry's projection and patch as square tiles, a unit's strip of
tiles, the thumbnail sheets of a layer, and the source images, written as JPEG."""
import io
import math

import numpy as np
from PIL import Image

from deconv.io import outputs
from deconv.io import tiles

JPEG_QUALITY = 90  # with full-resolution colour (4:4:4): projections are fine-grained colour
GRAY = tiles.GRAY  # the tile outside the image, and a unit without entries
square = tiles.resize  # a tile at `side` x `side` pixels


def entry_tiles(reconstruction, image, crop, cell, normalize, side):
    """Returns `(projection tile, patch tile)`, both `(side, side, 3)` uint8, of `crop` (a
    `deconv.io.tiles.Crop`), the projection normalised for display, the activation's `cell`
    outlined on the patch where the crop does not centre it."""
    return tiles.draw(reconstruction, image, crop, normalize, lambda tile: square(tile, side),
                      cell)


def strip(projections, patches):
    """A unit's strip: its projections (rank 1 first) in the top row over their patches."""
    return np.concatenate([np.concatenate(projections, axis=1),
                           np.concatenate(patches, axis=1)], axis=0)


def thumbnail(projection, patch, thumb):
    """A unit's cell in a sheet: its top projection beside its top patch, `thumb` high."""
    return np.concatenate([square(projection, thumb), square(patch, thumb)], axis=1)


def sheets(cells, per_sheet, columns, thumb):
    """Lays out cells (`(thumb, 2 * thumb, 3)` uint8, or None for a unit without entries) in
    sheets of `per_sheet`, `columns` per row; returns the sheets."""
    out = []
    for start in range(0, len(cells), per_sheet):
        part = cells[start:start + per_sheet]
        rows = math.ceil(len(part) / columns)
        sheet = np.full((rows * thumb, min(columns, len(part)) * 2 * thumb, 3), GRAY, np.uint8)
        for number, cell in enumerate(part):
            if cell is not None:
                row, column = divmod(number, columns)
                sheet[row * thumb:(row + 1) * thumb,
                      column * 2 * thumb:(column + 1) * 2 * thumb] = cell
        out.append(sheet)
    return out


def jpeg_bytes(pixels):
    """A uint8 `(H, W, 3)` array encoded as JPEG (the same pixels give the same bytes)."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=JPEG_QUALITY, subsampling=0)
    return buffer.getvalue()


def write_jpeg(path, pixels):
    """Writes a uint8 `(H, W, 3)` array as JPEG, atomically."""
    outputs.write_bytes(path, jpeg_bytes(pixels))
