"""Occlusion sensitivity on tiny models whose answers are known."""
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import deconv
from deconv import sensitivity
from deconv.errors import DeconvError

CORNER = 4  # the bright top-left block, in pixels


def _corner_image(side=16):
    image = np.zeros((side, side, 3), np.float32)
    image[:CORNER, :CORNER] = 255
    return image


def _covers_corner(top, left, size):
    return top == 0 and left == 0 and size >= CORNER


def _overlaps_corner(top, left):
    return top < CORNER and left < CORNER


@pytest.fixture(scope="module")
def corner_net():
    """One map of 4x4 block sums: the image is black but for its top-left block."""
    model = keras.Sequential([keras.Input((None, None, 3)),
                              keras.layers.Conv2D(1, 4, strides=4, activation="relu",
                                                  use_bias=False, name="blocks")])
    model.get_layer("blocks").kernel.assign(np.full((4, 4, 3, 1), 1 / 48, np.float32))
    return deconv.Deconvnet(model)


def test_feature_loses_activation_only_where_the_corner_is_covered(corner_net):
    image = _corner_image()
    result = sensitivity.occlude(image, corner_net, "blocks", size=4, stride=2, fill="black")
    assert result.feature == 0 and result.feature_baseline == pytest.approx(255)
    assert list(result.tops) == [0, 2, 4, 6, 8, 10, 12]
    for r, top in enumerate(result.tops):
        for c, left in enumerate(result.lefts):
            # Brute force: the occluded image's map total, computed by hand.
            occluded = image.copy()
            occluded[top:top + 4, left:left + 4] = 0
            expected = occluded.reshape(4, 4, 4, 4, 3).sum(axis=(1, 3, 4)).sum() / 48
            assert result.feature_total[r, c] == pytest.approx(expected, abs=1e-3)
            assert (result.feature_total[r, c] < 255 - 1e-3) == _overlaps_corner(top, left)


def test_classes_change_only_when_the_corner_is_covered():
    classifier = keras.Sequential([keras.Input((16, 16, 3)),
                                   keras.layers.Conv2D(2, 16, name="logits"),
                                   keras.layers.Flatten(), keras.layers.Softmax()])
    kernel = np.zeros((16, 16, 3, 2), np.float32)
    kernel[:CORNER, :CORNER, :, 0] = 0.1  # class 0 sees the bright corner
    classifier.get_layer("logits").set_weights([kernel, np.array([0.0, 1.0], np.float32)])
    result = sensitivity.occlude(_corner_image(), classifier=classifier, size=4, stride=2,
                                 fill="black", classifier_preprocessing="none")
    assert result.target == 0 and result.target_baseline > 0.99
    for r, top in enumerate(result.tops):
        for c, left in enumerate(result.lefts):
            covered = _covers_corner(top, left, 4)
            assert result.top_class[r, c] == (1 if covered else 0)
            assert (result.target_probability[r, c] < 0.5) == covered


def _sum_classifier(side):
    """Class 0's logit is 0.01 times the sum of the preprocessed pixels, class 1's is 1: on a
    black image with a white corner, class 0 wins with raw pixels (`none`) and loses with
    caffe's mean subtracted."""
    classifier = keras.Sequential([keras.Input((side, side, 3)),
                                   keras.layers.Conv2D(2, side, name="logits"),
                                   keras.layers.Flatten(), keras.layers.Softmax()])
    kernel = np.zeros((side, side, 3, 2), np.float32)
    kernel[..., 0] = 0.01
    classifier.get_layer("logits").set_weights([kernel, np.array([0.0, 1.0], np.float32)])
    return classifier


def test_classifier_gets_the_nets_preprocessing_by_default(corner_net):
    assert corner_net.preprocessing.name == "none"  # a .keras model's
    classifier = _sum_classifier(16)
    found = sensitivity.occlude(_corner_image(), corner_net, "blocks", classifier=classifier,
                                size=8, stride=8)
    assert found.target == 0 and found.target_baseline > 0.99
    caffe = sensitivity.occlude(_corner_image(), corner_net, "blocks", classifier=classifier,
                                size=8, stride=8, classifier_preprocessing="caffe")
    assert caffe.target == 1 and caffe.target_baseline > 0.99
    with pytest.raises(DeconvError, match=r"Unknown preprocessing 'bgr'. Valid: caffe, none, "):
        sensitivity.occlude(_corner_image(), classifier=classifier, size=8,
                            classifier_preprocessing="bgr")


