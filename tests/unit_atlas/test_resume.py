"""python -m deconv.atlas killed by SIGKILL in pass 1, then in pass 2, and run again (from a
config file) gives the same atlas.json and the same files as a run that was never killed."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
from PIL import Image

from deconv import _net
from deconv.io import images as image_files
from deconv.sweeps import checkpoint
from deconv.unit_atlas import build
from deconv.unit_atlas import files

# Two layers are enough: the second pass is killed after the first layer's record, so the
# resumed run makes one and reuses one (conv3_1 and conv4_1's 768 units were most of the time).
LAYERS = ["conv1_1", "conv2_1"]
SETTINGS = build.AtlasSettings(top=3, size=32, batch_size=2, tile=16, thumb=8,
                               checkpoint_every=1)


def _images(root, count=60):
    rng = np.random.default_rng(12)
    root.mkdir()
    for number in range(count):
        Image.fromarray(rng.integers(0, 256, (40, 40, 3), np.uint8)).save(
            root / f"{number:03d}.png")


def _command(images, out, *extra):
    return [sys.executable, "-m", "deconv.atlas", "--model", "vgg16", "--weights", "random",
            "--images", str(images), "--out", str(out), "--noprogress", *extra]


FLAGS = ("--layers", ",".join(LAYERS), "--top", "3", "--size", "32", "--batch_size", "2",
         "--tile", "16", "--thumb", "8", "--checkpoint_every", "1")
CONFIG = (f"layers = {json.dumps(LAYERS)}\ntop = 3\nsize = 32\nbatch_size = 2\ntile = 16\n"
          f"thumb = 8\ncheckpoint_every = 1\n")


def _kill_when(command, ready, deadline_s=300):
    """Starts `command`, SIGKILLs it once `ready()`; returns whether it was still running."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + deadline_s
    while not ready() and process.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    running = process.poll() is None
    process.send_signal(signal.SIGKILL)
    process.wait()
    return running


def _saved_cursor(path):
    try:
        return checkpoint.load(path)[1].cursor
    except Exception:  # missing, or caught half-renamed: not yet
        return 0


def _contents(out):
    found = {}
    for folder, _, names in os.walk(out):
        for name in names:
            path = os.path.join(folder, name)
            found[os.path.relpath(path, out)] = open(path, "rb").read()
    return found


def test_killed_atlas_resumes_to_the_same_atlas(tmp_path):
    images, out, reference = tmp_path / "images", tmp_path / "out", tmp_path / "reference"
    _images(images)
    net, load = _net.load_net("vgg16", "random", 0)
    paths, ignored = image_files.scan_folder(str(images), image_files.parse_extensions(None))
    build.build_atlas(net, paths, str(images), build.choose_layers(net, LAYERS, SETTINGS),
                      str(reference), SETTINGS, load(), ignored)

    state = out / files.STATE
    assert _kill_when(_command(images, out, *FLAGS), lambda: _saved_cursor(state) >= 4)
    assert 0 < _saved_cursor(state) < 60 and not (out / files.ATLAS_JSON).exists()

    config = tmp_path / "atlas.toml"
    config.write_text(CONFIG)
    first_layer = out / files.layer_record("conv1_1")
    assert _kill_when(_command(images, out, "--config", str(config)), first_layer.exists)
    assert not (out / files.ATLAS_JSON).exists() and not state.exists()

    resumed = subprocess.run(_command(images, out, "--config", str(config)),
                             capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "2 layers (1 made, 1 from earlier runs)" in resumed.stdout
    done, expected = _contents(out), _contents(reference)
    assert json.loads(done.pop(files.ATLAS_JSON)) == json.loads(expected.pop(files.ATLAS_JSON))
    assert sorted(done) == sorted(expected)
    assert [name for name in done if done[name] != expected[name]] == []
