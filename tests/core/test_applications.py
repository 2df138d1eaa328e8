"""Keras's applications, projected and checked against the independent oracle
(tests/helpers/graph_oracle.py): seeded weights, random batch-normalization statistics (not
mean 0 and variance 1), small inputs, an early, a middle and the last layer, and the logits of a
model with its classifier. The default suite runs a subset; `python -m pytest -m zoo` runs the
issue's whole list, both rules."""
import numpy as np
import pytest

import deconv
from deconv.models import applications
from tests.core.test_graphs import _assert_matches
from tests.core.test_graphs import _strongest_map
from tests.helpers import graph_oracle
from tests.helpers.graph_model import randomize

DEFAULT = [("resnet50", 96), ("inceptionv3", 139), ("mobilenetv3small", 96),
           ("efficientnetb0", 96)]
ZOO = [("resnet50v2", 96), ("densenet121", 96), ("mobilenetv2", 96), ("efficientnetv2b0", 96),
       ("convnexttiny", 96), ("xception", 96), ("resnet101", 96), ("inceptionresnetv2", 139),
       ("mobilenet", 96), ("mobilenetv3large", 96), ("densenet169", 96), ("efficientnetb3", 96),
       ("efficientnetv2s", 96), ("resnet152v2", 96)]


def _model(name, include_top=False):
    """The application with seeded random weights. The tests feed it pixels as they are
    (preprocessing "none"; each mode's adjoint has its own oracle test): the oracle's formula
    for a mode, `x / 127.5 - 1`, differs from deconv's `(x - 127.5) / 127.5` in the last bit,
    enough to flip a max-pool's near-tie in a deep random network (InceptionV3's logits:
    1e-3 with "tf", 0 with "none")."""
    model = deconv.load_model(name, weights=None, seed=0, include_top=include_top)
    randomize(model, 3)
    return model


def _layers(net):
    """An early, a middle and the last layer with maps."""
    maps = [name for name in net.layer_names if len(net.step(name).shape) == 4]
    return [maps[len(maps) // 8], maps[len(maps) // 2], maps[-1]]


def _check(name, size, relu_rule, windows=(False, True)):
    """Each layer both ways: over whole maps, and in windows wherever the rules allow."""
    model = _model(name)
    net = deconv.Deconvnet(model, preprocessing="none", relu_rule=relu_rule)  # see _model
    images = np.random.default_rng(5).uniform(0, 255, (2, size, size, 3)).astype(np.float32)
    copy = graph_oracle.clone(model, relu_rule)
    for layer in _layers(net):
        feature = _strongest_map(net, images, layer)
        for windowed in windows:
            _assert_matches(net, model, images, layer, feature, copy, windowed=windowed)


@pytest.mark.parametrize("name,size", DEFAULT)
def test_applications_equal_the_oracle(name, size):
    _check(name, size, "deconvnet" if name != "mobilenetv3small" else "guided")


def test_resnet50_windows_reach_the_pixels_from_its_early_layers():
    """The windows of ResNet50's stage 2 reach the pixels at 96 px (the oracle checks them in
    `test_applications_equal_the_oracle`); its last layer starts in a window that fills the
    maps at once."""
    net = deconv.Deconvnet(_model("resnet50"), preprocessing="none")
    plan = net.builder.window_plan("conv2_block3_out", (96, 96), float("inf"))
    # three 3x3 convs: 7x7 at pool1's output; 15x15 before the 3x3/2 pool; 35x35 before the
    # 7x7/2 stem
    assert plan.boundary == () and plan.window_size("input") == (35, 35)
    plan = net.builder.window_plan("conv5_block3_out", (96, 96), float("inf"))
    assert plan.window_size("conv5_block2_out") == (3, 3)


@pytest.mark.zoo
@pytest.mark.parametrize("relu_rule", ["deconvnet", "guided"])
@pytest.mark.parametrize("name,size", DEFAULT + ZOO)
def test_every_application_equals_the_oracle(name, size, relu_rule):
    _check(name, size, relu_rule)


def _check_logits(name, relu_rule="deconvnet"):
    """A class's logit (pre-softmax) projected through the whole network, at its own size."""
    model = _model(name, include_top=True)
    net = deconv.Deconvnet(model, preprocessing="none", relu_rule=relu_rule)  # see _model
    logits = net.layer_names[-1]
    size = model.inputs[0].shape[1] or 224  # MobileNetV3 takes any size, even with its top
    images = np.random.default_rng(6).uniform(0, 255, (1, size, size, 3)).astype(np.float32)
    scores = net.activations(images, logits)[0]
    assert scores.shape == (1000,)
    best = int(np.argmax(scores))
    dense = model.get_layer(logits) if hasattr(model.get_layer(logits), "bias") else None
    if scores[best] <= 0 and dense is not None:  # a positive logit, so relu passes its signal
        dense.bias.assign(dense.bias.numpy() + (1 - scores[best]))
    copy = graph_oracle.clone(model, relu_rule, logits=logits)
    _assert_matches(net, model, images, logits, best, copy)


def test_class_logits_of_resnet50_equal_the_oracle():
    _check_logits("resnet50")


@pytest.mark.zoo
@pytest.mark.parametrize("name", ["resnet50v2", "inceptionv3", "densenet121", "mobilenetv2",
                                  "mobilenetv3small", "efficientnetb0", "efficientnetv2b0",
                                  "convnexttiny", "xception"])
def test_class_logits_equal_the_oracle(name):
    _check_logits(name)


def test_names_in_any_spelling_and_unknown_ones():
    for spelling in ("ResNet50V2", "resnet50v2", "resnet_50_v2", "RESNET50V2"):
        assert applications.find(spelling) == "ResNet50V2"
    with pytest.raises(deconv.DeconvError, match=r"Unknown arch 'resnet49'. Valid: .*resnet50"):
        deconv.load_model("resnet49", weights=None)
    net = deconv.Deconvnet(deconv.load_model("resnet50", weights=None, seed=1))
    assert net.preprocessing.name == "caffe" and "conv4_block6_out" in net.layer_names
    assert "avg_pool" not in net.layer_names  # a vector without a classifier: not projected


def test_imagenet_weights_come_from_pretrained_the_keras_way(tmp_path, monkeypatch):
    """The model's own constructor asks for its file; deconv answers from pretrained/ (our
    `<name>.weights.h5`) before Keras's cache and download, and says where it looked."""
    monkeypatch.setenv("DECONV_PRETRAINED", str(tmp_path / "pretrained"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("DECONV_OFFLINE", "1")
    with pytest.raises(deconv.DeconvError) as error:
        deconv.load_model("mobilenetv3small", weights="imagenet")
    message = str(error.value)
    assert "No ImageNet weights for mobilenetv3small" in message and "\n" not in message
    for place in ("weights_mobilenet_v3_small", "mobilenetv3small.weights.h5",
                  "Keras cache", "skipped: $DECONV_OFFLINE is set"):
        assert place in message, place
    (tmp_path / "pretrained").mkdir()
    trained = _model("mobilenetv3small")
    trained.save_weights(tmp_path / "pretrained" / "mobilenetv3small.weights.h5")
    loaded = deconv.load_model("mobilenetv3small", weights="imagenet")
    for ours, theirs in zip(loaded.weights, trained.weights):
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
