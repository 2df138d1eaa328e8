"""Known answers of the sanity checks on a tiny CNN trained here on a task whose answer lies in one
quadrant (`quadrant_task`): the gradient forgets the image when every block is randomised, guided
backprop less so; a map that is the image itself never changes; the true saliency's deletion
beats a random order's; the caller's weights come back byte for byte. The maps are checked
against TensorFlow's tape on the Keras model itself, and the measured image dependence against
what the deconvnet rule implies (issue 29)."""
import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

import deconv
from deconv.analysis import measured_dependence
from deconv.analysis import occlusion
from deconv.analysis import sanity
from deconv.analysis import sanity_metrics
from deconv.analysis import sanity_methods
from tests.conftest import photos
from tests.helpers import quadrant_task

IMAGE = sanity_methods.Method("image", lambda explainer, images, target: images)
TRUTH = sanity_methods.Method("truth", lambda explainer, images, target:
                              quadrant_task.truth(len(images)))
SMALL = deconv.Occluder(8, 8)


@pytest.fixture(scope="module")
def trained():
    """`(model, net, outputs on the task images before any check)`."""
    model = quadrant_task.model()
    before = model.predict(quadrant_task.images(8, 1)[0] / 255, verbose=0)
    return model, deconv.Deconvnet(model, preprocessing="unit"), before


@pytest.fixture(scope="module")
def photo_report(trained):
    pixels = photos((32, 32), ("astronaut", "chelsea", "coffee", "rocket")).astype(np.float32)
    settings = sanity.SanitySettings(  # occlusion: in the command's test
        methods=("deconvnet", "guided", "gradient", "gradient_x_input", IMAGE), steps=8,
        dependence_units=2)
    return sanity.sanity_check(trained[1], "predictions", pixels, feature=1, settings=settings)


@pytest.fixture(scope="module")
def task_report(trained):
    pixels, _ = quadrant_task.images(6, 7, classes=[1] * 6)
    settings = sanity.SanitySettings(methods=("gradient", TRUTH), cascading=False,
                                     independent=False, steps=16, dependence_units=0)
    return sanity.sanity_check(trained[1], "predictions", pixels, feature=1, settings=settings)


def test_the_gradient_forgets_the_image_more_than_guided_backprop(photo_report):
    last = {method: photo_report.cascading.similarity[method]["spearman_abs"][-1].mean()
            for method in ("gradient", "guided")}
    assert photo_report.cascading.steps == ["predictions", "fc1", "block2", "block1"]
    assert last["gradient"] < last["guided"] - 0.05, last


def test_the_image_itself_scores_one_under_any_randomisation(photo_report):
    for run in (photo_report.cascading, photo_report.independent):
        for metric, values in run.similarity["image"].items():
            assert values.shape == (4, 4)
            np.testing.assert_allclose(values, 1.0, atol=1e-9, err_msg=metric)
    assert photo_report.cascading.similarity["gradient"]["spearman_abs"].min() < 0.9


def test_deletion_of_the_true_saliency_beats_a_random_order(task_report):
    areas = task_report.curves.areas["deletion"]
    assert areas["truth"].mean() < areas["random"].mean() - 0.2, areas
    assert task_report.curves.score == "probability"
    for kind in ("deletion", "insertion"):
        scores = task_report.curves.scores[kind]
        assert scores["truth"].shape == (6, 17)
        np.testing.assert_array_equal(scores["truth"][:, -1], scores["random"][:, -1])
    np.testing.assert_array_equal(task_report.curves.scores["deletion"]["truth"][:, 0],
                                  task_report.curves.scores["insertion"]["truth"][:, -1])


def test_the_weights_come_back_byte_for_byte(trained, photo_report, task_report):
    model, _, before = trained
    after = model.predict(quadrant_task.images(8, 1)[0] / 255, verbose=0)
    assert before.tobytes() == after.tobytes()


def _logits(model, inputs):
    features = keras.Model(model.inputs[0], model.get_layer("fc1").output)(inputs)
    kernel, bias = model.get_layer("predictions").get_weights()
    return tf.matmul(features, kernel) + bias


