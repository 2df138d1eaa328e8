"""What a projection returns (`Projection`), and how `Deconvnet`'s methods batch their calls."""
import dataclasses

import numpy as np


@dataclasses.dataclass
class Projection:
    """Projections with what was projected.

    Attributes:
      reconstructions: `(N, H, W, 3)` float32, RGB, aligned with the input pixels, unnormalised.
      values: `(N,)` the projected activation's value (mode "maps": the largest kept one).
      positions: `(N, 2)` its `(y, x)` in the layer's maps.
      features: `(N,)` its feature map (mode "maps": -1).
    """
    reconstructions: np.ndarray
    values: np.ndarray
    positions: np.ndarray
    features: np.ndarray


def shape_text(shape):
    """A layer's output shape as text, the batch as N: `(N, 7, 7, 512)`."""
    return "(" + ", ".join("N" if size is None else str(size) for size in shape) + ")"


def in_batches(count, batch_size, run):
    """Returns `[run(i, j)]` over consecutive slices `[i, j)` of `count` items, `batch_size` a
    call (each call one compiled graph run)."""
    return [run(i, min(i + batch_size, count)) for i in range(0, count, batch_size)]


def empty(images):
    """The `Projection` of an empty batch of images of `images.shape[1:3]`."""
    return Projection(np.zeros((0, *images.shape[1:]), np.float32), np.zeros(0, np.float32),
                      np.zeros((0, 2), np.int32), np.zeros(0, np.int32))


def joined(parts, features):
    """One `Projection` from the `(reconstructions, values, positions)` of several calls."""
    return Projection(*(np.concatenate([part[i].numpy() for part in parts]) for i in range(3)),
                      features)
