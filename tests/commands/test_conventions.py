"""One convention in every command: usage errors in one line and exit 2, every number in a
range, Ctrl-C in one line at any moment, plain warnings."""
import ast
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT
from tests.helpers import flag_table

# Numbers whose range depends on the model: checked against it before any work.
MODEL_RANGED = {("run", "id"), ("occlusion", "id"), ("occlusion", "label"), ("sanity", "id")}


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    out = tmp_path_factory.mktemp("flags") / "table.json"
    result = subprocess.run([sys.executable, "-m", "tests.helpers.flag_table", str(out)],
                            capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(out.read_text())


def _error(answer):
    code, stderr = answer
    lines = stderr.strip().splitlines()
    assert code == 2 and len(lines) == 1, answer
    assert lines[0].startswith("python -m tests.helpers.flag_table: error: "), answer
    return lines[0].split(": error: ", 1)[1]


def test_every_number_has_a_range_and_bad_values_are_one_line(table):
    assert set(table) == set(flag_table.COMMANDS)
    numbers = 0
    for command, found in table.items():
        for name, entry in found.items():
            if "lower" not in entry or entry["parser"] not in ("IntegerParser",
                                                               "_FiniteFloatParser"):
                assert entry.get("parser") != "FloatParser", (command, name)  # NaN would pass
                continue
            numbers += 1
            if (command, name) in MODEL_RANGED:
                assert entry["upper"] is None
                continue
            low, high = entry["lower"], entry["upper"]
            assert low is not None and high is not None, (command, name)
            valid = (f"a number from {low:g} to {high:g}" if entry["float"]
                     else f"an integer from {low} to {high}")
            for value, answer in entry["answers"].items():
                assert _error(answer) == f"--{name} must be {valid}; received '{value}'.", (
                    command, name)
    assert numbers >= 30
    assert _error(table["run"]["aspect"]["answers"]["bogus"]) == (
        "--aspect must be one of stretch, crop; received 'bogus'.")
    for command in flag_table.COMMANDS:
        assert _error(table[command]["--unknown"]["answers"]["--nonsense=1"]).startswith(
            "Unknown flag --nonsense"), command


def test_every_command_runs_with_the_one_line_conventions():
    """Each command's `__main__` runs `_cli.run(main)` (our flags parser) and its main is
    wrapped by `_cli.one_line_errors` (errors, warnings, Ctrl-C)."""
    for command in flag_table.COMMANDS:
        tree = ast.parse(open(os.path.join(ROOT, "deconv", f"{command}.py")).read())
        main = next(node for node in tree.body
                    if isinstance(node, ast.FunctionDef) and node.name == "main")
        assert any("one_line_errors" in ast.unparse(d) for d in main.decorator_list), command
        guard = tree.body[-1]
        assert isinstance(guard, ast.If) and ast.unparse(guard.body[0]) == "_cli.run(main)", (
            command)


def _interrupted(resumes, action):
    from deconv import _cli

    @_cli.one_line_errors(resumes=resumes)
    def main(argv):
        action()

    with pytest.raises(SystemExit) as exit_info:
        main(["prog"])
    return exit_info.value.code


def test_interrupts_are_one_line_and_say_resumes_only_where_true(capsys):
    def converted():  # TensorFlow turned the KeyboardInterrupt into an error of its own
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)
        except KeyboardInterrupt:
            raise RuntimeError("Graph execution error: a stack of TensorFlow") from None

    def plain():
        raise KeyboardInterrupt

    before = signal.getsignal(signal.SIGINT)
    for resumes, action in ((False, converted), (True, plain), (False, plain)):
        assert _interrupted(resumes, action) == 130
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and "interrupted" in lines[0], lines
        assert ("resumes" in lines[0]) == resumes, lines
    assert signal.getsignal(signal.SIGINT) == before  # given back


