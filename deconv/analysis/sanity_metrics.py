"""The numbers of a sanity check, on saliency maps `(N, H, W)` (one per image, signed): how alike
two maps are, and the pixel orders, paths and areas of deletion and insertion curves.

Similarity (Adebayo et al. 2018, section 3): Spearman's rank correlation of the absolute maps
and of the signed maps; SSIM and the correlation of histogram-of-gradients features, both of the
absolute maps scaled to [0, 1] (scikit-image's `structural_similarity` and `hog`). A constant
map ranks nothing: its correlation with any map is 0.

Deletion and insertion (Petsiuk et al., "RISE", BMVC 2018): pixels move from a start image to an
end image in a map's order, most important first, a share at each step; the area under the
score's curve is taken over the share moved, from 0 to 1.
"""
import numpy as np

from deconv.errors import DeconvError

METRICS = ("spearman_abs", "spearman", "ssim", "hog")


def require_scikit_image():
    """Raises DeconvError unless scikit-image (SSIM and HOG) is installed."""
    try:
        import skimage.feature  # noqa: F401
        import skimage.metrics  # noqa: F401
    except ImportError:
        raise DeconvError("The sanity checks' SSIM and HOG need scikit-image, an optional "
                          "extra: pip install scikit-image (or pip install -e "
                          "\".[sanity]\").") from None


def ranks(values):
    """Ranks of each row of `values` `(N, M)`, 1 to M, ties given their average rank."""
    values = np.asarray(values, np.float64)
    order = np.argsort(values, axis=1, kind="stable")
    ranked = np.empty_like(values)
    for row, (line, sort) in enumerate(zip(values, order)):
        sorted_values = line[sort]
        starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
        ends = np.r_[starts[1:], len(line)]
        average = (starts + ends + 1) / 2.0  # ranks starts+1 .. ends, averaged
        ranked[row, sort] = np.repeat(average, ends - starts)
    return ranked


def pearson(a, b):
    """Pearson's correlation of each row pair of `a` and `b` `(N, M)`; 0 where a row is
    constant."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    norms = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    products = (a * b).sum(axis=1)
    return np.where(norms > 0, products / np.where(norms > 0, norms, 1.0), 0.0)


def spearman(a, b):
    """Spearman's rank correlation of each map of `a` with the same image's map of `b`."""
    count = len(a)
    return pearson(ranks(np.reshape(a, (count, -1))), ranks(np.reshape(b, (count, -1))))


def scaled(maps):
    """Absolute maps scaled to [0, 1] by each one's maximum (an all-zero map stays zero)."""
    maps = np.abs(np.asarray(maps, np.float64))
    peak = maps.reshape(len(maps), -1).max(axis=1)
    return maps / np.where(peak > 0, peak, 1.0)[:, None, None]


def ssim(a, b):
    """SSIM of each pair of absolute maps scaled to [0, 1] (scikit-image, 7x7 windows, or the
    largest odd window that fits); NaN for maps under 3x3 pixels."""
    from skimage.metrics import structural_similarity
    window = min(7, *(side - (side + 1) % 2 for side in np.shape(a)[1:]))
    if window < 3:
        return np.full(len(a), np.nan)
    return np.array([structural_similarity(x, y, data_range=1.0, win_size=window)
                     for x, y in zip(scaled(a), scaled(b))])


SMALLEST_HOG = 8  # pixels of a map's smaller side: 2x2 cells of 2x2 pixels at least


def hog_features(maps):
    """Histogram-of-gradients features of absolute maps scaled to [0, 1]: 9 orientations, cells
    of an eighth of the smaller side (at least 2 pixels), blocks of 2x2 cells; None for maps
    under `SMALLEST_HOG` pixels a side."""
    from skimage.feature import hog
    if min(np.shape(maps)[1:]) < SMALLEST_HOG:
        return None
    cell = max(2, min(np.shape(maps)[1:]) // 8)
    return np.stack([hog(one, orientations=9, pixels_per_cell=(cell, cell),
                         cells_per_block=(2, 2), feature_vector=True) for one in scaled(maps)])


def hog_correlation(a, b, a_features=None):
    """Pearson's correlation of the HOG features of each pair of maps (`a_features`: those of
    `a`, if already computed); NaN for maps too small (`hog_features`)."""
    a_features = hog_features(a) if a_features is None else a_features
    if a_features is None:
        return np.full(len(a), np.nan)
    return pearson(a_features, hog_features(b))


def cropped(maps, boxes):
    """Each map of `maps` `(N, H, W)` cut to its box `(top, left, bottom, right)`: a list."""
    return [one[top:bottom, left:right] for one, (top, left, bottom, right) in zip(maps, boxes)]


def similarities(original, changed, original_hog=None):
    """`{metric: (N,)}`: each of `METRICS` between `original` and `changed` maps `(N, H, W)`
    (`original_hog`: `hog_features(original)`, if already computed)."""
    return {"spearman_abs": spearman(np.abs(original), np.abs(changed)),
            "spearman": spearman(original, changed),
            "ssim": ssim(original, changed),
            "hog": hog_correlation(original, changed, original_hog)}


# Deletion and insertion.

def region(image_size, box=None):
    """The flat indices of the pixels of `box` `(top, left, bottom, right)` (None: all) in an
    image of `image_size`, row-major."""
    top, left, bottom, right = box or (0, 0, *image_size)
    rows, columns = np.mgrid[top:bottom, left:right]
    return (rows * image_size[1] + columns).ravel()


def pixel_order(saliency, box=None):
    """The pixels of one map `(H, W)` inside `box` (None: all), flat indices, most important
    (largest absolute value) first; ties in row-major order."""
    inside = region(np.shape(saliency), box)
    values = np.abs(np.asarray(saliency, np.float64)).ravel()[inside]
    return inside[np.argsort(-values, kind="stable")]


def path_images(start, end, order, steps):
    """The `steps + 1` images from `start` to `end` `(H, W, 3)`: at step k, the first
    `ceil(k * len(order) / steps)` pixels of `order` taken from `end`, the rest from `start`."""
    height, width = start.shape[:2]
    counts = np.ceil(np.arange(steps + 1) * len(order) / steps).astype(int)
    frames = np.repeat(np.asarray(start, np.float32)[None], steps + 1, axis=0)
    frames = frames.reshape(steps + 1, height * width, -1)
    source = np.asarray(end, np.float32).reshape(height * width, -1)
    for frame, count in zip(frames, counts):
        frame[order[:count]] = source[order[:count]]
    return frames.reshape(steps + 1, height, width, -1)


def area(curve):
    """The area under curves `(..., steps + 1)` over a share moved from 0 to 1 (trapezoids)."""
    curve = np.asarray(curve, np.float64)
    steps = curve.shape[-1] - 1
    return (curve[..., :-1] + curve[..., 1:]).sum(axis=-1) / (2.0 * steps)


def gaussian_blur(image, sigma=5.0, radius=5):
    """`image` `(H, W, 3)` blurred by a normalised Gaussian kernel of `2 * radius + 1` taps per
    axis (RISE's insertion start: 11 taps, sigma 5), edges repeated."""
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps /= taps.sum()
    blurred = np.asarray(image, np.float64)
    for axis in (0, 1):
        padding = [(0, 0)] * blurred.ndim
        padding[axis] = (radius, radius)
        padded = np.pad(blurred, padding, mode="edge")
        length = blurred.shape[axis]
        blurred = sum(weight * np.take(padded, np.arange(shift, shift + length), axis=axis)
                      for shift, weight in enumerate(taps))
    return blurred.astype(np.float32)
