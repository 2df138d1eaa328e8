"""Feature visualization runs on tiny models: every objective against NumPy, the diversity
term, batches that do not mix, seeds that reproduce, class logits for every parameterisation,
and the quality measures (natural top-1 from pass 1, the judge's verdict) against NumPy."""
import keras
import numpy as np
import pytest
import tensorflow as tf

import deconv
from deconv.analysis import maximization
from deconv.analysis import maximization_objectives as objectives
from deconv.analysis import maximization_quality as quality
from deconv.analysis import maximization_steps as steps
from deconv.errors import DeconvError
from deconv.io import images as image_files

SMALL = dict(size=24, steps=12)


def _classifier(seed=3):
    """A tiny softmax classifier of 5 classes: conv, ReLU, global average, dense softmax."""
    model = keras.Sequential([
        keras.Input((None, None, 3)),
        keras.layers.Conv2D(6, 3, activation="relu", name="conv"),
        keras.layers.GlobalAveragePooling2D(name="pool"),
        keras.layers.Dense(5, activation="softmax", name="predictions")], name="tiny")
    rng = np.random.default_rng(seed)
    for weight in model.weights:
        weight.assign(rng.normal(0, 0.5, weight.shape).astype(np.float32))
    return model


@pytest.fixture(scope="module")
def classifier():
    return deconv.Deconvnet(_classifier(), preprocessing="torch")


@pytest.fixture(scope="module")
def custom(custom_cnn):
    return deconv.Deconvnet(custom_cnn)


def _logits(net, images):
    model = net.model
    pooled = keras.Model(model.inputs, model.get_layer("pool").output)
    kernel, bias = model.get_layer("predictions").get_weights()
    mode = net.preprocessing  # torch: RGB, per-channel mean and scale
    preprocessed = (images - np.array(mode.mean)) * np.array(mode.scale)
    return pooled.predict(preprocessed.astype(np.float32), verbose=0) @ kernel + bias


