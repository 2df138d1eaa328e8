"""python -m deconv.run: end to end on generated folders, resuming after SIGKILL, one-line
errors."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from deconv.errors import DeconvError
from deconv.sweeps import checkpoint
from deconv.sweeps import config as config_lib
from deconv.sweeps import runner
from tests.conftest import GOOD_IMAGES as GOOD
from tests.conftest import ROOT, assert_plain_warnings, run_command

SIZE = 32


def _manifest(out, name):
    with open(os.path.join(out, name)) as stream:
        return json.load(stream)


def _write(tmp_path, text, name="run.toml"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def _run_cli(*flags):
    return run_command("run", "--noprogress", *flags)


def test_command_line_end_to_end(image_folder, tmp_path):
    result = _run_cli("--feat", "conv2_2", "--id", "5", "--model", "vgg16", "--weights",
                      "random", "--images", str(image_folder), "--size", str(SIZE),
                      "--batch_size", "4", "--imtype", ".png", "--per_image", "2",
                      "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    summary, done = result.stdout.strip().splitlines()[-2:]
    # .png only: img5.jpg, empty.jpg, README.txt are left out; text.png and cut.png are skipped.
    assert summary.startswith(f"{image_folder.name}: read {GOOD - 1} images, skipped 2 (1 not an "
                              f"image Pillow can identify, 1 truncated or corrupt); left out 3 "
                              f"files of other types (.jpg: 2, .txt: 1); pass 1 ")
    assert "img/s" in summary and str(tmp_path / "conv2_2_feat_5.png") in summary
    assert done.startswith("done in ") and done.endswith(f"open {tmp_path / 'index.html'}")
    manifest = _manifest(tmp_path, "conv2_2_5.json")
    assert manifest["settings"]["weights"] == "random" and len(manifest["results"]) == 9
    assert manifest["settings"]["seed"] == 0
    assert manifest["counts"]["ignored_by_extension"] == {".jpg": 2, ".txt": 1}
    paths = [r["path"] for r in manifest["results"]]
    assert all(p.endswith(".png") for p in paths)
    assert max(paths.count(p) for p in paths) == 2
    assert "warning: Skipping" in result.stderr
    assert_plain_warnings(result.stderr, random=True)


def test_command_line_errors_are_one_line(tmp_path):
    # Real runs, for what only the command shows: exit 2 and a single stderr line (TensorFlow's
    # start-up lines filtered), the layer checked before the (missing) image folder is looked
    # at, and no help dump for a stray argument.
    result = _run_cli("--feat", "conv9_1", "--images", str(tmp_path / "missing"))
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("python -m deconv.run: error: Unknown layer 'conv9_1'. Valid layers:")
    result = _run_cli("photo.jpg", "--feat", "conv1_1")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "python -m deconv.run: error: Unexpected arguments: photo.jpg; the images are given as a "
        "folder with --images; see --help."]
    result = _run_cli("--images", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "python -m deconv.run: error: --feat is required (or --config), e.g. --feat conv4_4; "
        "see --help."]  # TensorFlow's start-up lines are filtered too
    # The folder errors: raised by the library call the command makes (runner.find_datasets)
    # and printed as the lines above are; checked in-process (no TensorFlow start-up each).
    (tmp_path / "one.jpg").write_bytes(b"x")
    for images, message in ((tmp_path / "missing", f"Image folder not found: "
                                                   f"'{tmp_path / 'missing'}'."),
                            (tmp_path / "one.jpg", "is a file, not a folder: --images takes a "
                                                   "folder of images.")):
        config = config_lib.RunConfig([config_lib.dataset_from(str(images))],
                                      [config_lib.SweepConfig("conv1_1")])
        with pytest.raises(DeconvError) as raised:
            runner.find_datasets(config)
        assert str(raised.value).endswith(message) and "\n" not in str(raised.value)


def test_a_keras_file_is_recorded_with_its_own_weights(image_folder, tmp_path):
    from tests.conftest import build_custom_cnn
    build_custom_cnn().save(tmp_path / "mine.keras")
    result = _run_cli("--feat", "c2", "--model", str(tmp_path / "mine.keras"), "--images",
                      str(image_folder), "--size", str(SIZE), "--top", "2", "--out",
                      str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr[-2000:]
    manifest = _manifest(tmp_path / "out", "c2.json")
    assert manifest["settings"]["weights"] == "the .keras file's own"
    assert manifest["settings"]["model_file"]["path"] == str(tmp_path / "mine.keras")


def test_missing_default_folder_says_how_to_give_one(tmp_path):
    """An install without the clone's examples/ (pip install ., not -e) has no default images."""
    shutil.copytree(os.path.join(ROOT, "deconv"), tmp_path / "site" / "deconv",
                    ignore=shutil.ignore_patterns("__pycache__"))
    result = run_command("run", "--feat", "conv1_1", "--model", "vgg16", "--weights", "random",
                         cwd=tmp_path, env={"PYTHONPATH": str(tmp_path / "site")})
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert "default image folder" in last and "is missing" in last and "--images DIR" in last


