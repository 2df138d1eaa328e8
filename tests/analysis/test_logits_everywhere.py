"""A classifier's logits are a layer like the others, of 1x1 maps (one per class), wherever a
layer is accepted; a layer without maps is refused by name, saying what it is."""
import json
import os

import keras
import numpy as np
from PIL import Image
import pytest

import deconv
from deconv.analysis import maximization
from deconv.analysis import overlays
from deconv.models import loading
from deconv.unit_atlas import build
from tests.conftest import last_error, run_command
from tests.helpers.command_batch import run_commands

CLASSES = 5


def classifier(input_shape=(None, None, 3), seed=0):
    """Conv, pool, conv, global average pool, a softmax of 5 classes; seeded weights, each
    class's bias raised so that its logits are positive on these images."""
    inputs = keras.Input(input_shape)
    x = keras.layers.Conv2D(6, 3, activation="relu", name="c1")(inputs)
    x = keras.layers.MaxPooling2D(name="p1")(x)
    x = keras.layers.Conv2D(8, 3, activation="relu", name="c2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(CLASSES, activation="softmax", name="predictions")(x)
    model = keras.Model(inputs, outputs, name="tiny_classifier")
    rng = np.random.default_rng(seed)
    for weight in model.weights:
        weight.assign(rng.normal(0, 0.3, weight.shape).astype(np.float32))
    model.get_layer("predictions").bias.assign(np.full(CLASSES, 5.0, np.float32))
    return model


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("logit_images")
    rng = np.random.default_rng(1)
    for number in range(4):
        Image.fromarray(rng.integers(0, 256, (30, 34, 3), np.uint8)).save(
            root / f"img{number}.png")
    return root


def test_logits_in_every_command_and_layers_without_maps_named(folder, tmp_path):
    """Issue 23, item 3: the atlas of a classifier's logits (units: classes), a config's sweep
    of every map of the logits, the maximization of a class (at a classifier's fixed size too),
    --classes with a model that is a classifier itself or any application with its top; a
    global pool is named for what it is; overlays refuse logits in one line."""
    net = deconv.Deconvnet(classifier())
    paths = sorted(str(path) for path in folder.iterdir())
    # The atlas: every class a unit, its entries the images with the largest logits.
    settings = build.AtlasSettings(top=2, size=24, batch_size=4, tile=16, thumb=8)
    layers = build.choose_layers(net, ["predictions", "c2"], settings)
    outcome = build.build_atlas(net, paths, str(folder), layers, str(tmp_path / "atlas"),
                                settings, {"model": "tiny", "weights": "random", "seed": 0})
    logits = next(layer for layer in outcome.atlas["layers"] if layer["name"] == "predictions")
    assert (logits["units"], logits["map_size"]) == (CLASSES, [1, 1])
    pixels = np.stack([np.asarray(Image.open(path).convert("RGB").resize((24, 24),
                                                                         Image.BILINEAR))
                       for path in paths]).astype(np.float32)
    scores = net.activations(pixels, "predictions")
    for unit, entries in enumerate(logits["top"]):
        best = np.argsort(-scores[:, unit], kind="stable")[:2]
        assert [entry["source"] for entry in entries] == best.tolist()
        np.testing.assert_allclose([entry["value"] for entry in entries],
                                   scores[best, unit], rtol=1e-4)
        assert all(entry["position"] == [0, 0] for entry in entries)
    # Class visualization: a class's logit raised, on a model of any size and one of one size.
    schedule = maximization.Schedule(init_size=12, steps=3, rounds=2, factor=1.5)
    for model in (net.model, classifier((24, 24, 3))):
        found = deconv.maximize_maps(deconv.Deconvnet(model), "predictions", [1, 3],
                                     schedule=schedule)
        assert found.objective == "class logit" and np.all(found.values > found.start_values)
    # A layer without maps says what it is; overlays refuse logits.
    with pytest.raises(deconv.DeconvError, match=r"Layer 'gap' \(GlobalAveragePooling2D\) has "
                                                 r"no maps: its output is \(N, 8\)"):
        net.resolve("gap")
    with pytest.raises(deconv.DeconvError, match="holds a classifier's logits"):
        overlays.top_maps(net, "predictions", pixels[0], top=2)
    # Any application with its top is a classifier, EfficientNet-Lite's too (deconv's own).
    assert loading.load_classifier("mobilenetv3small", None, 0).output_shape == (None, 1000)
    assert loading.load_classifier("EfficientNet-Lite0", None, 0).output_shape == (None, 1000)
    assert [loading.named(name) for name in ("ResNet50", "efficientnetlite0", "my.keras")] == [
        "resnet50", "efficientnet_lite0", None]
    # The command line: a config's sweep of every class; occlusion of a class's logit with the
    # model's own classifier.
    model_file = str(tmp_path / "tiny.keras")
    classifier().save(model_file)
    config = tmp_path / "logits.toml"
    config.write_text(f'out = "{tmp_path / "run"}"\nmodel = "{model_file}"\nsize = 24\ntop = 2\n'
                      f'[[datasets]]\nname = "d"\nimages = "{folder}"\n'
                      f'[[sweeps]]\nlayer = "predictions"\nfeatures = "all"\n')
    result = run_command("run", "--config", str(config), "--noprogress")
    assert result.returncode == 0, result.stderr[-3000:]
    for unit in range(CLASSES):
        manifest = json.loads((tmp_path / "run" / f"predictions_{unit}.json").read_text())
        assert [r["value"] for r in manifest["results"]][0] == pytest.approx(
            scores[:, unit].max(), rel=1e-4)
    # The two occlusion runs share one process (TensorFlow starts once), each through the
    # command's own flag parsing and main (tests/helpers/command_batch.py).
    (own, _), (lite, _) = run_commands("occlusion", [
        [paths[0], "--model", model_file, "--feat", "predictions", "--id", "2", "--classes",
         "--image_size", "24", "--occluder", "8", "--stride", "8", "--out",
         str(tmp_path / "occlusion"), "--noprogress"],
        [paths[0], "--model", "efficientnet_lite0", "--weights", "random", "--feat",
         "block2a_project_conv", "--classes", "--image_size", "24", "--occluder", "12",
         "--stride", "12", "--out", str(tmp_path / "lite"), "--noprogress"]], tmp_path)
    assert own.returncode == 0, own.stderr[-3000:]
    summary = json.loads((tmp_path / "occlusion" / "img0.json").read_text())
    assert "note" not in summary or summary["note"] is None, summary.get("note")
    assert os.path.exists(tmp_path / "occlusion" / "img0_probability.png")
    assert lite.returncode == 0, lite.stderr[-3000:]
    assert json.loads((tmp_path / "lite" / "img0.json").read_text())["note"] is None
    result = run_command("overlay", paths[0], "--model", model_file, "--feat", "predictions",
                         "--size", "24", "--out", str(tmp_path / "overlay"))
    assert result.returncode == 2 and "holds a classifier's logits" in last_error(result)
    assert not (tmp_path / "overlay").exists()
