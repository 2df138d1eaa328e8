"""The range of every number a user gives deconv: flags, configuration keys and the library's
arguments share one table, so a value is refused alike wherever it is given, before any work.

The upper bounds keep a run inside what one machine can do: an image side beyond 4096 pixels,
a batch of more than 16.8 M pixels (4.3 GB for one VGG activation of 64 maps), or a picture
of more than 134 M pixels (400 MB) would fail late, after minutes of work, or crash the process.
"""
import math

import numpy as np

from deconv.errors import DeconvError

MAX_SIDE = 4096  # pixels of a square image side
MAX_BATCH_PIXELS = 1 << 24  # pixels forwarded at once: e.g. 16 images of 1024 x 1024
MAX_PICTURE_PIXELS = 1 << 27  # pixels of one picture written (a grid)
MAX_SEED = 2 ** 32 - 1

# name: (lowest, highest), both allowed.
RANGES = {
    "size": (1, MAX_SIDE),
    "image_size": (1, MAX_SIDE),
    "batch_size": (1, 4096),
    "top": (1, 1000),
    "per_image": (1, 1000),
    "min_tile": (1, 1024),
    "checkpoint_every": (1, 1_000_000),
    "seed": (0, MAX_SEED),
}


def describe(low, high, integer=True):
    """`an integer from 1 to 4096` / `a number from 0 to 1`."""
    if integer:
        return f"an integer from {int(low)} to {int(high)}"
    return f"a number from {low:g} to {high:g}"


def problem(value, low, high, integer=True):
    """What is wrong with `value` for the range `[low, high]`, or None."""
    if integer:
        good = (isinstance(value, (int, np.integer)) and not isinstance(value, bool)
                and low <= value <= high)
    else:
        good = (isinstance(value, (int, float, np.integer, np.floating))
                and not isinstance(value, bool) and math.isfinite(value)
                and low <= value <= high)
    return None if good else f"must be {describe(low, high, integer)}; received {value!r}."


def check(name, value, label=None, bounds=None, integer=True):
    """Returns `value` (as an int for integers); raises DeconvError if it is outside `bounds`
    (default: `RANGES[name]`). `label` is how the message names it (default: `name`)."""
    low, high = bounds or RANGES[name]
    found = problem(value, low, high, integer)
    if found:
        raise DeconvError(f"{label or name} {found}")
    return int(value) if integer else float(value)


def check_batch_pixels(batch, height, width=None, label="--batch_size"):
    """Raises DeconvError if `batch` images of `height` x `width` exceed `MAX_BATCH_PIXELS`."""
    width = height if width is None else width
    pixels = batch * height * width
    if pixels > MAX_BATCH_PIXELS:
        most = max(1, MAX_BATCH_PIXELS // (height * width))
        raise DeconvError(f"{label} {batch} of {height}x{width} images is {pixels / 1e6:.1f} M "
                          f"pixels per batch, more than {MAX_BATCH_PIXELS / 1e6:.1f} M: use "
                          f"{label} {most} or less at this size.")


def check_picture(count, side, what):
    """Raises DeconvError if `count` tiles of `side` x `side` pixels (`what`: which picture and
    how to shrink it) exceed `MAX_PICTURE_PIXELS`."""
    pixels = count * side * side
    if pixels > MAX_PICTURE_PIXELS:
        raise DeconvError(f"{what}: {count} tiles of {side}x{side} pixels make "
                          f"{pixels / 1e6:.0f} M pixels, more than "
                          f"{MAX_PICTURE_PIXELS / 1e6:.0f} M.")
