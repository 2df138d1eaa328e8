"""Activation maximization on small seeded VGG16s: it raises the maps, the schedule helps,
results are reproducible, batches do not mix, and bad input fails in one line."""
import dataclasses

import numpy as np
import pytest
import scipy.ndimage
import tensorflow as tf

import deconv
from deconv.analysis import maximization
from deconv.errors import DeconvError

FEATURES = [0, 3, 7, 12]
SCHEDULE = maximization.Schedule(init_size=32, steps=10, rounds=5, factor=1.2, lr=0.1, blur=0.5,
                                  seed=0)


@pytest.fixture(scope="module")
def maximizer(net16):
    return maximization.ActivationMaximizer(net16, "conv3_3")


@pytest.fixture(scope="module")
def result(maximizer):
    return maximizer.run(FEATURES, SCHEDULE)


def _mean_activation(net, images, layer, features):
    """The mean of each image's own map, after the ReLU, through the plain forward model."""
    activations = net.activations(images, layer)
    return activations[np.arange(len(features)), :, :, features].mean(axis=(1, 2))


def _total_variation(images):
    images = np.asarray(images, np.float64) / 255
    return (np.abs(np.diff(images, axis=1)).mean(axis=(1, 2, 3))
            + np.abs(np.diff(images, axis=2)).mean(axis=(1, 2, 3)))


def test_raises_every_map_far_above_its_random_start(net16, maximizer, result):
    assert result.sizes == [32, 38, 45, 54, 64] and result.images.shape == (4, 64, 64, 3)
    assert result.images.min() >= 0 and result.images.max() <= 255
    start = maximization.random_start(FEATURES, 32, seed=0)
    before = _mean_activation(net16, start, "conv3_3", FEATURES)
    after = _mean_activation(net16, result.images, "conv3_3", FEATURES)
    # Map 12 is off on the start (all its pre-ReLU values negative): only the pre-ReLU
    # objective moves it; the others end well above five times their start.
    assert before[3] == 0 and np.all(after[:3] > 5 * before[:3] + 1.0), (before, after)
    assert np.all(result.values > result.start_values + 1.0), (result.start_values,
                                                               result.values)
    # The reported values are the objective of the images returned.
    np.testing.assert_allclose(maximizer.objective(result.images, FEATURES), result.values,
                               rtol=1e-3, atol=1e-3)


def test_upscaling_finds_patterns_that_one_round_at_the_final_size_does_not(maximizer, result):
    """Same total steps (50) at the final size, from the same kind of start. The raw objective
    of one long round is higher (it also exploits pixel-level noise); the growing schedule's
    patterns are coarser and survive a 1-pixel blur, where they beat it for every map."""
    single = maximizer.run(FEATURES, maximization.Schedule(init_size=64, steps=50, rounds=1,
                                                               lr=0.1, seed=0))
    assert single.sizes == [64]

    def blurred(images):
        return maximizer.objective(maximization.gaussian_blur(tf.constant(images), 1.0).numpy(),
                                   FEATURES)

    assert np.all(blurred(result.images) > blurred(single.images)), (
        blurred(result.images), blurred(single.images))
    assert np.all(_total_variation(result.images) < 0.8 * _total_variation(single.images))


def test_upscaling_beats_the_same_steps_without_upscaling(maximizer, result):
    """The same schedule with factor 1 (50 steps, all at 32 px, no enlarging): its images,
    shown at the final size, raise their maps far less than the growing schedule's."""
    flat = maximizer.run(FEATURES, dataclasses.replace(SCHEDULE, factor=1.0))
    assert flat.sizes == [32] * 5
    shown = maximization.enlarge(tf.constant(flat.images / 255.0), 64, 0.0).numpy() * 255.0
    assert np.all(result.values > maximizer.objective(shown, FEATURES)), (
        result.values, maximizer.objective(shown, FEATURES))


def test_same_seed_same_images_and_batches_do_not_mix(maximizer, result):
    again = maximizer.run(FEATURES, SCHEDULE)
    np.testing.assert_array_equal(again.images, result.images)
    alone = maximizer.run([7], SCHEDULE)
    np.testing.assert_allclose(alone.images[0], result.images[2], atol=2.0)
    other = maximizer.run(FEATURES, dataclasses.replace(SCHEDULE, seed=1))
    assert np.abs(other.images - result.images).mean() > 5


def test_pre_relu_objective_against_the_conv_by_hand(custom_cnn):
    net = deconv.Deconvnet(custom_cnn)
    images = np.random.default_rng(3).uniform(0, 255, (2, 40, 36, 3)).astype(np.float32)
    below = net.activations(images, "p1")  # what c2 reads
    kernel, bias = (w.numpy() for w in custom_cnn.get_layer("c2").weights)
    by_hand = tf.nn.conv2d(below, kernel, 1, "VALID").numpy() + bias
    features = [4, 1]
    expected = by_hand[np.arange(2), :, :, features].mean(axis=(1, 2))
    fused = maximization.ActivationMaximizer(net, "c2")
    assert fused.pre_relu
    np.testing.assert_allclose(fused.objective(images, features), expected, rtol=1e-4,
                               atol=1e-4)
    # c1 has no fused ReLU (a ReLU layer follows it): its own output is raised.
    linear = maximization.ActivationMaximizer(net, "c1")
    assert not linear.pre_relu
    np.testing.assert_allclose(linear.objective(images, [2, 5]), _mean_activation(
        net, images, "c1", [2, 5]), rtol=1e-5, atol=1e-5)