def test_objectives_against_numpy(custom, classifier):
    images = np.random.default_rng(5).uniform(0, 255, (3, 30, 26, 3)).astype(np.float32)
    maps = custom.activations(images, "c3")
    h, w = maps.shape[1:3]
    centre = maximization.ActivationMaximizer(custom, "c3", objective="centre")
    assert centre.objective_name == "centre activation"
    np.testing.assert_allclose(centre.objective(images, [4, 0, 2]),
                               maps[np.arange(3), h // 2, w // 2, [4, 0, 2]], rtol=1e-5)
    summed = steps.FeatureVisualizer(custom, "c3", objective="sum")
    weights = np.array([[0.5, 0, -2, 0, 1]] * 3, np.float32)
    np.testing.assert_allclose(summed.objective(images, weights),
                               maps.mean(axis=(1, 2)) @ weights[0], rtol=1e-4, atol=1e-5)
    logit = maximization.ActivationMaximizer(classifier, "predictions")
    assert logit.kind == "logit" and logit.objective_name == "class logit"
    np.testing.assert_allclose(logit.objective(images, [1, 4, 4]),
                               _logits(classifier, images)[np.arange(3), [1, 4, 4]],
                               rtol=1e-4, atol=1e-4)


def test_diversity_is_the_mean_pairwise_cosine_of_gram_matrices():
    activations = np.random.default_rng(0).normal(size=(6, 4, 5, 3)).astype(np.float32)
    grams = objectives.gram_matrices(tf.constant(activations)).numpy()
    found = objectives.diversity(tf.constant(grams), 3).numpy()
    flat = activations.reshape(6, -1, 3)
    by_hand = np.einsum("npc,npd->ncd", flat, flat).reshape(6, -1)
    by_hand /= np.linalg.norm(by_hand, axis=1, keepdims=True)
    for group in range(2):
        block = by_hand[3 * group:3 * group + 3]
        pairs = [block[i] @ block[j] for i in range(3) for j in range(3) if i != j]
        np.testing.assert_allclose(found[group], np.mean(pairs), rtol=1e-5)


def _red_or_blue():
    """A unit that answers red and blue alike: `either` = red + blue, where `colours` holds
    red = relu(R - (G + B) / 2 + 0.05) and blue = relu(B - (R + G) / 2 + 0.05), on [0, 1]."""
    inputs = keras.Input((None, None, 3))
    colours = keras.layers.Conv2D(2, 1, activation="relu", name="colours")
    either = keras.layers.Conv2D(1, 1, use_bias=False, name="either")
    model = keras.Model(inputs, either(colours(inputs)))
    kernel = np.zeros((1, 1, 3, 2), np.float32)
    kernel[0, 0, :, 0], kernel[0, 0, :, 1] = [1, -0.5, -0.5], [-0.5, -0.5, 1]
    colours.set_weights([kernel / 255, np.full(2, 0.05, np.float32)])
    either.set_weights([np.ones((1, 1, 2, 1), np.float32)])
    return deconv.Deconvnet(model, preprocessing="none")


@pytest.mark.parametrize("param", ["pixel", "fourier", "maco"])
def test_the_diversity_term_splits_a_red_or_blue_unit_into_red_and_blue(param):
    """Two copies of a unit that red and blue raise alike: without the term both drift to the
    same mixture (their Gram matrices on `colours` alike); with it, one turns red and the other
    blue (Gram matrices orthogonal), the objective kept."""
    net = _red_or_blue()
    schedule = (maximization.Schedule(init_size=16, steps=20, rounds=2) if param == "pixel"
                else steps.Optimization(param, size=16, steps=64))
    runs = {weight: deconv.maximize_maps(net, "either", [0], schedule=schedule, diversity=2,
                                         diversity_weight=weight, diversity_layer="colours")
            for weight in (0.0, objectives.DIVERSITY_WEIGHT)}
    assert runs[0.0].images.shape[0] == 2 and runs[0.0].similarity.shape == (1,)
    assert runs[0.0].similarity[0] > 0.95 and runs[objectives.DIVERSITY_WEIGHT].similarity[0] < 0.2
    red_minus_blue = [(image[..., 0] - image[..., 2]).mean() for image in
                      runs[objectives.DIVERSITY_WEIGHT].images]
    assert min(red_minus_blue) < -10 < 10 < max(red_minus_blue), red_minus_blue
    assert np.all(runs[objectives.DIVERSITY_WEIGHT].values > 0.5 * runs[0.0].values.min())


@pytest.mark.parametrize("param", ["fourier", "maco"])
def test_same_seed_same_images_and_batches_do_not_mix(custom, param):
    schedule = steps.Optimization(param, seed=4, **SMALL)
    both = deconv.maximize_maps(custom, "c2", [0, 5], schedule=schedule)
    again = deconv.maximize_maps(custom, "c2", [0, 5], schedule=schedule)
    np.testing.assert_array_equal(both.images, again.images)
    alone = deconv.maximize_maps(custom, "c2", [5], schedule=schedule)
    np.testing.assert_allclose(alone.images[0], both.images[1], atol=1.0)
    other = deconv.maximize_maps(custom, "c2", [0, 5],
                                 schedule=steps.Optimization(param, seed=5, **SMALL))
    assert np.abs(other.images - both.images).mean() > 2
    assert np.all(both.values > both.start_values)
    assert (both.transparency is not None) == (param == "maco")
    if param == "maco":
        assert both.transparency.shape == (2, 24, 24)
        assert both.transparency.max() == pytest.approx(1.0) and both.transparency.min() >= 0


@pytest.mark.parametrize("param", ["pixel", "fourier", "maco"])
def test_class_logits_are_raised_by_every_parameterisation(classifier, param):
    schedule = (maximization.Schedule(init_size=16, steps=20, rounds=2, lr=0.3)
                if param == "pixel" else steps.Optimization(param, size=24, steps=48))
    found = deconv.maximize_maps(classifier, "predictions", [0, 3], schedule=schedule)
    assert found.kind == "logit" and found.objective == "class logit"
    np.testing.assert_allclose(found.values, _logits(classifier, found.images)[
        np.arange(2), [0, 3]], rtol=1e-3, atol=1e-3)
    # Class 0 hardly moves on this random classifier; class 3 does.
    assert np.all(found.values > found.start_values)
    assert found.values[1] > found.start_values[1] + 0.5


def test_natural_top_is_the_largest_activation_over_the_folder(custom, image_folder):
    paths = image_files.find_images(str(image_folder), image_files.readable_extensions())
    values, read, skipped = quality.natural_top(custom, "c2", paths, quality.reading_for(32))
    assert read == 7 and len(skipped) == 3
    readable = [p for p in paths if p not in {s[0] for s in skipped}]
    pixels = np.stack([image_files.read_image(p, 32)[0] for p in readable]).astype(np.float32)
    np.testing.assert_allclose(values, custom.activations(pixels, "c2").max(axis=(0, 1, 2)),
                               rtol=1e-5)
    units = [int(np.flatnonzero(values > 0)[0]), int(np.flatnonzero(values == 0)[0])]
    found = deconv.maximize_maps(custom, "c2", units,
                                 schedule=steps.Optimization("fourier", **SMALL))
    measured = quality.measure(custom, "c2", found, natural=values)
    saved = found.images.round().clip(0, 255)  # measured as the PNGs hold them
    reached = custom.activations(saved, "c2")[np.arange(2), ..., units].reshape(2, -1)
    for entry, best, unit in zip(measured, reached.max(axis=1), units):
        assert entry["activation"] == pytest.approx(best, rel=1e-5)
        assert entry["natural_top1"] == values[unit]
    assert measured[0]["ratio"] == pytest.approx(reached[0].max() / values[units[0]], rel=1e-5)
    assert measured[1]["ratio"] is None  # a unit no natural image turns on: no ratio


def test_the_judges_verdict_against_numpy(classifier):
    judge = quality.Judge(classifier, 20, "tiny")
    images = np.random.default_rng(8).integers(0, 256, (3, 20, 20, 3)).astype(np.float32)
    logits = _logits(classifier, images)
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    verdicts = judge.verdict(images, [0, 2, 4], names=list("abcde"))
    for verdict, row, wanted in zip(verdicts, expected, [0, 2, 4]):
        assert verdict["rank"] == 1 + int((row > row[wanted]).sum())
        assert verdict["probability"] == pytest.approx(row[wanted], rel=1e-4)
        assert [entry[0] for entry in verdict["top5"]] == list(np.argsort(-row)[:5])
        assert verdict["top5"][0][1] == "abcde"[np.argmax(row)]
    assert quality.hits(verdicts, 5) == 1.0


@pytest.mark.parametrize("kwargs, message", [
    (dict(param="lucid"), r"Unknown param 'lucid'. Valid: pixel, fourier, maco"),
    (dict(param="fourier", objective="max"), r"Unknown objective 'max'. Valid: mean, centre, "
                                             r"sum"),
    (dict(param="maco", diversity=0), r"diversity must be an integer from 1 to 64"),
    (dict(schedule=steps.Optimization("fourier", steps=0)), r"steps must be an integer from 1"),
    (dict(schedule=steps.Optimization("fourier", transforms=deconv.Crops())),
     r"The fourier images take transforms of type Robustness \(or None\)"),
    (dict(schedule=steps.Optimization("maco", size=4)), r"size must be an integer from 8"),
    (dict(param="pixel", schedule=steps.Optimization("maco")),
     r"param 'pixel' disagrees with the schedule's \('maco'\)"),
    (dict(param="fourier", objective="sum", coefficients=[1.0]),
     r"A weighted sum needs one coefficient per unit: 2 units, 1 coefficients"),
    (dict(param="fourier", coefficients=[1.0, 2.0]), r"Coefficients are for a weighted sum"),
])
def test_bad_arguments_name_the_culprit(custom, kwargs, message):
    with pytest.raises(DeconvError, match=message):
        deconv.maximize_maps(custom, "c3", [0, 1], **kwargs)


def test_each_copy_has_its_own_start_and_the_first_is_a_single_images():
    targets = objectives.Targets((4, 7), "mean", 10, copies=3)
    assert targets.keys(targets.groups) == [[4], [4, 1], [4, 2], [7], [7, 1], [7, 2]]
    np.testing.assert_array_equal(targets.selection(targets.groups), [4, 4, 4, 7, 7, 7])
    summed = objectives.Targets((4, 7), "sum", 10, coefficients=(0.5, -1.0))
    assert summed.groups == [(4, 7)] and summed.keys(summed.groups) == [[1 << 30, 4, 7]]
    np.testing.assert_array_equal(summed.selection(summed.groups),
                                  [[0, 0, 0, 0, 0.5, 0, 0, -1, 0, 0]])
