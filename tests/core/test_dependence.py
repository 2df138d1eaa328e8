"""When a deconvnet projection can depend on the image: without a max-pool below the layer,
two different images give the same picture of a unit at one position (guided backprop does not);
with one, they differ; the switches on VGG16, ResNet50 and EfficientNetB0 paths match a hand
count; the commands warn."""
import keras
import numpy as np
import pytest

import deconv
from tests.conftest import photos, run_command


def _seeded(model, seed=4):
    rng = np.random.default_rng(seed)
    for weight in model.weights:
        weight.assign(rng.normal(0.02, 0.3, weight.shape).astype(np.float32))
    return model


def _chain(pool):
    layers = [keras.Input((None, None, 3)),
              keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="c1")]
    if pool:
        layers.append(keras.layers.MaxPooling2D(2, name="p1"))
    layers += [keras.layers.Conv2D(5, 3, padding="same", activation="relu", name="c2")]
    return _seeded(keras.Sequential(layers))


def _same_unit_in_two_images(net):
    images = photos((24, 24), ("astronaut", "coffee")).astype(np.float32)
    found = net.project_details(images, "c2", [1, 1], np.array([[3, 4], [3, 4]]))
    assert (found.values > 0).all()
    first, second = (r.ravel() / v for r, v in zip(found.reconstructions, found.values))
    return np.corrcoef(first, second)[0, 1], np.abs(first - second).max() / np.abs(first).max()


def test_without_a_max_pool_every_image_gets_the_same_deconvnet_picture():
    model = _chain(pool=False)
    deconvnet = deconv.Deconvnet(model, preprocessing="unit")
    correlation, difference = _same_unit_in_two_images(deconvnet)
    assert correlation == pytest.approx(1.0, abs=1e-6) and difference < 1e-5
    found = deconvnet.image_dependence("c2")
    assert found.independent and found.switches == () and found.paths == "none"
    assert "cannot depend on the image" in found.verdict and "--rule guided" in found.verdict
    guided = deconv.Deconvnet(model, preprocessing="unit", relu_rule="guided")
    assert _same_unit_in_two_images(guided)[0] < 0.99
    assert not guided.image_dependence("c2").independent


def test_with_a_max_pool_the_pictures_differ():
    net = deconv.Deconvnet(_chain(pool=True), preprocessing="unit")
    assert _same_unit_in_two_images(net)[0] < 0.99
    found = net.image_dependence("c2")
    assert found.switches == ("p1",) and found.paths == "all" and not found.independent


def test_a_max_pool_on_some_paths():
    images = keras.Input((None, None, 3))
    trunk = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="trunk")(images)
    pooled = keras.layers.MaxPooling2D(2, strides=1, padding="same", name="pool")(trunk)
    merged = keras.layers.Add(name="merge")([pooled, trunk])
    net = deconv.Deconvnet(keras.Model(images, merged), preprocessing="unit")
    found = net.image_dependence("merge")
    assert found.switches == ("pool",) and found.paths == "some" and not found.independent
    assert net.image_dependence("trunk").paths == "none"


def test_switch_counts_match_a_hand_count(net16):
    assert net16.image_dependence("conv5_3").switches == (
        "block1_pool", "block2_pool", "block3_pool", "block4_pool")
    assert net16.image_dependence("conv3_1").switches == ("block1_pool", "block2_pool")
    assert net16.image_dependence("conv1_2").independent
    resnet = deconv.Deconvnet(deconv.load_model("resnet50", weights=None))
    for layer in ("conv2_block1_out", "conv5_block3_out"):
        found = resnet.image_dependence(layer)
        assert found.switches == ("pool1_pool",) and found.paths == "all", layer
    assert resnet.image_dependence("conv1_relu").independent
    efficientnet = deconv.Deconvnet(deconv.load_model("efficientnetb0", weights=None))
    found = efficientnet.image_dependence("top_activation")
    assert found.switches == () and found.paths == "none"
    # its swish activations and squeeze-and-excitation gates are reversed by their gradient
    assert "block1a_activation" in found.gradients and "block1a_se_excite" in found.gradients
    assert not found.independent and "gradient" in found.verdict
    lite = deconv.Deconvnet(deconv.load_model("efficientnet_lite0", weights=None,
                                              include_top=True))
    assert all(lite.image_dependence(layer).independent
               for layer in ("block2b_add", "top_activation", "predictions"))


def test_the_runner_warns_once_and_not_for_guided(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    from PIL import Image
    for number, pixels in enumerate(photos((40, 40), ("astronaut", "coffee"))):
        Image.fromarray(pixels).save(folder / f"{number}.png")
    model = tmp_path / "chain.keras"
    _chain(pool=False).save(model)
    flags = ("--model", str(model), "--feat", "c2", "--id", "0", "--top", "1", "--images",
             str(folder), "--size", "32", "--noprogress")
    warned = run_command("run", *flags, "--out", str(tmp_path / "a"))
    assert warned.returncode == 0, warned.stderr[-2000:]
    lines = [line for line in warned.stderr.splitlines() if line.startswith("warning:")]
    assert len(lines) == 1 and "c2" in lines[0] and "--rule guided" in lines[0], lines
    guided = run_command("run", *flags, "--rule", "guided", "--out", str(tmp_path / "b"))
    assert guided.returncode == 0 and "warning:" not in guided.stderr, guided.stderr[-2000:]
