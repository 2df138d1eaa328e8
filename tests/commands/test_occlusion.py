"""python -m deconv.occlusion: the corner model's values, the class part, and errors found before
anything is written."""
import hashlib
import json
import os

import numpy as np
from PIL import Image

from deconv.analysis import occlusion
from tests.conftest import assert_plain_warnings, photos, run_command
from tests.helpers.command_batch import run_commands
from tests.helpers.corner_model import corner_image, sum_classifier


def _occlusion_cli(*flags, cwd, env=None):
    return run_command("occlusion", "--noprogress", *flags, cwd=cwd, env=env)


def test_command_line_with_classes(tmp_path):
    Image.fromarray(photos((224, 224), ("chelsea",))[0]).save(tmp_path / "cat.png")
    result = _occlusion_cli(str(tmp_path / "cat.png"), "--model", "vgg16", "--weights",
                            "random", "--feat", "conv3_1", "--occluder", "112", "--stride", "112",
                            "--classes", "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert_plain_warnings(result.stderr, random=True)
    summary = json.loads((tmp_path / "out" / "cat.json").read_text())
    assert summary["feature"]["layer"] == "block3_conv1" and summary["tops"] == [0, 112]
    assert summary["classes"]["target_name"]
    for kind in ("feature", "probability", "top_class"):
        assert (tmp_path / "out" / f"cat_{kind}.png").exists()
        assert np.load(tmp_path / "out" / f"cat_{kind}.npy").shape == (2, 2)


def test_command_line_without_classifier_weights(tmp_path, vgg16):
    Image.fromarray(photos((224, 224), ("coffee",))[0]).save(tmp_path / "coffee.png")
    (tmp_path / "pre").mkdir()
    vgg16.save_weights(tmp_path / "pre" / "vgg16.weights.h5")  # conv weights only
    result = _occlusion_cli(str(tmp_path / "coffee.png"), "--model", "vgg16", "--feat",
                            "conv2_2", "--occluder", "56", "--stride", "56",
                            "--classes", "--out", str(tmp_path / "out"),
                            cwd=tmp_path, env={"DECONV_PRETRAINED": str(tmp_path / "pre"),
                                               "DECONV_OFFLINE": "1",
                                               "KERAS_HOME": str(tmp_path / "keras")})
    assert result.returncode == 0, result.stderr[-2000:]
    # The weights file the search found is recorded, with its hash.
    used = tmp_path / "pre" / "vgg16.weights.h5"
    assert json.loads((tmp_path / "out" / "coffee.json").read_text())["weights_file"] == {
        "path": str(used), "bytes": used.stat().st_size,
        "sha256": hashlib.sha256(used.read_bytes()).hexdigest()}
    note = [line for line in result.stdout.splitlines() if line.startswith("note:")]
    assert len(note) == 1 and "class part skipped: No ImageNet classifier (include_top) " \
                               "weights for vgg16" in note[0]
    assert "(--classifier_weights PATH); --classifier_weights random" in note[0]
    assert np.load(tmp_path / "out" / "coffee_feature.npy").shape == (4, 4)
    assert not (tmp_path / "out" / "coffee_probability.png").exists()


def test_command_line_values_and_errors(tmp_path, corner_net):
    Image.fromarray(corner_image(32).astype(np.uint8)).save(tmp_path / "corner.png")
    corner_net.model.save(tmp_path / "corner.keras")
    sum_classifier(32).save(tmp_path / "sum.keras")
    model = ["--model", str(tmp_path / "corner.keras"), "--image_size", "32", "--occluder", "8",
             "--stride", "8", "--fill", "black"]
    result = _occlusion_cli(str(tmp_path / "corner.png"), *model, "--out", str(tmp_path / "c"),
                            cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    expected = occlusion.occlude(corner_net, "blocks", corner_image(32),
                                 occluder=occlusion.Occluder(8, 8, "black"))
    np.testing.assert_allclose(np.load(tmp_path / "c" / "corner_feature.npy"),
                               expected.feature_total, rtol=1e-6)
    summary = json.loads((tmp_path / "c" / "corner.json").read_text())
    assert summary["feature"]["layer"] == "blocks"  # the last conv layer by default
    # The other runs share one process (TensorFlow starts once), each through the command's
    # own flag parsing, main and one-line errors (tests/helpers/command_batch.py).
    # --classifier is fed the model's preprocessing (none for a .keras model), or the one given.
    classified = [([], 0, "none"), (["--classifier_preprocessing", "caffe"], 1, "caffe")]
    runs = [[str(tmp_path / "corner.png"), *model, "--classes", "--classifier",
             str(tmp_path / "sum.keras"), *flags, "--out", str(tmp_path / f"k{target}")]
            for flags, target, _ in classified]
    # Errors are found before anything is written: no occlusion/ folder in the working folder.
    (tmp_path / "cwd").mkdir()
    errors = [
            (["--label", "3"], "--label names the correct class for --classes"),
            (["--classes", "--model", "vgg16", "--image_size", "100"],
             "vgg16's classifier takes 224x224 images: pass --image_size 224"),
            (["--batch_size", "0"], "--batch_size must be an integer from 1 to 4096; received "
                                    "'0'."),
            (["--size", "50"], "--size 50: the occluder's side is --occluder (e.g. --occluder 50), "
                               "the image's --image_size."),
            (["--image_size", "0"], "--image_size must be an integer from 1 to 4096; received "
                                    "'0'."),
            (["--id", "512"], ("--id 512 is out of range for layer 'conv5_4', which has 512 "
                               "feature maps (valid ids: 0 to 511).")),
            ([*model, "--image_size", "3", "--occluder", "2"],
             "--image_size 3: too small for layer 'blocks', which needs images of at least 4x4 "
             "pixels."),
            ([*model, "--classes", "--classifier", str(tmp_path / "sum.keras"), "--label", "2"],
             "--label 2 is out of range: the classifier has 2 classes (valid: 0 to 1).")]
    runs += [[str(tmp_path / "corner.png"), "--noprogress", "--weights", "random", *flags]
             for flags, _ in errors]
    runs.append([str(tmp_path / "nothing.png"), "--noprogress"])
    results = run_commands("occlusion", runs, tmp_path, cwd=tmp_path / "cwd")
    for (flags, target, mode), (result, _) in zip(classified, results):
        assert result.returncode == 0, result.stderr[-2000:]
        summary = json.loads((tmp_path / f"k{target}" / "corner.json").read_text())
        assert summary["classes"]["target"] == target, flags
        assert summary["classifier_preprocessing"] == mode
    for (flags, message), (result, listing) in zip(errors, results[2:]):
        assert result.returncode == 2 and message in result.stderr.splitlines()[-1], (
            flags, result.stderr[-500:])
        assert not listing, flags
    result, _ = results[-1]
    assert result.stderr.splitlines()[-1].endswith("Cannot read " + str(tmp_path /
                                                   "nothing.png") + ": file not found.")