def test_layer_defaults_to_the_last_conv_layer(custom_cnn):
    net = deconv.Deconvnet(custom_cnn)
    image = np.random.default_rng(5).uniform(0, 255, (16, 16, 3)).astype(np.float32)
    found = sensitivity.occlude(image, net, size=8, stride=8)
    named = sensitivity.occlude(image, net, "c3", size=8, stride=8)
    assert found.layer == "c3" and found.feature == named.feature
    np.testing.assert_array_equal(found.feature_total, named.feature_total)


def test_grid_and_fill_rules():
    tops, lefts = sensitivity.grid((20, 11), 5, 4)
    assert list(tops) == [0, 4, 8, 12, 15] and list(lefts) == [0, 4, 6]
    image = np.zeros((4, 4, 3))
    image[..., 0] = 90
    np.testing.assert_allclose(sensitivity.fill_color("mean", image), [90, 0, 0])
    np.testing.assert_allclose(sensitivity.fill_color("10,20,30", image), [10, 20, 30])
    with pytest.raises(DeconvError, match="Unknown fill 'pink'"):
        sensitivity.fill_color("pink", image)
    with pytest.raises(DeconvError, match="larger than the image"):
        sensitivity.grid((20, 11), 12, 4)


def test_class_names_are_shipped():
    classes = sensitivity.imagenet_classes()
    assert len(classes) == 1000
    assert classes[0][:2] == ["n01440764", "tench"] and classes[281][1] == "tabby"


def _occlusion_cli(*flags, cwd, env=None):
    return subprocess.run([sys.executable, "-m", "deconv.occlusion", "--noprogress", *flags],
                          capture_output=True, text=True, timeout=600, cwd=cwd,
                          env={**os.environ, **(env or {})})


