"""The Fourier and MACO feature visualizations against independent oracles: they find a fixed
linear filter's pattern, their images are what NumPy's FFT makes of their variables, their
transformations are SciPy's resampling with the exact adjoint as gradient, seeded; objectives,
the diversity term, batches and seeds."""
import dataclasses

import keras
import numpy as np
import pytest
import scipy.ndimage
import tensorflow as tf

import deconv
from deconv.analysis import maximization_objectives as objectives
from deconv.analysis import maximization_params as params
from deconv.analysis import maximization_steps as steps
from deconv.analysis import maximization_transforms as transforms
from deconv.errors import DeconvError

PERIOD = 16  # the filter: one period of a luminance grating, 16 x 16


def _filter_model():
    """Pixels in [0, 255] -> one fixed linear filter (no bias; then a ReLU): a vertical
    luminance grating of one period, zero-mean and of unit norm on pixels in [0, 1]."""
    x = np.arange(PERIOD)
    wave = np.cos(2 * np.pi * x / PERIOD)[None, :, None] * np.ones((PERIOD, 1, 3))
    kernel = (wave / np.linalg.norm(wave)).astype(np.float32)
    inputs = keras.Input((None, None, 3))
    conv = keras.layers.Conv2D(1, PERIOD, use_bias=False, name="filter")
    model = keras.Model(inputs, keras.layers.ReLU(name="relu")(conv(inputs)))
    conv.set_weights([kernel[..., None] / 255.0])
    return model, kernel


def _correlation(patch, kernel):
    patch, kernel = patch - patch.mean(), kernel - kernel.mean()
    return float((patch * kernel).sum() / (np.linalg.norm(patch) * np.linalg.norm(kernel)))


@pytest.fixture(scope="module")
def filter_net():
    model, kernel = _filter_model()
    return deconv.Deconvnet(model, preprocessing="none"), kernel


@pytest.mark.parametrize("param", ["fourier", "maco"])
def test_the_centre_neuron_of_a_linear_filter_draws_the_filter(filter_net, param):
    """The centre neuron of a linear filter is the dot product of its receptive field with the
    filter: with pixels bounded, its maximum is the filter's own pattern there (its sign, at
    full contrast). MACO keeps a natural magnitude, so only the phases can line up with the
    filter's; both must draw the filter where the neuron looks (no transformations: they would
    move it)."""
    net, kernel = filter_net
    found = deconv.maximize_maps(net, "filter", [0], objective="centre",
                                 schedule=steps.Optimization(param, size=48, steps=64,
                                                             transforms=None))
    top = (48 - PERIOD + 1) // 2  # the centre of the 33 x 33 map: its receptive field
    patch = found.images[0, top:top + PERIOD, top:top + PERIOD] / 255.0
    assert _correlation(patch, kernel) > 0.85, param
    noise = np.random.default_rng(0).uniform(0, 1, kernel.shape)
    assert abs(_correlation(noise, kernel)) < 0.3
    assert found.values[0] > 5 * abs(found.start_values[0]) + 1.0, (found.start_values,
                                                                    found.values)


def test_the_mean_over_a_rectified_filter_tiles_it(filter_net):
    """Raising the mean of the rectified filter everywhere, the Fourier image tiles the
    grating: its correlation with the filter tiled over the image (best alignment) grows far
    above noise's."""
    net, kernel = filter_net
    found = deconv.maximize_maps(net, "relu", [0], pre_relu=False,
                                 schedule=steps.Optimization("fourier", size=48, steps=128,
                                                             transforms=None))
    tiled = np.tile(kernel, (5, 5, 1))

    def best(image):
        return max(_correlation(image, tiled[dy:dy + 48, dx:dx + 48])
                   for dy in range(PERIOD) for dx in range(PERIOD))

    noise = np.random.default_rng(1).uniform(0, 1, (48, 48, 3))
    assert best(noise) < 0.1 and best(found.images[0] / 255.0) > 0.3