def test_gradient_maps_equal_the_tape_on_the_keras_model(trained):
    model, net, _ = trained
    pixels, _ = quadrant_task.images(3, 11)
    target = sanity_methods.choose_target(net, "predictions", pixels)
    inputs = tf.constant(pixels / 255)
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        chosen = tf.gather(_logits(model, inputs), target.features, batch_dims=1)
    expected = tape.gradient(chosen, inputs).numpy()
    assert target.features.tolist() == _logits(model, inputs).numpy().argmax(axis=1).tolist()
    found = sanity_methods.Explainer(net, "predictions", SMALL).gradients(pixels, target)
    np.testing.assert_allclose(found["gradient"], expected.sum(-1) / 255, rtol=1e-4, atol=1e-9)
    np.testing.assert_allclose(found["gradient_x_input"], (expected * inputs).numpy().sum(-1),
                               rtol=1e-4, atol=1e-9)


def test_a_layer_unit_and_its_occlusion_map(trained):
    model, net, _ = trained
    pixels, _ = quadrant_task.images(2, 12)
    target = sanity_methods.choose_target(net, "block2_conv1", pixels)
    layer = keras.Model(model.inputs[0], model.get_layer("block2_conv1").output)
    maps = layer(pixels / 255).numpy()
    strongest = maps.max(axis=(1, 2)).argmax(axis=1)
    assert target.features.tolist() == strongest.tolist()
    for image, feature, (y, x) in zip(maps, target.features, target.positions):
        assert image[y, x, feature] == image[..., feature].max()
    explainer = sanity_methods.Explainer(net, "block2_conv1", SMALL)
    np.testing.assert_allclose(explainer.units(pixels, target),
                               maps[[0, 1], target.positions[:, 0], target.positions[:, 1],
                                    target.features], rtol=1e-5)
    drop = explainer.occlusion(pixels[0], target.flat[0])
    covered = pixels[0].copy()
    covered[8:16, 16:24] = occlusion.FILLS["gray"]  # the square at row 1, column 2
    after = keras.Model(model.inputs[0], model.get_layer("block2_conv1").output)(
        covered[None] / 255).numpy()[0, target.positions[0, 0], target.positions[0, 1],
                                     target.features[0]]
    np.testing.assert_allclose(drop[12, 20], maps[0, target.positions[0, 0],
                                                  target.positions[0, 1], target.features[0]]
                               - after, rtol=1e-4, atol=1e-6)


def test_a_layer_unit_is_compared_inside_its_receptive_field(trained):
    model, net, _ = trained
    pixels, _ = quadrant_task.images(2, 13)
    settings = sanity.SanitySettings(methods=("gradient",), independent=False, steps=4,
                                     dependence_units=1)
    report = sanity.sanity_check(net, "block2_conv1", pixels, settings=settings)
    boxes = [tuple(deconv.receptive_field(net, "block2_conv1", where, (32, 32)))
             for where in report.target.positions]
    assert report.boxes == boxes and all(b[2] - b[0] < 32 for b in boxes)
    gray = occlusion.FILLS["gray"]
    for number, (top, left, bottom, right) in enumerate(boxes):
        filled = pixels[number].copy()
        filled[top:bottom, left:right] = gray  # every pixel of the field deleted
        y, x = report.target.positions[number]
        unit = keras.Model(model.inputs[0], model.get_layer("block2_conv1").output)(
            filled[None] / 255).numpy()[0, y, x, report.target.features[number]]
        for order in ("gradient", "random"):
            assert report.curves.scores["deletion"][order][number, -1] == pytest.approx(
                unit, rel=1e-4, abs=1e-6)
    assert report.cascading.steps == ["block2", "block1"]


def _plain_cnn(pool):
    """conv-relu-(pool)-conv-relu-GAP-softmax, seeded: with `pool`, one max-pool switch."""
    keras.utils.set_random_seed(3)
    layers = [keras.Input((24, 24, 3)), keras.layers.Conv2D(6, 3, activation="relu"),
              *([keras.layers.MaxPooling2D(2)] if pool else []),
              keras.layers.Conv2D(5, 3, activation="relu", name="top_conv"),
              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3, activation="softmax")]
    return keras.Sequential(layers)


