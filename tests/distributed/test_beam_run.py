"""`python -m deconv.run --engine beam` against the local engine: the same config over a folder
with corrupt files gives equal manifests (values to 1e-5) and the same grids and index, on the
DirectRunner with two worker processes; the local engine never imports Beam; a worker that
fails names its shard's files and leaves nothing in --out."""
import json
import os
import subprocess
import sys

import pytest

from tests.conftest import GOOD_IMAGES
from tests.conftest import run_command

TWO_WORKERS = ("--runner=DirectRunner --direct_num_workers=2 "
               "--direct_running_mode=multi_processing")
CONFIG = """model = "vgg16"
weights = "random"
seed = 5
batch_size = 3
size = 32
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


@pytest.fixture(scope="module")
def runs(image_folder, tmp_path_factory):
    """`{engine: out folder}` of one run of each engine (same folder name: same index)."""
    root = tmp_path_factory.mktemp("engines")
    config = root / "sweeps.toml"
    config.write_text(CONFIG.format(images=image_folder))
    outs = {engine: root / engine / "out" for engine in ("local", "beam")}
    local = subprocess.run(
        [sys.executable, "-c", _LOCAL, json.dumps(["--config", str(config), "--noprogress",
                                                   "--out", str(outs["local"])])],
        capture_output=True, text=True, timeout=600)
    assert local.returncode == 0, local.stderr[-3000:]
    assert "apache_beam imported: False" in local.stdout
    beam = run_command("run", "--config", str(config), "--noprogress", "--engine", "beam",
                       "--beam_options", TWO_WORKERS, "--out", str(outs["beam"]))
    assert beam.returncode == 0, beam.stderr[-3000:]
    return outs, beam


def _manifests(out):
    found = {}
    for name in sorted(os.listdir(out)):
        if name.endswith(".json"):
            with open(out / name) as stream:
                found[name] = json.load(stream)
    return found


def test_manifests_equal_the_local_engines(runs):
    outs, _ = runs
    local, beam = _manifests(outs["local"]), _manifests(outs["beam"])
    assert len(local) == 3 + 64 and sorted(local) == sorted(beam)
    for name, expected in local.items():
        found = beam[name]
        assert found["settings"].pop("out") == str(outs["beam"])
        assert expected["settings"].pop("out") == str(outs["local"])
        for ours, theirs in zip(found["results"], expected["results"]):
            for key in ("value", "projected_value"):
                assert ours.pop(key) == pytest.approx(theirs.pop(key), rel=1e-5, abs=1e-7)
        assert found == expected  # ranks, images, positions, boxes, counts, skipped files
    counts = local["conv2_2.json"]["counts"]
    assert counts["read"] == GOOD_IMAGES and counts["skipped"] == 3
    assert len({r["path"] for m in local.values() for r in m["results"]}) > 3


def test_grids_and_index_are_the_same_files(runs):
    outs, _ = runs
    names = sorted(n for n in os.listdir(outs["local"]) if n.endswith((".png", ".html")))
    assert len(names) == 2 * 67 + 1
    assert sorted(n for n in os.listdir(outs["beam"]) if not n.startswith(".")) == sorted(
        n for n in os.listdir(outs["local"]) if not n.startswith("."))
    for name in names:
        assert (outs["beam"] / name).read_bytes() == (outs["local"] / name).read_bytes(), name


def test_counters_and_skips_are_reported(runs, image_folder):
    outs, beam = runs
    assert (f"{image_folder.name}: Beam counters: images_read {GOOD_IMAGES}, skipped (not an "
            f"image Pillow can identify) 1, skipped (truncated or corrupt) 1, skipped "
            f"(zero-byte file) 1; workers busy: pass 1 ") in beam.stdout
    assert "; Beam pipeline (both passes) " in beam.stdout and "drawing" in beam.stdout
    for name in ("empty.jpg", "text.png", "cut.png"):
        assert f"warning: Skipping {image_folder / 'bad' / name}: " in beam.stderr
    # Nothing from the workers' start-up, nothing left beside --out.
    assert "sdk_worker" not in beam.stderr and "cuda" not in beam.stderr, beam.stderr[-2000:]
    assert sorted(os.listdir(outs["beam"].parent)) == ["out"]