def test_fourier_images_are_numpys_inverse_fft():
    """One coefficient of one decorrelated channel: NumPy's orthonormal inverse FFT of the
    scaled spectrum, divided by 4, through the colour matrix and a sigmoid."""
    size, decay = 12, 1.0
    maker = params.Fourier(size, decay)
    variables = np.zeros((1, 2, 3, size, size // 2 + 1), np.float32)
    variables[0, 0, 1, 2, 3] = 0.7   # real part, channel 1, frequency (2, 3)
    variables[0, 1, 0, 0, 1] = -0.4  # imaginary part, channel 0, frequency (0, 1)
    found = maker.images(tf.constant(variables)).numpy()[0]
    scale = 1 / np.maximum(np.sqrt(np.fft.fftfreq(size)[:, None] ** 2
                                   + np.fft.rfftfreq(size)[None] ** 2), 1 / size) ** decay
    spectrum = (variables[0, 0] + 1j * variables[0, 1]) * scale
    channels = np.fft.irfft2(spectrum, s=(size, size), norm="ortho") / 4.0
    colour = params.natural_statistics()[0]
    expected = 1 / (1 + np.exp(-np.einsum("rc,chw->hwr", colour, channels)))
    np.testing.assert_allclose(found, expected, atol=1e-5)


def test_maco_keeps_the_natural_magnitude_and_moves_only_the_phase():
    size = 32
    maker = params.Maco(size)
    phase = maker.start([[0], [1]], seed=5)
    images = maker.images(tf.constant(phase)).numpy().astype(np.float64)
    colour = params.natural_statistics()[0]
    logits = np.log(images / (1 - images))  # undo the sigmoid, then the colour matrix
    channels = np.einsum("cr,nhwr->nchw", np.linalg.inv(colour), logits)
    # The columns of zero and highest horizontal frequency hold Hermitian pairs that the
    # inverse FFT merges; every other coefficient keeps its magnitude, up to one scale.
    magnitude = np.abs(np.fft.rfft2(channels))[..., 1:-1]
    expected = params.magnitude_for(size)[..., 1:-1]
    for found in magnitude:
        ratio = found / expected
        np.testing.assert_allclose(ratio, np.median(ratio), rtol=5e-3)
    assert np.abs(images[0] - images[1]).mean() > 0.05  # other phases, another image


def test_the_shipped_magnitude_resampled_at_shared_frequencies():
    _, shipped, size = params.natural_statistics()
    np.testing.assert_array_equal(params.magnitude_for(size), shipped)
    # Half the side: its frequencies are every other one of the shipped grid's, and a DFT's
    # magnitude scales with the side.
    half = params.magnitude_for(size // 2)
    np.testing.assert_allclose(half, shipped[:, ::2, ::2] * 0.5, rtol=1e-3)


@pytest.fixture(scope="module")
def sampled():
    rng = np.random.default_rng(1)
    return rng.uniform(0, 1, (2, 9, 11, 2)).astype(np.float32)


def _scipy_sample(image, matrix, side, fill):
    return np.stack([scipy.ndimage.affine_transform(
        image[..., c], matrix[:, :2], matrix[:, 2], output_shape=(side, side), order=1,
        mode="grid-constant", cval=fill) for c in range(image.shape[-1])], axis=-1)


def test_transforms_resample_as_scipy_does(sampled):
    robust = transforms.Robustness(pad=3, jitter=4, scales=(0.8, 1.2), rotate=30, jitter2=2)
    matrices = robust.draw(seed=3, steps=2, size=9)
    side = robust.side(9)
    found = transforms.sample(tf.constant(sampled), tf.constant(matrices), side).numpy()
    for index in range(2):
        np.testing.assert_allclose(found[index], _scipy_sample(sampled[index], matrices[index],
                                                               side, 0.5), atol=1e-5)
    crops = transforms.Crops(3, (0.7, 0.3)).draw(seed=4, steps=1, size=9, side=6)[0]
    found = transforms.sample(tf.constant(sampled), tf.constant(crops), 6,
                              sources=tf.constant([1, 0, 1])).numpy()
    for index, source in enumerate([1, 0, 1]):
        np.testing.assert_allclose(found[index], _scipy_sample(sampled[source], crops[index], 6,
                                                               0.5), atol=1e-5)


def test_transforms_gradient_is_the_exact_adjoint(sampled):
    """The resampling is linear in the image: its gradient must be the transpose of SciPy's
    resampling written as a matrix (column by column, from unit images)."""
    image = sampled[:1, :, :, :1]
    matrix = transforms.Robustness(pad=2, rotate=20).draw(seed=9, steps=1, size=9)[0]
    matrix[:, 1] *= 11 / 9  # a non-square image, stretched
    side = 10
    columns = [_scipy_sample(unit.reshape(9, 11, 1), matrix, side, 0.0).ravel()
               for unit in np.eye(99)]
    operator = np.stack(columns, axis=1)  # (side * side, 99)
    weights = np.random.default_rng(2).normal(size=(1, side, side, 1)).astype(np.float32)
    variable = tf.constant(image)
    with tf.GradientTape() as tape:
        tape.watch(variable)
        out = transforms.sample(variable, tf.constant(matrix[None]), side, fill=0.0)
        total = tf.reduce_sum(out * weights)
    gradient = tape.gradient(total, variable).numpy().ravel()
    np.testing.assert_allclose(gradient, operator.T @ weights.ravel(), atol=1e-5)


def test_transforms_are_seeded():
    robust = transforms.Robustness()
    first = robust.draw(seed=1, steps=20, size=64)
    np.testing.assert_array_equal(first, robust.draw(seed=1, steps=20, size=64))
    assert np.abs(first - robust.draw(seed=2, steps=20, size=64)).max() > 0.5
    crops = transforms.Crops()
    np.testing.assert_array_equal(crops.draw(5, 8, 64, 32), crops.draw(5, 8, 64, 32))
    assert np.abs(crops.draw(5, 8, 64, 32) - crops.draw(6, 8, 64, 32)).max() > 0.1
    # The crops shrink: their mean side falls from box[0] (0.9) to box[1] (0.4) of the image.
    sides = crops.draw(0, 50, 100, 10)[..., 0, 0] * 10 / 100
    assert sides[:5].mean() > 0.8 and sides[-5:].mean() < 0.5