@pytest.mark.parametrize("pool", [False, True])
def test_measured_image_dependence(pool):
    pixels = np.random.default_rng(0).uniform(0, 255, (3, 24, 24, 3)).astype(np.float32)
    found = {relu_rule: measured_dependence.measure_image_dependence(
        deconv.Deconvnet(_plain_cnn(pool), preprocessing="unit", relu_rule=relu_rule), "top_conv",
        pixels, feature=2) for relu_rule in ("deconvnet", "guided")}
    assert (found["deconvnet"].values > 0).all()  # the shared position is active in each
    if pool:  # the switches tie each projection to its image
        assert found["deconvnet"].between_images < 0.9
    else:  # no switch: the same picture in every image, to float precision
        assert found["deconvnet"].between_images == pytest.approx(1.0, abs=1e-9)
        assert found["deconvnet"].to_blank == pytest.approx(1.0, abs=1e-9)
    assert found["guided"].between_images < found["deconvnet"].between_images - 0.05
    assert found["deconvnet"].pairs.shape == (3, 3)
    derived = deconv.Deconvnet(_plain_cnn(pool), relu_rule="deconvnet").image_dependence("top_conv")
    assert derived.independent is not pool  # the graph's count agrees with the measure


def test_the_report_holds_the_dependence_of_both_rules(photo_report):
    assert sorted(photo_report.dependence) == ["deconvnet", "guided"]
    logits = photo_report.dependence["deconvnet"][0]
    assert logits.feature == 1 and logits.position == (0, 0) and len(logits.values) == 4
    derived = photo_report.derived  # what the graph allows, beside what was measured
    assert derived["deconvnet"].switches == ("block1_pool", "block2_pool")
    assert derived["deconvnet"].paths == "all" and derived["guided"].relu_masks


def test_bad_settings_are_one_line_errors(trained):
    net = trained[1]
    pixels = np.zeros((2, 32, 32, 3), np.float32)
    with pytest.raises(deconv.DeconvError, match="methods must be distinct names among "
                       "deconvnet, guided, gradient, gradient_x_input, occlusion"):
        sanity.sanity_check(net, "predictions", pixels,
                            settings=sanity.SanitySettings(methods=("gradient", "lrp")))
    with pytest.raises(deconv.DeconvError, match="steps must be an integer from 2 to 1000"):
        sanity.sanity_check(net, "predictions", pixels, settings=sanity.SanitySettings(steps=1))
    with pytest.raises(deconv.DeconvError, match="position applies to a layer with maps"):
        sanity.sanity_check(net, "predictions", pixels, position=(1, 1))
    with pytest.raises(deconv.DeconvError, match="Unknown layer|not a layer|Valid"):
        sanity.sanity_check(net, "nowhere", pixels)
    assert sanity_metrics.METRICS == ("spearman_abs", "spearman", "ssim", "hog")
    headless = deconv.Deconvnet(keras.Sequential([keras.Input((None, None, 3)),
                                                  keras.layers.Conv2D(2, 3, name="conv")]))
    with pytest.raises(deconv.DeconvError, match=r"^The model has no softmax classifier: give "
                       r"--layer \(a layer with maps\), or --include_top for an application's "
                       r"classifier\.$"):
        sanity_methods.logits_layer(headless)
    assert sanity_methods.logits_layer(net) == "predictions"


def test_verdicts_read_the_numbers_and_the_image_dependence(photo_report):
    from deconv.analysis import sanity_report
    words = sanity_report.verdicts(photo_report)
    gradient = float(photo_report.cascading.similarity["gradient"]["spearman_abs"][-1].mean())
    assert words["gradient"].startswith(f"gradient: Spearman {gradient:.2f} after randomising "
                                        f"every block: ")
    assert "deletion area " in words["gradient"] and "vs random " in words["gradient"]
    assert words["image"].startswith("image: Spearman 1.00 after randomising every block: this "
                                     "picture mostly shows the image")
    same = dataclasses.replace(photo_report.dependence["deconvnet"][0], between_images=0.999)
    changed = dataclasses.replace(photo_report, dependence={"deconvnet": [same]})
    assert "changes with the weights, but not with the image" in sanity_report.verdicts(
        changed)["deconvnet"]
    assert "correlate 1.00: the picture hardly depends on the image" in sanity_report.verdicts(
        changed)["deconvnet"]
