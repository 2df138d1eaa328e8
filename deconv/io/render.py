"""Turning reconstructions and images into pictures: normalisation, crops, grids. Pure NumPy.

Reconstructions are signed and unnormalised; `to_uint8` documents the two ways shown here.
"""
import math

import numpy as np

NORMALISATIONS = ("symmetric", "minmax")


def to_uint8(reconstruction, method="symmetric", percentile=100):
    """Returns a displayable uint8 image from a reconstruction, each image normalised on its own.

    Args:
      reconstruction: `(H, W, 3)` or `(N, H, W, 3)` float.
      method: `"symmetric"` maps 0 to mid-gray 128 and the largest absolute value to 1 or 255
        (`128 + 127 * r / max|r|`): the sign and the zero level stay readable, as in the paper's
        gray-background figures. `"minmax"` stretches `[min, max]` to `[0, 255]` (the TF1
        project's choice): more contrast, but zero moves.
      percentile: below 100, the scale is that percentile of `|r|` (symmetric) or of the
        values from both ends (minmax) instead of the extremes, and values beyond it are
        clipped: a few extreme pixels no longer flatten the rest.

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
    whole = percentile >= 100
    if method == "symmetric":
        peak = (np.abs(batch).max(axis=axes, keepdims=True) if whole else
                np.percentile(np.abs(batch), percentile, axis=axes, keepdims=True))
        scaled = 128 + 127 * np.clip(
            np.divide(batch, peak, out=np.zeros_like(batch), where=peak > 0), -1, 1)
    else:
        low = (batch.min(axis=axes, keepdims=True) if whole else
               np.percentile(batch, 100 - percentile, axis=axes, keepdims=True))
        span = (batch.max(axis=axes, keepdims=True) if whole else
                np.percentile(batch, percentile, axis=axes, keepdims=True)) - low
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


# Viridis, sampled at 9 evenly spaced points: perceptually uniform, readable in gray print.
_VIRIDIS = np.array([[68, 1, 84], [71, 44, 122], [59, 81, 139], [44, 113, 142],
                     [33, 144, 141], [39, 173, 129], [92, 200, 99], [170, 220, 50],
                     [253, 231, 37]], np.float64)


def colormap(values, low=None, high=None):
    """Maps values to RGB uint8 with viridis, `low` (default: the minimum) to dark purple and
    `high` (default: the maximum) to yellow."""
    values = np.asarray(values, np.float64)
    low = values.min() if low is None else low
    high = values.max() if high is None else high
    scaled = np.clip((values - low) / (high - low), 0, 1) if high > low else np.zeros_like(values)
    position = scaled * (len(_VIRIDIS) - 1)
    below = np.floor(position).astype(int).clip(0, len(_VIRIDIS) - 2)
    weight = (position - below)[..., None]
    colours = _VIRIDIS[below] * (1 - weight) + _VIRIDIS[below + 1] * weight
    return np.round(colours).astype(np.uint8)


def overlay(image, heat, alpha=0.55, low=None, high=None):
    """Blends a heat map `(H, W)` (coloured with `colormap`) over an RGB uint8 image."""
    colours = colormap(heat, low, high).astype(np.float64)
    blended = (1 - alpha) * np.asarray(image, np.float64) + alpha * colours
    return np.clip(np.round(blended), 0, 255).astype(np.uint8)


def with_colour_bar(picture, low, high, label, bar_width=18, margin=6):
    """Returns `picture` with a vertical colour bar on its right, its ends and middle labelled
    with values, and `label` above the picture."""
    from PIL import Image, ImageDraw, ImageFont
    font = ImageFont.load_default()
    height, width = picture.shape[:2]
    text_width = 64
    title = 14
    canvas = Image.new("RGB", (width + margin * 2 + bar_width + text_width, height + title),
                       "white")
    canvas.paste(Image.fromarray(picture), (0, title))
    bar = colormap(np.linspace(high, low, height)[:, None].repeat(bar_width, axis=1), low, high)
    canvas.paste(Image.fromarray(bar), (width + margin, title))
    draw = ImageDraw.Draw(canvas)
    draw.text((2, 1), label, fill="black", font=font)
    for fraction, value in ((0.0, high), (0.5, (low + high) / 2), (1.0, low)):
        y = title + int(fraction * (height - 10))
        draw.text((width + margin + bar_width + 4, y), f"{value:.3g}", fill="black", font=font)
    return np.asarray(canvas)


def label(picture, text):
    """Returns `picture` with a line of text above it."""
    from PIL import Image, ImageDraw, ImageFont
    height, width = picture.shape[:2]
    canvas = Image.new("RGB", (width, height + 14), "white")
    canvas.paste(Image.fromarray(picture), (0, 14))
    ImageDraw.Draw(canvas).text((2, 1), text, fill="black", font=ImageFont.load_default())
    return np.asarray(canvas)


# Ten distinct colours for categorical maps (cycled beyond ten).
_CATEGORIES = np.array([[31, 119, 180], [255, 127, 14], [44, 160, 44], [214, 39, 40],
                        [148, 103, 189], [140, 86, 75], [227, 119, 194], [127, 127, 127],
                        [188, 189, 34], [23, 190, 207]], np.uint8)


def top_class_map(image, classes, name, alpha=0.55):
    """Colours each pixel by its class id `classes` `(H, W)` over the image, with a legend of
    the classes (most frequent first) named by `name(class id)`."""
    from PIL import Image, ImageDraw, ImageFont
    ids, counts = np.unique(classes, return_counts=True)
    order = ids[np.argsort(-counts, kind="stable")]
    colour_of = {int(c): _CATEGORIES[i % len(_CATEGORIES)] for i, c in enumerate(order)}
    colours = np.zeros((*classes.shape, 3), np.float64)
    for c, colour in colour_of.items():
        colours[classes == c] = colour
    blended = np.clip((1 - alpha) * image + alpha * colours, 0, 255).astype(np.uint8)
    font = ImageFont.load_default()
    shown = order[:12]
    height, width = blended.shape[:2]
    canvas = Image.new("RGB", (width + 190, max(height, 14 * len(shown) + 20) + 14), "white")
    canvas.paste(Image.fromarray(blended), (0, 14))
    draw = ImageDraw.Draw(canvas)
    draw.text((2, 1), "most probable class", fill="black", font=font)
    for i, c in enumerate(shown):
        y = 16 + 14 * i
        draw.rectangle([width + 6, y, width + 16, y + 10], fill=tuple(int(v) for v in
                                                                      colour_of[int(c)]))
        draw.text((width + 20, y), str(name(int(c)))[:26], fill="black", font=font)
    if len(order) > len(shown):
        draw.text((width + 20, 16 + 14 * len(shown)), f"... {len(order) - len(shown)} more",
                  fill="black", font=font)
    return np.asarray(canvas)