# 60 images of 64 pixels (were 150 of 96): pass 1 still has 25 batches of 2 left when the kill
# lands at image 10, so the run is killed part-way through pass 1 as before, in fewer seconds.
KILL_IMAGES = 60


def _kill_resume_images(root, count=KILL_IMAGES):
    rng = np.random.default_rng(11)
    root.mkdir()
    for i in range(count):
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), np.uint8)).save(root / f"{i:03d}.png")


def _command(images, out, *extra):
    return [sys.executable, "-m", "deconv.run", "--model", "vgg16", "--weights", "random",
            "--feat", "conv5_1", "--images", str(images), "--size", "64", "--batch_size", "2",
            "--checkpoint_every", "1", "--noprogress", "--out", str(out), *extra]


def _saved_cursor(path):
    try:
        return checkpoint.load(path)[1].cursor
    except (TypeError, DeconvError):
        return 0


def test_killed_run_resumes_to_identical_manifests(tmp_path):
    images, out = tmp_path / "images", tmp_path / "out"
    _kill_resume_images(images)
    reference = subprocess.run(_command(images, out, "--top", "5"), capture_output=True,
                               text=True, timeout=600)
    assert reference.returncode == 0, reference.stderr
    expected = {name: (out / name).read_bytes() for name in os.listdir(out)}
    shutil.rmtree(out)

    process = subprocess.Popen(_command(images, out, "--top", "5"), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    state = out / checkpoint.FILE_NAME
    deadline = time.time() + 300
    while _saved_cursor(state) < 10 and process.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    cursor = _saved_cursor(state)
    assert 0 < cursor < KILL_IMAGES, "the run should have been killed part-way through pass 1"
    assert not (out / "conv5_1_feat.png").exists()

    changed = subprocess.run(_command(images, out, "--top", "6"), capture_output=True, text=True,
                             timeout=600)
    assert changed.returncode == 2
    assert "holds an unfinished run with a different config" in changed.stderr.splitlines()[-1]
    assert "--restart" in changed.stderr.splitlines()[-1]

    resumed = subprocess.run(_command(images, out, "--top", "5"), capture_output=True, text=True,
                             timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert f"Resuming {out} at image " in resumed.stderr
    resumed_at = int(resumed.stderr.split(f"Resuming {out} at image ")[1].split()[0])
    assert f" s for the last {KILL_IMAGES - resumed_at} files (" in resumed.stdout  # its own rate
    assert not state.exists()  # a finished run leaves no state behind
    assert {name: (out / name).read_bytes() for name in os.listdir(out)} == expected


def test_file_defaults_apply_to_the_images_flag(tmp_path, folders):
    path = _write(tmp_path, "size = 40\naspect = 'crop'\nimtype = '.png'\n[[sweeps]]\n"
                            "layer = 'conv1_1'\n")
    result = run_command("run", "--config", path, "--weights", "random", "--model", "vgg16",
                         "--images", str(folders / "dog"), "--out", str(tmp_path / "out"),
                         "--noprogress")
    assert result.returncode == 0, result.stderr[-2000:]
    manifest = json.loads((tmp_path / "out" / "conv1_1.json").read_text())
    dataset = manifest["settings"]["dataset"]
    assert (dataset["size"], dataset["aspect"], dataset["imtype"]) == (40, "crop", ".png")


def test_a_graph_model_runs_end_to_end(image_folder, tmp_path):
    """A .keras graph (branches, merges, a gate past a global pool, logits): the sweep's
    crops are each winner's receptive field, the whole image past the global pool."""
    import deconv
    from tests.helpers.graph_model import build_graph_cnn
    build_graph_cnn().save(tmp_path / "graph.keras")
    result = _run_cli("--model", str(tmp_path / "graph.keras"), "--config",
                      _write(tmp_path, "[[sweeps]]\nlayer = 'sum'\nfeatures = 1\ntop = 3\n"
                                       "[[sweeps]]\nlayer = 'predictions'\nfeatures = 2\n"
                                       "top = 2\n"),
                      "--images", str(image_folder), "--size", str(SIZE),
                      "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr[-2000:]
    net = deconv.Deconvnet(deconv.load_model(str(tmp_path / "graph.keras")))
    sums = _manifest(tmp_path / "out", "sum_1.json")["results"]
    assert len(sums) == 3 and all(r["box"] == list(deconv.receptive_field(
        net, "sum", r["position"], (SIZE, SIZE))) for r in sums)
    assert sums[0]["box"] != [0, 0, SIZE, SIZE]
    logits = _manifest(tmp_path / "out", "predictions_2.json")["results"]
    assert [r["box"] for r in logits] == [[0, 0, SIZE, SIZE]] * 2
    assert all(r["position"] == [0, 0] for r in logits)
