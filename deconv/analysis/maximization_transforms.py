"""The random transformations that make a feature visualization robust: what the network sees
at each step is the image moved a little, so that patterns which only work at one exact pixel
alignment (high-frequency noise) stop paying off.

Two sets: Lucid's robustness set for the Fourier images (`Robustness`: pad, jitter, scale,
rotate, jitter), and MACO's random crops of shrinking size with noise (`Crops`). Both are drawn
up front from a generator seeded by the run's seed, one draw per step shared by every image of
the batch, so the same seed gives the same transformations and an image's do not depend on
which others run beside it. Each is applied as one bilinear resampling per image (`sample`),
whose gradient is the exact adjoint of the resampling (gathers), so the images are optimised
through it.

References: Olah, Mordvintsev & Schubert, "Feature Visualization", Distill (2017), the
transformation robustness section; Fel et al., "Unlocking Feature Visualization for Deeper
Networks with MAgnitude Constrained Optimization", NeurIPS 2023 (arXiv 2306.06805).
"""
import dataclasses
import math

import numpy as np
import tensorflow as tf

from deconv.errors import DeconvError

# A marker mixed into the seed of the transformations, apart from the random starts'.
_STREAM = 7919


@dataclasses.dataclass(frozen=True)
class Robustness:
    """Lucid's robustness set, in order: pad by `pad` pixels of gray (`fill`), jitter by up to
    `jitter` pixels (a whole-pixel shift drawn in [-jitter / 2, jitter / 2] on each axis), scale
    by a factor drawn in `scales`, rotate by an angle drawn in [-`rotate`, `rotate`] degrees,
    jitter by up to `jitter2` pixels. The network sees the padded side, `side(size)`."""
    pad: int = 12
    jitter: int = 8
    scales: tuple = (0.9, 1.1)
    rotate: float = 10.0
    jitter2: int = 4
    fill: float = 0.5

    def side(self, size):
        """The side of what the network sees for images of `size`."""
        return size + 2 * self.pad

    def check(self):
        """Raises DeconvError for a setting out of range."""
        _check_int("pad", self.pad, 0, 512)
        _check_int("jitter", self.jitter, 0, 512)
        _check_int("jitter2", self.jitter2, 0, 512)
        _check_number("rotate", self.rotate, 0, 180)
        low, high = _pair("scales", self.scales)
        _check_number("scales", low, 0.1, 10)
        _check_number("scales", high, low, 10)

    def draw(self, seed, steps, size):
        """The `(steps, 2, 3)` float32 matrices taking a pixel `(y, x, 1)` of what the network
        sees to the point `(y, x)` of the image of `size` that it shows (see `sample`)."""
        rng = np.random.default_rng([seed, _STREAM])
        side = self.side(size)
        centre = (side - 1) / 2.0
        first = rng.integers(-(self.jitter // 2), self.jitter // 2 + 1, (steps, 2))
        scale = rng.uniform(*self.scales, steps)
        angle = np.radians(rng.uniform(-self.rotate, self.rotate, steps))
        second = rng.integers(-(self.jitter2 // 2), self.jitter2 // 2 + 1, (steps, 2))
        matrices = np.zeros((steps, 2, 3))
        for step in range(steps):
            cos, sin = math.cos(angle[step]), math.sin(angle[step])
            # Undo, from the last: the second jitter, the rotation and the scaling about the
            # centre, the first jitter, the padding.
            linear = np.array([[cos, sin], [-sin, cos]]) / scale[step]
            offset = (centre - linear @ (centre + second[step]) - first[step] - self.pad)
            matrices[step] = np.concatenate([linear, offset[:, None]], axis=1)
        return matrices.astype(np.float32)


@dataclasses.dataclass(frozen=True)
class Crops:
    """MACO's crops: `count` square crops per image and step, each resized to the side the
    network sees; a crop's side is drawn around a mean that shrinks linearly from `box[0]` to
    `box[1]` of the image's side (spread 0.05, at least 0.05 and at most 1), its centre around
    the image's centre (spread 0.15 of the side); then Gaussian noise of `noise` (pixels in
    [0, 1]) and uniform noise of as much is added to what the network sees."""
    count: int = 4
    box: tuple = (0.9, 0.4)
    noise: float = 0.04

    def check(self):
        """Raises DeconvError for a setting out of range."""
        _check_int("crops", self.count, 1, 256)
        for value in _pair("box", self.box):
            _check_number("box", value, 0.05, 1)
        _check_number("noise", self.noise, 0, 1)

    def draw(self, seed, steps, size, side):
        """The `(steps, count, 2, 3)` float32 matrices of the crops (see `sample`): a pixel of
        a `side` x `side` crop to its point in the `size` x `size` image."""
        rng = np.random.default_rng([seed, _STREAM, 1])
        means = np.linspace(self.box[0], self.box[1], steps)[:, None]
        boxes = np.clip(rng.normal(means, 0.05, (steps, self.count)), 0.05, 1.0)
        centres = 0.5 + rng.normal(0, 0.15, (steps, self.count, 2))
        matrices = np.zeros((steps, self.count, 2, 3))
        step = boxes * size / side  # image pixels per crop pixel
        matrices[..., 0, 0] = matrices[..., 1, 1] = step
        corner = centres * size - (boxes * size / 2)[..., None]
        matrices[..., :, 2] = corner + (step / 2)[..., None] - 0.5
        return matrices.astype(np.float32)


def sample(images, matrices, side, sources=None, fill=0.5):
    """Resamples images bilinearly: output `m`'s pixel `(y, x)` is image `sources[m]` at the
    point `matrices[m] @ (y, x, 1)` (pixel centres at whole numbers), with `fill` outside the
    image (interpolated towards it within a pixel of the edge, like SciPy's `grid-constant`).

    Args:
      images: `(N, H, W, C)`.
      matrices: `(M, 2, 3)` float32.
      side: the outputs' side.
      sources: `(M,)` int32 image of each output; None: output `m` from image `m` (M = N).

    Returns:
      `(M, side, side, C)`; its gradient with respect to `images` is the exact adjoint.
    """
    shape = tf.shape(images)
    height, width, channels = shape[1], shape[2], shape[3]
    if sources is None:
        sources = tf.range(shape[0])
    framed = tf.pad(images, [[0, 0], [1, 1], [1, 1], [0, 0]], constant_values=fill)
    flat = tf.reshape(framed, [-1, channels])
    axis = tf.range(side, dtype=tf.float32)
    ys, xs = tf.meshgrid(axis, axis, indexing="ij")
    grid = tf.stack([tf.reshape(ys, [-1]), tf.reshape(xs, [-1]), tf.ones([side * side])], 0)
    points = tf.matmul(matrices, grid)  # (M, 2, side * side)
    y, x = points[:, 0], points[:, 1]
    y0, x0 = tf.floor(y), tf.floor(x)
    wy, wx = (y - y0)[..., None], (x - x0)[..., None]
    base = (tf.cast(sources, tf.int32) * (height + 2) * (width + 2))[:, None]

    def at(yy, xx):
        # Frame coordinates, clamped to the frame of `fill` around the image.
        yy = tf.clip_by_value(tf.cast(yy, tf.int32) + 1, 0, height + 1)
        xx = tf.clip_by_value(tf.cast(xx, tf.int32) + 1, 0, width + 1)
        return tf.gather(flat, base + yy * (width + 2) + xx)

    top = at(y0, x0) * (1 - wx) + at(y0, x0 + 1) * wx
    bottom = at(y0 + 1, x0) * (1 - wx) + at(y0 + 1, x0 + 1) * wx
    return tf.reshape(top * (1 - wy) + bottom * wy, [-1, side, side, channels])


def _pair(name, value):
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        raise DeconvError(f"{name} must be two numbers, low and high; received {value!r}.") from None
    return low, high


def _check_int(name, value, low, high):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not (
            low <= value <= high):
        raise DeconvError(f"{name} must be an integer from {low} to {high}; received {value!r}.")


def _check_number(name, value, low, high):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or (
            not math.isfinite(value)) or not low <= value <= high:
        raise DeconvError(f"{name} must be a number from {low:g} to {high:g}; received "
                          f"{value!r}.")
