"""README.md's command examples run as written: every example's flags are parsed by its
command's own parser (default suite), and under the `zoo` marker each example runs, in README
order, in a folder where its placeholders exist (photo.jpg, DIR, my.weights.h5, my_cnn.keras,
parts.json, ...), with random weights where it names none and smaller images and schedules to
keep it short."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT
from tests.helpers import readme_examples

EXAMPLES = os.path.join(ROOT, "examples", "images")
# Appended to an example (absl: the last value wins) unless it gives the flag itself.
FASTER = {"run": ["--size", "64"], "atlas": ["--size", "48", "--top", "3"],
          "visualize": ["--size", "64"], "maximize": ["--rounds", "2", "--steps", "3"],
          "classwise": ["--size", "64"], "overlay": ["--size", "64"],
          "evolution": ["--size", "64"], "invariance": ["--size", "64"],
          "correspondence": ["--size", "64", "--trials", "2"], "occlusion": ["--stride", "56"]}
NO_WEIGHTS_FLAG = ("evolution", "pretrained")
# An atlas on Beam's in-process DirectRunner (the "..." of --beam_options) of every conv layer
# of VGG19 takes over half an hour on two busy cores: its first and last layers only.
BEAM_ATLAS_LAYERS = ["--layers", "block1_conv1,block5_conv4"]


STALE = ("VGG-style", "vgg16 or vgg19", "through VGG", "chain of Conv2D", "README sections for "
         "issue", "whole VGG with its classifier", "VGG19/VGG16")


def test_every_readme_example_parses_with_its_commands_flags(tmp_path):
    """Issue 23, item 7 (the text): each README example's flags exist and its values are valid
    for its command; no text the user reads (README, setup.py, --help, the package's and its
    models' docstrings, the weights' hint) says deconv is for VGG-style chains."""
    out = tmp_path / "parsed.json"
    result = subprocess.run([sys.executable, "-m", "tests.helpers.readme_examples", str(out)],
                            capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(out.read_text())
    parsed, helps = found["examples"], found["help"]
    texts = {"README.md": open(os.path.join(ROOT, "README.md"), encoding="utf-8").read(),
             "setup.py": open(os.path.join(ROOT, "setup.py"), encoding="utf-8").read(),
             **{path: open(os.path.join(ROOT, path), encoding="utf-8").read() for path in (
                 "deconv/models/weights.py", "deconv/__init__.py", "deconv/models/__init__.py",
                 "deconv/models/loading.py")},
             **{f"deconv.{command} --help": text for command, text in helps.items()}}
    assert [(where, stale) for where, text in texts.items() for stale in STALE
            if stale in text] == []
    assert "--model" in helps["run"] and "resnet50" in helps["run"]
    assert len(parsed) >= 40 and {entry["command"] for entry in parsed} >= {
        "run", "atlas", "occlusion", "visualize", "maximize", "classwise", "overlay",
        "evolution", "invariance", "correspondence", "export", "serve"}
    assert [(entry["line"], entry["error"]) for entry in parsed if entry["error"]] == []
    # The zoo run below runs EfficientNet-Lite0 too (random weights: no wheel needed).
    assert [entry["line"] for entry in parsed if "efficientnet_lite0" in entry["argv"]]


def _pictures(folder, count, classes=False):
    names = sorted(os.listdir(EXAMPLES))[:count]
    for number, name in enumerate(names):
        target = folder / (("cats", "dogs")[number % 2] if classes else "") / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(os.path.join(EXAMPLES, name), target)


def _placeholders(work, home):
    """Makes what the examples name: images, folders, weights, models, checkpoints, parts."""
    import deconv
    import keras
    for name, source in (("photo.jpg", "chelsea.jpg"), ("a.jpg", "astronaut.jpg"),
                         ("b.jpg", "coffee.jpg"), ("c.jpg", "chelsea.jpg")):
        shutil.copy(os.path.join(EXAMPLES, source), work / name)
    for folder in (work / "DIR", home / "data" / "people", home / "photos", home / "data"):
        _pictures(folder, 4)
    _pictures(work / "data" / "train", 6, classes=True)
    for name in ("configs", "examples"):
        os.symlink(os.path.join(ROOT, name), work / name)
    vgg16 = deconv.load_model("vgg16", weights=None, seed=1)
    for name in ("my.weights.h5", "my_vgg16.weights.h5"):
        vgg16.save_weights(str(work / name))
    (work / "ckpt").mkdir()
    vgg19 = deconv.load_model("vgg19", weights=None, seed=2)
    vgg19.save_weights(str(work / "ckpt" / "epoch1.weights.h5"))
    cnn = keras.Sequential([keras.Input((None, None, 3))] + [
        keras.layers.Conv2D(8, 3, activation="relu", name=name)
        for name in ("conv1", "conv2", "my_layer", "conv4")], name="my_cnn")
    cnn.save(work / "my_cnn.keras")
    for name in ("a.weights.h5", "b.weights.h5"):
        cnn.save_weights(str(work / name))
    cnn.save(work / "c.keras")
    (work / "parts.json").write_text(json.dumps({
        "a.jpg": {"nose": [100, 80, 180, 160]}, "b.jpg": {"nose": [120, 90, 200, 170]}}))


def _argv(command, argv, home):
    argv = [os.path.join(home, word[2:]) if word.startswith("~/") else word for word in argv]
    argv = ["--runner=DirectRunner" if word == "..." else word for word in argv]
    given = {word.split("=")[0].lstrip("-") for word in argv if word.startswith("-")}
    if command not in NO_WEIGHTS_FLAG and "weights" not in given:
        argv += ["--weights", "random"]
    extra = FASTER.get(command, []) + (
        BEAM_ATLAS_LAYERS if command == "atlas" and "engine" in given else [])
    for flag, value in zip(extra[::2], extra[1::2]):
        if flag[2:] not in given and not (flag == "--size" and "include_top" in given):
            argv += [flag, value]
    return argv + (["--noprogress"] if command not in ("export", "serve") else [])


def _serve(argv, work):
    """Starts the explorer, waits for its address, stops it with Ctrl-C."""
    process = subprocess.Popen([sys.executable, "-m", "deconv.serve", *argv, "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               cwd=work)
    line = process.stdout.readline()
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=120)
    return line


# Outputs of an example that a later one reads (overlay's --class_maps, serve's --atlas).
HANDED_ON = ("classwise", "atlas")


@pytest.mark.zoo
def test_every_readme_example_runs(tmp_path):
    """Each example in a folder of its own, the placeholders linked in (so that two examples
    writing one --out do not meet); the times are printed (pytest -s)."""
    shared, home = tmp_path / "shared", tmp_path / "home"
    shared.mkdir()
    home.mkdir()
    _placeholders(shared, home)
    failed = []
    for number, (line, command, argv) in enumerate(readme_examples.examples()):
        work = tmp_path / f"{number:02d}"
        work.mkdir()
        for name in os.listdir(shared):
            os.symlink(shared / name, work / name)
        argv = _argv(command, argv, str(home))
        started = time.monotonic()
        if command == "serve":
            if "is at http://" not in _serve(argv, work):
                failed.append(line)
        else:
            try:
                result = subprocess.run([sys.executable, "-m", f"deconv.{command}", *argv],
                                        capture_output=True, text=True, cwd=work, timeout=1800)
            except subprocess.TimeoutExpired:
                failed.append(f"{line}: still running after 1800 s")
                continue
            if result.returncode != 0:
                failed.append(f"{line}: {result.stderr.strip().splitlines()[-1:]}")
        print(f"{time.monotonic() - started:6.1f} s  {line}")
        for name in HANDED_ON:
            if (work / name).is_dir() and not (work / name).is_symlink() and not (
                    shared / name).exists():
                shutil.move(str(work / name), shared / name)
    assert failed == [], "\n".join(failed)