def test_ctrl_c_while_tensorflow_starts_is_one_line(tmp_path):
    process = subprocess.Popen([sys.executable, "-m", "deconv.export", "--feat", "conv1_1",
                                "--weights", "random", "--out", str(tmp_path / "m")],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)  # TensorFlow takes seconds to import
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr[-2000:]
    lines = stderr.strip().splitlines()  # on this machine, in TensorFlow's import
    assert len(lines) == 1 and lines[0].startswith("python -m deconv.export: interrupted"), lines
    assert not os.path.exists(tmp_path / "m")


def test_warnings_are_plain_lines(capfd):
    import logging as std_logging

    from absl import logging

    from deconv import _cli

    @_cli.one_line_errors
    def main(argv):
        logging.warning("Skipping %s: %s", "a.png", "truncated")

    logging.use_absl_handler()  # what absl's app.run does for a command
    try:
        main(["prog"])
    finally:
        std_logging.root.removeHandler(logging.get_absl_handler())
    assert capfd.readouterr().err.strip().splitlines()[-1] == "warning: Skipping a.png: truncated"


FOLDER_READING = ("run", "atlas", "classwise", "overlay", "evolution", "invariance")
COMMON = {"imtype", "size", "aspect", "batch_size", "progress"}


def _grouped_model():
    """Six grouped convolutions: Keras runs each as an XLA function made at each eager call."""
    import keras
    return keras.Sequential([keras.Input((None, None, 3)), keras.layers.Conv2D(4, 1)] + [
        keras.layers.Conv2D(4, 3, padding="same", groups=2, activation="relu", name=f"g{n}")
        for n in range(6)])


