"""The sanity checks' numbers against independent implementations: SciPy's Spearman and Gaussian
filter, scikit-image on its own, and hand-made deletion paths."""
import numpy as np
import pytest
from scipy import ndimage
from scipy import stats

from deconv.analysis import sanity_metrics


def test_spearman_equals_scipy_with_ties():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 5, (3, 6, 7)).astype(np.float32)  # many ties
    b = a + rng.normal(0, 2, a.shape)
    b[1] = rng.integers(0, 3, (6, 7))
    ours = sanity_metrics.spearman(a, b)
    expected = [stats.spearmanr(x.ravel(), y.ravel()).statistic for x, y in zip(a, b)]
    np.testing.assert_allclose(ours, expected, rtol=1e-12)


def test_ranks_average_ties_as_scipy():
    values = np.array([[3.0, 1.0, 3.0, 2.0, 3.0, -1.0]])
    np.testing.assert_array_equal(sanity_metrics.ranks(values)[0], stats.rankdata(values[0]))


def test_constant_maps_correlate_zero_and_scale_does_not_matter():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(2, 8, 8))
    assert sanity_metrics.spearman(a, np.zeros_like(a)).tolist() == [0.0, 0.0]
    assert sanity_metrics.pearson(np.ones((1, 5)), np.arange(5.0)[None]).tolist() == [0.0]
    for metric, values in sanity_metrics.similarities(a, 3.0 * a).items():
        np.testing.assert_allclose(values, 1.0, atol=1e-9, err_msg=metric)
    np.testing.assert_allclose(sanity_metrics.spearman(a, -a), -1.0)
    np.testing.assert_allclose(sanity_metrics.spearman(np.abs(a), np.abs(-a)), 1.0)


def test_ssim_and_hog_of_scaled_absolute_maps():
    from skimage.feature import hog
    from skimage.metrics import structural_similarity
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(2, 2, 32, 32))
    scale_a, scale_b = np.abs(a) / np.abs(a).max(axis=(1, 2), keepdims=True), np.abs(b) / np.abs(
        b).max(axis=(1, 2), keepdims=True)
    expected = [structural_similarity(x, y, data_range=1.0, win_size=7)
                for x, y in zip(scale_a, scale_b)]
    np.testing.assert_allclose(sanity_metrics.ssim(a, b), expected, rtol=1e-12)
    features = [[hog(x, orientations=9, pixels_per_cell=(4, 4), cells_per_block=(2, 2))
                 for x in scaled] for scaled in (scale_a, scale_b)]
    expected = [np.corrcoef(x, y)[0, 1] for x, y in zip(*features)]
    np.testing.assert_allclose(sanity_metrics.hog_correlation(a, b), expected, rtol=1e-9)


def test_pixel_order_path_and_area():
    saliency = np.array([[0.1, -5.0], [2.0, 2.0]])
    order = sanity_metrics.pixel_order(saliency)
    assert order.tolist() == [1, 2, 3, 0]  # |-5| first; the tie in row-major order
    start, end = np.zeros((2, 2, 3)), np.arange(12, dtype=np.float32).reshape(2, 2, 3) + 1
    frames = sanity_metrics.path_images(start, end, order, steps=2)
    np.testing.assert_array_equal(frames[0], start)
    np.testing.assert_array_equal(frames[2], end)
    moved = (frames[1] != 0).all(axis=-1)
    assert moved.tolist() == [[False, True], [True, False]]  # ceil(1 * 4 / 2) = 2 pixels
    assert sanity_metrics.area([[1.0, 0.0]]) == pytest.approx(0.5)
    assert sanity_metrics.area(np.full((2, 11), 0.3)).tolist() == pytest.approx([0.3, 0.3])
    assert sanity_metrics.area([0.0, 1.0, 1.0]) == pytest.approx(0.75)


def test_orders_inside_a_box_move_only_its_pixels():
    saliency = np.arange(30.0).reshape(5, 6)
    box = (1, 2, 3, 5)  # rows 1-2, columns 2-4
    order = sanity_metrics.pixel_order(saliency, box)
    assert order.tolist() == [16, 15, 14, 10, 9, 8]  # the box's pixels, largest first
    start, end = np.zeros((5, 6, 3)), np.ones((5, 6, 3))
    frames = sanity_metrics.path_images(start, end, order, steps=3)
    assert frames[-1].sum() == 6 * 3 and frames[-1][1:3, 2:5].all()
    assert frames[1][..., 0].ravel()[[16, 15]].all() and frames[1].sum() == 2 * 3


def test_insertion_blur_is_rises_gaussian():
    image = np.random.default_rng(3).uniform(0, 255, (20, 17, 3)).astype(np.float32)
    expected = ndimage.gaussian_filter(image.astype(np.float64), sigma=(5, 5, 0), truncate=1.0,
                                       mode="nearest")
    np.testing.assert_allclose(sanity_metrics.gaussian_blur(image), expected, rtol=1e-5)
