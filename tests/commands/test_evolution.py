"""python -m deconv.evolution: the library's columns, written as grids and a manifest."""
import json
import shutil

import numpy as np
from PIL import Image

import deconv
from deconv.analysis import evolution
from deconv.analysis import evolution_pictures
from deconv.io import images as image_files
from deconv.io import streaming
from tests.conftest import run_command
from tests.helpers import training_task as task


def test_command_line_writes_the_librarys_evolution(trained_task, tmp_path):
    images, checkpoints, _, model = trained_task
    folder = tmp_path / "images"  # the task's images, a file to skip and one to leave out
    shutil.copytree(images, folder)
    (folder / "notes.txt").write_text("not an image")
    (folder / "zbad.png").write_bytes(b"not a png")
    flags = ["--model", str(model), "--checkpoints", str(checkpoints),  # a classifier, head too
             "--images", str(folder), "--feat", "c2", "--size", str(task.SIDE),
             "--preprocessing", "unit", "--noprogress"]
    result = run_command("evolution", *flags, "--id", "1,0", "--out", "out", cwd=tmp_path)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert result.stdout.startswith("3 checkpoints (epoch_00, epoch_03, epoch_30), 6 images "
                                    "read, 1 skipped;")
    net = deconv.Deconvnet(evolution.conv_part(task.model(seed=1), ["c2"]), "unit")
    paths = image_files.find_images(str(folder), image_files.parse_extensions(None))
    expected = evolution.feature_evolution(net, "c2", paths, checkpoints=str(checkpoints),
                                           features=[1, 0],
                                           reading=streaming.Reading(task.SIDE))
    manifest = json.loads((tmp_path / "out" / "c2_evolution.json").read_text())
    assert manifest["maps"] == [1, 0] and manifest["counts"]["skipped"] == 1
    assert manifest["counts"]["ignored_by_extension"] == {".txt": 1}
    assert [c["name"] for c in manifest["checkpoints"]] == ["epoch_00", "epoch_03", "epoch_30"]
    for row, cells in zip(manifest["rows"], expected.rows("c2")):
        assert [(w["path"], w["position"], w["value"]) for w in row["by_checkpoint"]] == [
            (c.winner.path, list(c.winner.position), c.winner.value) for c in cells]
    for kind, grid in zip(("feat", "im"), evolution_pictures.grids(expected, "c2")):
        with Image.open(tmp_path / "out" / f"c2_evolution_{kind}.png") as picture:
            np.testing.assert_array_equal(np.asarray(picture.convert("RGB")), grid)