def test_one_convention_kept_issue23(table, tmp_path, monkeypatch):
    """Issue 23, item 6: numbers with ranges, the common flags, TensorFlow's noise hidden and
    no retracing, the explorer's API errors as {"error"} and 413 for too many pixels, the atlas
    refusing a foreign --out before the weights load, a config's folder named with its file,
    the explorer's warning for an atlas of another size or model."""
    import logging as std_logging

    import numpy as np
    from PIL import Image

    import deconv
    from deconv import _cli
    from deconv import visualize
    from deconv.errors import DeconvError
    from deconv.io import images
    from deconv.explorer import atlas_folder
    from deconv.sweeps import config as config_lib
    from deconv.sweeps import runner
    from deconv.unit_atlas import files
    from tests.conftest import last_error, run_command
    from tests.helpers.fake_atlas import make_fake_atlas
    # Numbers: -m/-a are a count or a fraction, nothing else.
    for text in ("nan", "-1", "0", "2.5", "inf", "abc", "1e9"):
        with pytest.raises(DeconvError, match=r"^--maps must be a count \(an integer from 1 to "
                                              r"1,000,000\) or a fraction"):
            visualize.count_rule(text, "--maps")
    assert (visualize.count_rule("9"), visualize.count_rule("0.2")) == (9, 0.2)
    # Flags: every folder-reading command takes the common flags; visualize --noprogress.
    for command in FOLDER_READING:
        assert COMMON <= set(table[command]), (command, COMMON - set(table[command]))
    assert "progress" in table["visualize"]
    # Noise: a model of grouped convolutions projects without retracing; the commands hide
    # TensorFlow's Python warnings.
    said = []
    handler = std_logging.Handler()
    handler.emit = lambda record: said.append(record.getMessage())
    std_logging.getLogger("tensorflow").addHandler(handler)
    try:
        net = deconv.Deconvnet(_grouped_model())
        pictures = np.random.default_rng(0).uniform(0, 255, (2, 12, 12, 3)).astype(np.float32)
        for feature in range(3):
            assert np.abs(net.project(pictures, "g5", feature)).max() > 0
    finally:
        std_logging.getLogger("tensorflow").removeHandler(handler)
    assert not [line for line in said if "retracing" in line], said

    @_cli.one_line_errors
    def noisy(argv):
        std_logging.getLogger("tensorflow").warning("5 out of the last 5 calls ... retracing")

    monkeypatch.setattr(std_logging.getLogger("tensorflow"), "level", std_logging.NOTSET)
    noisy(["prog"])
    assert not std_logging.getLogger("tensorflow").isEnabledFor(std_logging.WARNING)
    # The explorer's API: {"error": ...} for unknown routes and methods; 413 "too large".
    _check_explorer_errors(tmp_path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # a "decompression bomb" to Pillow
    Image.new("RGB", (40, 40)).save(tmp_path / "bomb.png")
    assert images.read_image(str(tmp_path / "bomb.png"))[2].startswith("too large (")
    monkeypatch.undo()
    # The atlas refuses an --out holding another atlas before it loads the weights (a file
    # that is not weights would fail to load).
    folder = tmp_path / "pictures"
    folder.mkdir()
    Image.new("RGB", (20, 20), (90, 20, 200)).save(folder / "a.png")
    atlas = tmp_path / "atlas"
    atlas.mkdir()
    (atlas / files.IDENTITY).write_text(
        '{"model": {"name": "vgg19", "include_top": false, "preprocessing": "caffe", "rule": '
        '"deconvnet"}, "weights": {"weights": "random", "seed": 0}, "dataset": {}, '
        '"settings": {}}')
    (tmp_path / "not_weights.h5").write_text("not weights")
    result = run_command("atlas", "--model", "vgg16", "--weights",
                         str(tmp_path / "not_weights.h5"), "--images", str(folder), "--out",
                         str(atlas), "--size", "32", "--layers", "conv1_1", "--noprogress")
    assert result.returncode == 2 and "holds an atlas of the model vgg19" in last_error(result)
    # A configuration's missing images folder is named with the file and the line.
    config = tmp_path / "run.toml"
    config.write_text('weights = "random"\n[[datasets]]\nname = "d"\nimages = "no/such"\n'
                      '[[sweeps]]\nlayer = "conv1_1"\n')
    with pytest.raises(DeconvError, match=rf"^{config}:4: images = 'no/such': Image folder not "
                                          r"found: 'no/such'\. A relative path is read from "
                                          r"the current folder"):
        runner.find_datasets(config_lib.load(str(config)))
    # The explorer warns of an atlas of another size or model.
    made = make_fake_atlas(str(tmp_path / "fake"), layers=(("conv1_1", 4),), sources=2,
                           maximize=False)
    held = atlas_folder.AtlasFolder(str(tmp_path / "fake"))
    record = {"model": "vgg16", "weights": "imagenet",
              "weights_file": {"sha256": made["weights"]["sha256"]}}
    assert held.mismatch(record, 64, "caffe") is None
    assert held.mismatch(record, 224, "caffe") == (
        "the atlas was made at --size 64, the server runs at --size 224")
    assert held.mismatch({**record, "model": "VGG16"}, 64, "caffe",
                         lambda a, b: a.lower() == b.lower()) is None
    assert "with model 'vgg16', the server runs 'vgg16' with its classifier" in held.mismatch(
        {**record, "include_top": True}, 64, "caffe")
    assert "preprocessing 'caffe', the server uses 'torch'" in held.mismatch(record, 64, "torch")


def _check_explorer_errors(tmp_path):
    import io

    import keras
    from fastapi.testclient import TestClient
    from PIL import Image

    import deconv
    from deconv.explorer import app as app_lib
    from deconv.explorer import live
    model = keras.Sequential([keras.Input((None, None, 3)), keras.layers.Conv2D(2, 3, name="c")])
    explorer = live.Explorer(deconv.Deconvnet(model), live.Options(size=16, max_pixels=1000))
    with TestClient(app_lib.build_app(explorer)) as client:
        answer = client.get("/api/nowhere")
        assert answer.status_code == 404 and answer.json() == {
            "error": "No such route: GET /api/nowhere; see the README's API table."}
        answer = client.get("/api/images")
        assert answer.status_code == 405 and answer.json() == {
            "error": "GET /api/images: method not allowed; use POST."}
        picture = io.BytesIO()
        Image.new("RGB", (40, 40)).save(picture, format="PNG")
        answer = client.post("/api/images", content=picture.getvalue())
        assert answer.status_code == 413 and answer.json()["error"].startswith(
            "The image is too large (40x40 is 1,600 pixels, more than the 1,000 allowed)")
