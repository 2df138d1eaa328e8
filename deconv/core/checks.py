"""Checks of what callers pass: one-line errors naming the culprit and what is valid."""
from absl import logging
import numpy as np

from deconv.core import geometry
from deconv.core import names
from deconv.errors import DeconvError


def integer(name, value, low=1):
    """Returns `value` as an int; raises unless it is an integer of at least `low`."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise DeconvError(f"{name} must be an integer of at least {low}; received {value!r}.")
    return int(value)


def batch_size(value, name="batch_size"):
    """Raises unless `value` is an integer of at least 1."""
    integer(name, value)


def image_size(steps, key, size, name="size", input_shape=None):
    """Raises unless images of `size` (a side, or `(height, width)`) reach tensor `key` of the
    steps (every map on the way at least 1x1) and fit the model's fixed `input_shape` (`(N, H,
    W, 3)`, None sizes free), if any. `name` is what the caller calls the size."""
    shape = (size, size) if np.ndim(size) == 0 else tuple(int(v) for v in size)
    given = f"{shape[0]}x{shape[1]}" if np.ndim(size) else str(size)
    fixed = tuple(input_shape[1:3]) if input_shape is not None else (None, None)
    if None not in fixed and shape != fixed:
        raise DeconvError(f"{name} {given}: the model takes images of {fixed[0]}x{fixed[1]} "
                          f"pixels exactly (its classifier fixes the size).")
    if not geometry.graph_fits(steps, key, shape):
        side = geometry.graph_min_side(steps, key)
        raise DeconvError(f"{name} {given}: too small for layer {names.short(key)!r}, which "
                          f"needs images of at least {side}x{side} pixels.")


def images(values, layer, steps, key, input_shape=None):
    """Returns RGB images `(N, H, W, 3)` in [0, 255] as float32, checked for tensor `key` of
    the steps (and the model's fixed `input_shape`, if any)."""
    try:
        values = np.asarray(values)
    except ValueError:
        raise DeconvError("images must be one array (N, H, W, 3); received a ragged "
                          "sequence of differently sized images.") from None
    if values.ndim != 4 or values.shape[-1] != 3 or 0 in values.shape[1:]:
        hint = " (for one image, pass images[None])" if values.ndim == 3 else ""
        raise DeconvError(f"images must be RGB with shape (N, H, W, 3); received shape "
                          f"{values.shape}{hint}.")
    if not (np.issubdtype(values.dtype, np.integer) or np.issubdtype(values.dtype, np.floating)):
        raise DeconvError(f"images must be uint8 or float in [0, 255]; received {values.dtype}.")
    if np.issubdtype(values.dtype, np.floating) and not np.isfinite(values).all():
        count = int(values.size - np.isfinite(values).sum())
        raise DeconvError(f"images must hold pixel values in [0, 255]; received {count} NaN or "
                          f"infinite values.")
    if values.size == 0:  # an empty batch: an empty result
        image_size(steps, key, values.shape[1:3], "Images of", input_shape)
        return values.astype(np.float32, copy=False)
    low, high = float(values.min()), float(values.max())
    if low < 0 or high > 255:
        raise DeconvError(f"images must hold pixel values in [0, 255]; received values in "
                          f"[{low:g}, {high:g}].")
    if np.issubdtype(values.dtype, np.floating) and 0 < high <= 1:
        logging.warning("Images are floats in [0, %g]: deconv expects [0, 255], not [0, 1].", high)
    image_size(steps, key, values.shape[1:3], "Images of", input_shape)
    return values.astype(np.float32, copy=False)


def ids(value, shape, count, wrong, out_of_range):
    """Returns `value` as int32 ids of `shape`, each in [0, count).

    Args:
      value: what the caller was given.
      shape: the shape the ids must have (a 1-D array: `(k,)`); None takes any 1-D array.
      count: the number of valid ids.
      wrong: the message when `value` is not integers of that shape, a function of the array.
      out_of_range: the message for the first id out of range, a function of it.
    """
    found = np.asarray(value)
    if (found.ndim != 1 if shape is None else found.shape != shape) or not np.issubdtype(
            found.dtype, np.integer):
        raise DeconvError(wrong(found))
    bad = found[(found < 0) | (found >= count)]
    if bad.size:
        raise DeconvError(out_of_range(int(bad[0])))
    return found.astype(np.int32)


def features(feature, layer, count):
    """Returns map ids as int32 `(k,)`, each in [0, count)."""
    return ids(np.atleast_1d(np.asarray(feature)), None, count,
               lambda _: f"feature must be an integer map id or a list of them; received "
                         f"{feature!r}.",
               lambda bad: f"Feature {bad} is out of range for layer {layer!r}, which has "
                           f"{count} feature maps (valid ids: 0 to {count - 1}).")


def sources(values, images, count):
    """Returns the image of each of `count` selections as int32 `(count,)`, each a row of the
    `images` images."""
    return ids(values, (count,), images,
               lambda found: f"sources must hold one image row per selection, shape ({count},) "
                             f"integers; received shape {found.shape} of {found.dtype}.",
               lambda bad: f"Source {bad} is not a row of the {images} images (valid: 0 to "
                           f"{images - 1}).")


def positions(position, count, layer, image_size, map_size):
    """Returns `(count, 2)` int32 positions inside `map_size`; `(-1, -1)` for a map's maximum."""
    if position is None:
        return np.full((count, 2), -1, np.int32)
    values = np.asarray(position)
    if values.shape == (2,):
        values = np.broadcast_to(values, (count, 2))
    if values.shape != (count, 2) or not np.issubdtype(values.dtype, np.integer):
        raise DeconvError(f"position must be (y, x) or one (y, x) per image, shape ({count}, 2);"
                          f" received {position!r}.")
    height, width = map_size
    strongest = (values[:, 0] == -1) & (values[:, 1] == -1)
    outside = ~strongest & ((values[:, 0] < 0) | (values[:, 0] >= height)
                            | (values[:, 1] < 0) | (values[:, 1] >= width))
    if outside.any():
        y, x = values[np.argmax(outside)]
        raise DeconvError(f"Position ({y}, {x}) is outside layer {layer!r}'s {height}x{width} "
                          f"maps (images of {image_size[0]}x{image_size[1]}).")
    return values.astype(np.int32)
