"""The local engine's run of one sweep configuration (four sweeps over a folder with corrupt
files; tiles cropped to the effective box, which reads the projections and images outside the
receptive fields too), made once per session, and the comparisons every Beam runner's run of
it must pass."""
import json
import os
import subprocess
import sys

import pytest

CONFIG = """model = "vgg16"
weights = "random"
seed = 5
batch_size = 3
size = 32
crop = "effective"
images = "{images}"

[[sweeps]]
layer = "conv2_2"
top = 4

[[sweeps]]
layer = "conv3_1"
features = 7
top = 5
per_image = 2

[[sweeps]]
layer = "pool2"
features = 3
top = 6
mode = "maps"

[[sweeps]]
layer = "conv1_2"
features = "all"
top = 2
"""

# The local engine run as `python -m deconv.run` would run it, then a look at what it imported.
_LOCAL = """import json, runpy, sys
sys.argv = ["deconv.run", *json.loads(sys.argv[1])]
try:
    runpy.run_module("deconv.run", run_name="__main__", alter_sys=True)
except SystemExit as exit_:
    assert not exit_.code, exit_.code
print("apache_beam imported:", "apache_beam" in sys.modules)
"""


@pytest.fixture(scope="session")
def local_run(image_folder, tmp_path_factory):
    """`(config file, out folder)` of the local engine's run; each engine's run goes to
    `<its own folder>/out` (the same folder name: the same index)."""
    root = tmp_path_factory.mktemp("engines")
    config = root / "sweeps.toml"
    config.write_text(CONFIG.format(images=image_folder))
    out = root / "local" / "out"
    local = subprocess.run(
        [sys.executable, "-c", _LOCAL, json.dumps(["--config", str(config), "--noprogress",
                                                   "--out", str(out)])],
        capture_output=True, text=True, timeout=600)
    assert local.returncode == 0, local.stderr[-3000:]
    assert "apache_beam imported: False" in local.stdout
    return config, out


def manifests(out):
    """`{file name: manifest}` of the JSON files in `out`."""
    found = {}
    for name in sorted(os.listdir(out)):
        if name.endswith(".json"):
            with open(out / name) as stream:
                found[name] = json.load(stream)
    return found


def assert_equal_manifests(local_out, beam_out):
    """Every manifest alike: ranks, images, positions, boxes, counts, skipped files; values to
    1e-5; `--out` aside. Returns the local engine's manifests."""
    local, beam = manifests(local_out), manifests(beam_out)
    assert sorted(local) == sorted(beam)
    for name, expected in local.items():
        found = beam[name]
        assert found["settings"].pop("out", str(beam_out)) == str(beam_out)
        assert expected["settings"].pop("out", str(local_out)) == str(local_out)
        assert len(found["results"]) == len(expected["results"])
        for ours, theirs in zip(found["results"], expected["results"]):
            for key in ("value", "projected_value"):
                assert ours.pop(key) == pytest.approx(theirs.pop(key), rel=1e-5, abs=1e-7)
        assert found == expected, name
    return local


def assert_same_files(local_out, beam_out, suffixes=(".png", ".html")):
    """The same file names in both folders, and those ending in `suffixes` byte for byte
    alike. Returns their names."""
    assert sorted(n for n in os.listdir(beam_out) if not n.startswith(".")) == sorted(
        n for n in os.listdir(local_out) if not n.startswith("."))
    names = sorted(n for n in os.listdir(local_out) if n.endswith(suffixes))
    for name in names:
        assert (beam_out / name).read_bytes() == (local_out / name).read_bytes(), name
    return names