def test_command_line_with_classes(tmp_path):
    from tests.conftest import photos
    from PIL import Image
    Image.fromarray(photos((224, 224), ("chelsea",))[0]).save(tmp_path / "cat.png")
    result = _occlusion_cli(str(tmp_path / "cat.png"), "--model", "vgg16", "--weights",
                            "random", "--feat", "conv3_1", "--size", "112", "--stride", "112",
                            "--classes", "--out", str(tmp_path / "out" / "cat"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads((tmp_path / "out" / "cat.json").read_text())
    assert summary["feature"]["layer"] == "block3_conv1" and summary["tops"] == [0, 112]
    assert summary["classes"]["target_name"]
    for kind in ("feature", "probability", "top_class"):
        assert (tmp_path / "out" / f"cat_{kind}.png").exists()
        assert np.load(tmp_path / "out" / f"cat_{kind}.npy").shape == (2, 2)


def test_command_line_without_classifier_weights(tmp_path, vgg16):
    from tests.conftest import photos
    from PIL import Image
    Image.fromarray(photos((224, 224), ("coffee",))[0]).save(tmp_path / "coffee.png")
    (tmp_path / "pre").mkdir()
    vgg16.save_weights(tmp_path / "pre" / "vgg16.weights.h5")  # conv weights only
    result = _occlusion_cli(str(tmp_path / "coffee.png"), "--model", "vgg16", "--feat",
                            "conv2_2", "--size", "56", "--stride", "56",
                            "--classes", "--out", str(tmp_path / "coffee"),
                            cwd=tmp_path, env={"DECONV_PRETRAINED": str(tmp_path / "pre"),
                                               "DECONV_OFFLINE": "1",
                                               "KERAS_HOME": str(tmp_path / "keras")})
    assert result.returncode == 0, result.stderr[-2000:]
    note = [line for line in result.stdout.splitlines() if line.startswith("note:")]
    assert len(note) == 1 and "class part skipped: No ImageNet classifier (include_top) " \
                               "weights for vgg16" in note[0]
    assert "(--classifier_weights PATH); --classifier_weights random" in note[0]
    assert np.load(tmp_path / "coffee_feature.npy").shape == (4, 4)
    assert not (tmp_path / "coffee_probability.png").exists()


def test_heat_maps_align_with_the_square_positions():
    result = sensitivity.Occlusion(np.array([0, 4, 8]), np.array([0, 6]), size=4)
    values = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    pixels = sensitivity.to_pixels(values, result, (12, 10))
    # Each pixel takes the position whose square's centre (top + 2, left + 2) is nearest.
    assert pixels[0, 0] == 1 and pixels[0, 9] == 2 and pixels[11, 0] == 5
    assert pixels[7, 0] == 3 and pixels[8, 0] == 5  # row centres 7.5, 8.5; square centres 6 | 10
    assert pixels[0, 4] == 1 and pixels[0, 5] == 2  # columns 2 | 8: nearest at 4 is 2


def test_command_line_values_and_errors(tmp_path, corner_net):
    from PIL import Image
    Image.fromarray(_corner_image(32).astype(np.uint8)).save(tmp_path / "corner.png")
    corner_net.model.save(tmp_path / "corner.keras")
    _sum_classifier(32).save(tmp_path / "sum.keras")
    model = ["--model", str(tmp_path / "corner.keras"), "--image_size", "32", "--size", "8",
             "--stride", "8", "--fill", "black"]
    result = _occlusion_cli(str(tmp_path / "corner.png"), *model, "--out", str(tmp_path / "c"),
                            cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    expected = sensitivity.occlude(_corner_image(32), corner_net, "blocks", size=8, stride=8,
                                   fill="black")
    np.testing.assert_allclose(np.load(tmp_path / "c_feature.npy"), expected.feature_total,
                               rtol=1e-6)
    summary = json.loads((tmp_path / "c.json").read_text())
    assert summary["feature"]["layer"] == "blocks"  # the last conv layer by default
    # --classifier is fed the model's preprocessing (none for a .keras model), or the one given.
    for flags, target, mode in (([], 0, "none"), (["--classifier_preprocessing", "caffe"], 1,
                                                  "caffe")):
        result = _occlusion_cli(str(tmp_path / "corner.png"), *model, "--classes",
                                "--classifier", str(tmp_path / "sum.keras"), *flags, "--out",
                                str(tmp_path / "k"), cwd=tmp_path)
        assert result.returncode == 0, result.stderr[-2000:]
        summary = json.loads((tmp_path / "k.json").read_text())
        assert summary["classes"]["target"] == target, flags
        assert summary["classifier_preprocessing"] == mode
    # Errors are found before anything is written: no occlusion/ folder in the working folder.
    (tmp_path / "cwd").mkdir()
    for flags, message in [
            (["--label", "3"], "--label names the correct class for --classes"),
            (["--classes", "--model", "vgg16", "--image_size", "100"],
             "VGG's classifier takes 224x224 images"),
            (["--batch_size", "0"], "--batch_size must be at least 1"),
            (["--image_size", "0"], "The image size must be at least 1"),
            (["--id", "512"], ("--id 512 is out of range for layer 'conv5_4', which has 512 "
                               "feature maps (valid ids: 0 to 511).")),
            ([*model, "--image_size", "3", "--size", "2"],
             "--image_size 3 is too small for layer 'blocks': it needs at least 4."),
            ([*model, "--classes", "--classifier", str(tmp_path / "sum.keras"), "--label", "2"],
             "--label 2 is out of range: the classifier has 2 classes (valid: 0 to 1).")]:
        result = _occlusion_cli(str(tmp_path / "corner.png"), "--weights", "random", *flags,
                                cwd=tmp_path / "cwd")
        assert result.returncode == 2 and message in result.stderr.splitlines()[-1], (
            flags, result.stderr[-500:])
        assert not os.listdir(tmp_path / "cwd"), flags
    result = _occlusion_cli(str(tmp_path / "nothing.png"), cwd=tmp_path / "cwd")
    assert result.stderr.splitlines()[-1].endswith("Cannot read " + str(tmp_path /
                                                   "nothing.png") + ": file not found.")
