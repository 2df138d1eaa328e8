"""How a feature visualization's image is parameterised, beside plain pixels: in a
decorrelated Fourier basis (Lucid's), or by the phase of a spectrum whose magnitude is fixed to
that of natural images (MACO). Each turns variables into RGB images in [0, 1] through
differentiable TensorFlow operations.

Both share the colour decorrelation: the optimised channels are decorrelated ones, mapped to
RGB by the square root of the colour covariance of natural photos, then through a sigmoid into
[0, 1]. The matrix and MACO's magnitude spectrum ship in `data/natural_spectrum.npz`, made by
`examples/maximization/natural_spectrum.py` from six photos that ship with scikit-image.

References: Olah, Mordvintsev & Schubert, "Feature Visualization", Distill (2017), the
preconditioning section; Fel et al., "Unlocking Feature Visualization for Deeper Networks with
MAgnitude Constrained Optimization", NeurIPS 2023 (arXiv 2306.06805).
"""
import functools
import os

import numpy as np
import tensorflow as tf

DATA = os.path.join(os.path.dirname(__file__), "data", "natural_spectrum.npz")
# The standard deviation of the Fourier coefficients' random start (Lucid's).
FOURIER_START = 0.01
# Lucid's division of the Fourier image before the sigmoid: keeps the start near gray.
FOURIER_DIVISOR = 4.0


@functools.lru_cache(maxsize=None)
def natural_statistics():
    """`(colour matrix (3, 3), magnitude (3, S, S // 2 + 1), S)` from the shipped file: the
    matrix takes decorrelated channels to RGB (rows: R, G, B), its columns scaled so the
    largest has norm 1; the magnitude is the mean |rfft2| of natural photos' S x S crops in
    decorrelated channels, less the photos' mean pixel."""
    with np.load(DATA) as data:
        return (data["colour"].astype(np.float32), data["magnitude"].astype(np.float32),
                int(data["size"]))


def frequencies(size):
    """`(size, size // 2 + 1)` the frequency, in cycles per pixel, of each rfft2 coefficient."""
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.rfftfreq(size)[None, :]
    return np.sqrt(fx * fx + fy * fy)


def to_rgb(channels):
    """Decorrelated channels `(N, H, W, 3)` -> RGB in [0, 1]: the colour matrix, a sigmoid."""
    colour = natural_statistics()[0]
    return tf.sigmoid(tf.matmul(channels, tf.constant(colour.T)))


class Fourier:
    """Lucid's decorrelated Fourier images of side `size`: per image and decorrelated channel,
    the real and imaginary parts of its rfft2 coefficients, each scaled by `1 / f ** decay` (the
    lowest frequencies capped at `1 / size`), so that a step moves every frequency band alike
    (a natural image's spectrum falls as about 1/f); inverse FFT (orthonormal), divided by 4,
    colours recorrelated, sigmoid."""

    def __init__(self, size, decay=1.0):
        self.size, self.decay = size, decay
        scale = 1.0 / np.maximum(frequencies(size), 1.0 / size) ** decay
        self.scale = tf.constant(scale.astype(np.float32))

    def start(self, keys, seed):
        """The random start `(N, 2, 3, S, S // 2 + 1)` of each image, from a generator seeded
        by `(seed, *key)`."""
        shape = (2, 3, *frequencies(self.size).shape)
        return np.stack([np.random.default_rng([seed, *key]).normal(0, FOURIER_START, shape)
                         for key in keys]).astype(np.float32)

    def images(self, variables):
        """Variables `(N, 2, 3, S, S // 2 + 1)` -> RGB images `(N, S, S, 3)` in [0, 1]."""
        spectrum = tf.complex(variables[:, 0] * self.scale, variables[:, 1] * self.scale)
        # TensorFlow's inverse divides by S * S; times S makes it orthonormal.
        channels = tf.signal.irfft2d(spectrum, fft_length=[self.size, self.size]) * self.size
        return to_rgb(tf.transpose(channels, [0, 2, 3, 1]) / FOURIER_DIVISOR)


def magnitude_for(size):
    """The natural magnitude spectrum `(3, size, size // 2 + 1)` for images of `size`: the
    shipped one, resampled in frequency (bilinear, on its logarithm) when the sizes differ."""
    _, magnitude, shipped = natural_statistics()
    if size == shipped:
        return magnitude
    # Shift the zero frequency of the first axis to the middle, read the shipped grid at the
    # new grid's frequencies (in cycles per pixel), and shift back.
    centred = np.fft.fftshift(np.log(np.maximum(magnitude, 1e-6)), axes=1)
    rows = np.fft.fftshift(np.fft.fftfreq(shipped))
    columns = np.fft.rfftfreq(shipped)
    fy, fx = np.fft.fftfreq(size), np.fft.rfftfreq(size)
    y = np.interp(fy, rows, np.arange(shipped))
    x = np.interp(fx, columns, np.arange(len(columns)))
    y0, x0 = np.floor(y).astype(int), np.floor(x).astype(int)
    y1, x1 = np.minimum(y0 + 1, shipped - 1), np.minimum(x0 + 1, len(columns) - 1)
    wy, wx = (y - y0)[:, None], (x - x0)[None, :]
    grid = ((1 - wy) * ((1 - wx) * centred[:, y0][:, :, x0] + wx * centred[:, y0][:, :, x1])
            + wy * ((1 - wx) * centred[:, y1][:, :, x0] + wx * centred[:, y1][:, :, x1]))
    # A DFT's magnitude grows with the image's side; the images are standardised anyway.
    found = np.exp(grid) * size / shipped
    found[:, 0, 0] = magnitude[:, 0, 0] * size / shipped  # the mean colour, as shipped
    return found.astype(np.float32)


class Maco:
    """MACO's images of side `size`: per image and decorrelated channel, the phase of its
    rfft2 coefficients, their magnitude fixed to natural photos' (`magnitude_for`); the phase
    standardised per image, inverse FFT, the image standardised per image, colours
    recorrelated, sigmoid. Only the phase is optimised: the image keeps a natural image's
    energy in every frequency band."""

    def __init__(self, size):
        self.size = size
        self.magnitude = tf.constant(magnitude_for(size))

    def start(self, keys, seed):
        """The random phase `(N, 3, S, S // 2 + 1)` of each image, seeded by `(seed, *key)`."""
        shape = (3, *frequencies(self.size).shape)
        return np.stack([np.random.default_rng([seed, *key]).normal(0, 1, shape)
                         for key in keys]).astype(np.float32)

    def images(self, phase):
        """Phases `(N, 3, S, S // 2 + 1)` -> RGB images `(N, S, S, 3)` in [0, 1]."""
        mean, variance = tf.nn.moments(phase, axes=[1, 2, 3], keepdims=True)
        phase = (phase - mean) / (tf.sqrt(variance) + 1e-5)
        spectrum = tf.complex(tf.cos(phase) * self.magnitude, tf.sin(phase) * self.magnitude)
        channels = tf.signal.irfft2d(spectrum, fft_length=[self.size, self.size])
        mean, variance = tf.nn.moments(channels, axes=[1, 2, 3], keepdims=True)
        channels = (channels - mean) / (tf.sqrt(variance) + 1e-5)
        return to_rgb(tf.transpose(channels, [0, 2, 3, 1]))
