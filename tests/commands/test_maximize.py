"""python -m deconv.maximize: reproducible pictures, their manifest, one-line errors."""
import json

import numpy as np
from PIL import Image

from deconv.io import render
from tests.conftest import assert_plain_warnings, run_command


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
    bad = _maximize_cli("--id", "5,128", "--out", "b", cwd=tmp_path)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().splitlines()[-1] == (
        "python -m deconv.maximize: error: --id 128 is out of range for layer 'conv2_2', which "
        "has 128 feature maps (valid ids: 0 to 127).")
    assert not (tmp_path / "b").exists()
    bad = _maximize_cli("--id", "5", "--lr", "inf", "--out", "b", cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.strip().splitlines() == [
        "python -m deconv.maximize: error: --lr must be a number from 0 to 10; received 'inf'."]
    second = _maximize_cli(*common, "--out", "c", cwd=tmp_path)
    assert second.returncode == 0, second.stderr[-2000:]
    for name in ("conv2_2_5.png", "conv2_2_0.png", "conv2_2_1.png", "conv2_2_grid.png"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "c" / name).read_bytes()