def test_pre_relu_objective_of_a_first_layer_keeps_negative_values():
    from tests.helpers import colour_model
    net = deconv.Deconvnet(colour_model.colour_model())
    images = np.random.default_rng(4).uniform(0, 255, (3, 6, 5, 3)).astype(np.float32)
    r, g, b = np.moveaxis(images / 255, -1, 0)
    expected = [(r - g - b)[0].mean(), (b - r - g)[1].mean(), 0.05]
    found = maximization.ActivationMaximizer(net, "colours").objective(images, [0, 1, 3])
    np.testing.assert_allclose(found, expected, rtol=1e-5, atol=1e-6)
    assert found[0] < 0  # before the ReLU


def test_schedule_and_blur():
    assert maximization.round_sizes(56, 12, 1.2) == [56, 67, 80, 96, 115, 138, 165, 198, 237,
                                                     284, 340, 408]
    assert maximization.round_sizes(4, 3, 1.2) == [4, 5, 6]
    assert maximization.round_sizes(20, 3, 1.0) == [20, 20, 20]
    images = np.random.default_rng(0).uniform(0, 1, (2, 11, 9, 3)).astype(np.float32)
    for sigma in (0.5, 1.0):
        oracle = scipy.ndimage.gaussian_filter(images, (0, sigma, sigma, 0), mode="mirror",
                                               truncate=3.0)
        np.testing.assert_allclose(maximization.gaussian_blur(tf.constant(images), sigma),
                                   oracle, atol=1e-6)
    np.testing.assert_array_equal(maximization.gaussian_blur(images, 0), images)


def test_blur_reach_is_clamped_to_small_images(net16):
    """A reflected border must be smaller than the image: the Gaussian's reach (3 sigma) is cut
    to the side minus one per axis, and a 1-pixel side is left alone."""
    images = np.random.default_rng(1).uniform(0, 1, (2, 5, 3, 3)).astype(np.float32)
    oracle = scipy.ndimage.gaussian_filter1d(images, 5.0, axis=1, mode="mirror", radius=4)
    oracle = scipy.ndimage.gaussian_filter1d(oracle, 5.0, axis=2, mode="mirror", radius=2)
    np.testing.assert_allclose(maximization.gaussian_blur(tf.constant(images), 5.0), oracle,
                               atol=1e-6)
    line = images[:, :1]
    oracle = scipy.ndimage.gaussian_filter1d(line, 0.5, axis=2, mode="mirror", radius=2)
    np.testing.assert_allclose(maximization.gaussian_blur(tf.constant(line), 0.5), oracle,
                               atol=1e-6)
    # Schedules whose blur reaches past the image ran into TensorFlow's MirrorPad before.
    maximizer = maximization.ActivationMaximizer(net16, "conv1_1")
    for init_size, blur in ((4, 5.0), (1, 0.5)):
        found = maximizer.run([0], maximization.Schedule(init_size=init_size, steps=1, rounds=2,
                                                             blur=blur))
        assert found.sizes == [init_size, init_size + 1]
        assert np.all(np.isfinite(found.images)) and np.all(np.isfinite(found.values))


@pytest.mark.parametrize("kwargs, message", [
    (dict(features=[256]), (r"feature 256 is out of range for layer 'conv3_3', which has 256 "
                            r"feature maps \(valid ids: 0 to 255\)")),
    (dict(features=["7a"]), r"feature '7a' is not a map id"),
    (dict(features=[]), r"feature names no feature map"),
    (dict(features=[1], init_size=2), (r"init_size 2: too small for layer 'conv3_3', which "
                                       r"needs images of at least 4x4 pixels")),
    (dict(features=[1], factor=0.9), r"factor must be a number from 1 to 4; received 0.9"),
    (dict(features=[1], rounds=60), r"ends at \d+ pixels; at most 2048"),
    (dict(features=[1], steps=0), r"steps must be an integer from 1 to 10000; received 0"),
    (dict(features=[1], seed=-1), r"seed must be an integer from 0 to 4294967295; received -1"),
    # Numbers that are not finite are refused like any other out of range.
    (dict(features=[1], lr=float("inf")), r"lr must be a number from 0 to 10; received inf"),
    (dict(features=[1], blur=float("nan")), r"blur must be a number from 0 to 10; received nan"),
    (dict(features=[1], lr=0.0), r"lr must be a number above 0 \(at most 10\); received 0.0"),
])
def test_bad_arguments_name_the_culprit(maximizer, kwargs, message):
    features = kwargs.pop("features")
    with pytest.raises(DeconvError, match=message):
        maximizer.run(features, maximization.Schedule(**kwargs))


