"""python -m deconv.maximize: reproducible pictures, their manifest, one-line errors; --param
pixel writes the bytes main wrote before the other parameterisations; Fourier and MACO runs
with their quality measures."""
import hashlib
import json
import os

import numpy as np
import pytest
from PIL import Image

from deconv.io import render
from tests.conftest import assert_plain_warnings, run_command
from tests.helpers.command_batch import run_commands

REFERENCE = os.path.join(os.path.dirname(__file__), "reference", "maximize_pixel.json")


def _maximize_cli(*flags, cwd):
    return run_command("maximize", "--noprogress", "--model", "vgg16", "--weights", "random",
                       "--feat", "conv2_2", *flags, cwd=cwd)


def test_command_line_writes_reproducible_pictures(tmp_path):
    common = ["--id", "5,0-1", "--init_size", "20", "--steps", "3", "--rounds", "2"]
    first = _maximize_cli(*common, "--out", "a", cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    assert_plain_warnings(first.stderr, random=True)
    assert " in 2 rounds, " in first.stdout
    manifest = json.loads((tmp_path / "a" / "conv2_2.json").read_text())
    assert [m["map"] for m in manifest["maps"]] == [5, 0, 1] and manifest["sizes"] == [20, 24]
    # The default objective, named wherever values are shown: the manifest and the grid's title.
    assert manifest["objective"] == "pre-ReLU mean" and manifest["settings"]["pre_relu"]
    assert (manifest["weights"], manifest["seed"]) == ("random", 0)
    assert manifest["values"].startswith("pre-ReLU mean")
    with Image.open(tmp_path / "a" / "conv2_2_5.png") as picture:
        tile = render.label(render.upscale(np.asarray(picture), 128), "map 5")
    with Image.open(tmp_path / "a" / "conv2_2_grid.png") as grid:
        assert grid.height == render.grid([tile] * 3).shape[0] + 14  # a title line on top
    # The other runs share one process (TensorFlow starts once), each through the command's
    # own flag parsing, main and one-line errors (tests/helpers/command_batch.py).
    base = ["--noprogress", "--model", "vgg16", "--weights", "random", "--feat", "conv2_2"]
    # The first run's output includes TensorFlow's start-up: one line, nothing else.
    runs = [["--id", "5", "--lr", "inf", "--out", "b"], ["--id", "5,128", "--out", "b"],
            [*common, "--param", "pixel", "--out", "c"]]
    (bad_lr, _), (bad, _), (second, _) = run_commands(
        "maximize", [[*base, *flags] for flags in runs], tmp_path, cwd=tmp_path)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().splitlines()[-1] == (
        "python -m deconv.maximize: error: --id 128 is out of range for layer 'conv2_2', which "
        "has 128 feature maps (valid ids: 0 to 127).")
    assert not (tmp_path / "b").exists()
    assert bad_lr.returncode == 2 and bad_lr.stderr.strip().splitlines() == [
        "python -m deconv.maximize: error: --lr must be a number from 0 to 10; received 'inf'."]
    assert second.returncode == 0, second.stderr[-2000:]
    for name in ("conv2_2_5.png", "conv2_2_0.png", "conv2_2_1.png", "conv2_2_grid.png"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "c" / name).read_bytes()
    _assert_as_main_wrote(tmp_path / "c", "a")


def _assert_as_main_wrote(folder, run):
    """The files of reference run `run` have the SHA-256 main's files had."""
    expected = json.loads(open(REFERENCE, encoding="utf-8").read())["runs"][run]["files"]
    found = {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in expected}
    assert found == expected
    assert sorted(n for n in os.listdir(folder) if not n.startswith(".")) == sorted(expected)


def test_pixel_without_relu_writes_what_main_wrote(tmp_path):
    flags = json.loads(open(REFERENCE, encoding="utf-8").read())["runs"]["b"]["flags"]
    result = run_command("maximize", "--noprogress", "--model", "vgg16", "--weights", "random",
                         *flags, "--param", "pixel", "--out", "b", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    _assert_as_main_wrote(tmp_path / "b", "b")


def test_fourier_with_diversity_and_natural_images(tmp_path, image_folder):
    result = _maximize_cli("--id", "3,9", "--param", "fourier", "--steps", "4", "--size", "32",
                           "--diversity", "2", "--images", str(image_folder), "--image_size",
                           "40", "--out", "f", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "read 7 images, skipped 3" in result.stdout
    assert "activation / natural top-1 from " in result.stdout
    manifest = json.loads((tmp_path / "f" / "conv2_2.json").read_text())
    assert manifest["settings"]["param"] == "fourier" and manifest["settings"]["steps"] == 4
    assert manifest["settings"]["transforms"]["pad"] == 12 and manifest["sizes"] == [32]
    assert manifest["settings"]["diversity_layer"] == "conv2_2"
    assert [(m["map"], m["copy"]) for m in manifest["maps"]] == [(3, 0), (3, 1), (9, 0), (9, 1)]
    assert len(manifest["similarity"]) == 2
    for entry in manifest["maps"]:
        found = entry["quality"]
        assert found["ratio"] == pytest.approx(found["activation"] / found["natural_top1"])
        with Image.open(tmp_path / "f" / entry["file"]) as picture:
            assert picture.size == (32, 32)


def test_maco_on_lite0_classes_with_a_judge(tmp_path):
    """Lite0's class logits through MACO, judged by Lite1 (real ImageNet weights)."""
    result = run_command("maximize", "--noprogress", "--model", "efficientnet_lite0",
                         "--include_top", "--feat", "predictions", "--id", "1,281", "--param",
                         "maco", "--steps", "3", "--size", "64", "--judge", "efficientnet_lite1",
                         "--out", "m", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "efficientnet_lite1 ranks " in result.stdout
    manifest = json.loads((tmp_path / "m" / "predictions.json").read_text())
    assert manifest["objective"] == "class logit" and manifest["settings"]["judge"] == (
        "efficientnet_lite1")
    first = manifest["maps"][0]
    assert (first["map"], first["name"]) == (1, "goldfish")
    verdict = first["quality"]
    assert 1 <= verdict["rank"] <= 1000 and 0 < verdict["probability"] < 1
    assert len(verdict["top5"]) == 5 and verdict["top5"][0][2] >= verdict["probability"]
    with Image.open(tmp_path / "m" / first["transparency"]) as alpha:
        assert alpha.size == (64, 64) and alpha.mode == "L"
        assert np.asarray(alpha).max() == 255


@pytest.mark.parametrize("flags, message", [
    (["--param", "fourier", "--init_size", "20"], "--init_size does not apply to --param fourier."),
])
def test_bad_combinations_are_one_line(tmp_path, flags, message):
    result = _maximize_cli("--id", "5", *flags, "--out", "x", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"python -m deconv.maximize: error: {message}")
    assert not (tmp_path / "x").exists()
