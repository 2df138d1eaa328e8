"""The peer check: Quantus (0.6, its core beside TensorFlow 2.16+ and Keras 3) computes the same
numbers from the same maps. Its MPRT, driven through our randomisation (Quantus's own shuffles
each layer's weights along their first axis only, a different randomisation), gives our
cascading Spearman of the absolute maps; its pixel flipping (filling with 0: its "black" is each
image's minimum) gives our deletion curve."""
import keras
import numpy as np
import pytest

quantus = pytest.importorskip("quantus")  # in the `test` extra: always there in CI

import deconv  # noqa: E402
from deconv.analysis import sanity  # noqa: E402
from deconv.analysis import sanity_blocks  # noqa: E402
from deconv.analysis import sanity_methods  # noqa: E402
from tests.conftest import photos  # noqa: E402

SIDE = 24


def _channels_last(inputs):
    inputs = np.asarray(inputs, np.float32)
    return inputs.transpose(0, 2, 3, 1) if inputs.shape[1] == 3 else inputs


class _OurExplanations:
    """Quantus's `explain_func`: our maps of the model Quantus hands over (the original, or the
    clone our randomiser changes in place), `(N, 1, H, W)`."""

    def __init__(self, nets, layer, method):
        self.explainers = {id(net.model): sanity_methods.Explainer(net, layer, None)
                           for net in nets}
        self.layer, self.method = layer, method

    def __call__(self, model, inputs, targets, **kwargs):
        targets = np.asarray(targets, np.int32)
        target = sanity_methods.Target(self.layer, True, targets,
                                       np.zeros((len(targets), 2), np.int32), targets)
        maps = self.explainers[id(model)].maps(self.method, _channels_last(inputs), target)
        return maps[:, None]


def _rescaled_cnn():
    """RGB in [0, 255] -> class probabilities: Rescaling, conv, pool, conv, GAP, softmax."""
    keras.utils.set_random_seed(5)
    return keras.Sequential([
        keras.Input((SIDE, SIDE, 3)), keras.layers.Rescaling(1 / 255),
        keras.layers.Conv2D(8, 3, activation="relu"), keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(6, 3, activation="relu"), keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(3, activation="softmax", name="predictions")])


def test_quantus_mprt_equals_our_cascading_spearman(monkeypatch):
    model = _rescaled_cnn()
    net = deconv.Deconvnet(model, preprocessing="none")
    pixels = photos((SIDE, SIDE), ("astronaut", "chelsea", "coffee")).astype(np.float32)
    settings = sanity.SanitySettings(methods=("guided", "gradient"), independent=False,
                                     steps=4, dependence_units=0, seed=3)
    ours = sanity.sanity_check(net, "predictions", pixels, feature=1, settings=settings)
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    clone_net = deconv.Deconvnet(clone, preprocessing="none")
    blocks, _ = sanity_blocks.model_blocks(clone_net, "predictions")

    def our_randomisation(self, order="top_down", seed=42):
        with sanity_blocks.Randomiser(clone_net, blocks, settings.seed) as randomiser:
            for index in range(len(blocks) - 1, -1, -1):
                randomiser.randomise(index)
                yield blocks[index].name, clone

    monkeypatch.setattr(quantus.TensorFlowModel, "get_random_layer_generator",
                        our_randomisation)
    labels = np.ones(len(pixels), np.int64)
    for method in settings.methods:
        explain = _OurExplanations([net, clone_net], "predictions", method)
        scores = quantus.MPRT(disable_warnings=True, layer_order="top_down")(
            model=model, x_batch=pixels, y_batch=labels, a_batch=ours.maps[method][:, None],
            explain_func=explain, channel_first=False)
        np.testing.assert_allclose(scores["original"], 1.0, rtol=1e-9)
        assert list(scores)[1:] == ours.cascading.steps
        for number, step in enumerate(ours.cascading.steps):
            np.testing.assert_allclose(
                scores[step], ours.cascading.similarity[method]["spearman_abs"][number],
                rtol=1e-6, atol=1e-9, err_msg=f"{method} at {step}")
    assert ours.cascading.similarity["gradient"]["spearman_abs"][-1].mean() < 0.9


def test_quantus_pixel_flipping_equals_our_deletion_curve():
    model = _rescaled_cnn()
    net = deconv.Deconvnet(model, preprocessing="none")
    pixels = np.random.default_rng(4).uniform(0, 255, (3, SIDE, SIDE, 3)).astype(np.float32)
    steps = 12  # 48 pixels a step: Quantus's step (144 values of 3 channels) must divide 576
    settings = sanity.SanitySettings(methods=("gradient",), cascading=False, independent=False,
                                     steps=steps, fill="black", dependence_units=0)
    ours = sanity.sanity_check(net, "predictions", pixels, settings=settings)
    saliency = np.abs(ours.maps["gradient"])[:, None]
    curves = quantus.PixelFlipping(features_in_step=3 * SIDE * SIDE // steps, abs=False,
                                   normalise=False, perturb_baseline=0.0,
                                   disable_warnings=True)(
        model=model, x_batch=pixels, y_batch=ours.target.features.astype(np.int64),
        a_batch=saliency, channel_first=False, softmax=True)
    np.testing.assert_allclose(np.array(curves), ours.curves.scores["deletion"]["gradient"][:, 1:],
                               rtol=1e-4, atol=1e-6)
