"""`python -m deconv.run --engine beam` against the local engine: the same config over a folder
with corrupt files gives equal manifests (values to 1e-5) and the same grids and index, on the
DirectRunner with two worker processes; the local engine never imports Beam; a worker that
fails names its shard's files and leaves nothing in --out."""
import os

import pytest

from tests.conftest import GOOD_IMAGES
from tests.conftest import run_command
from tests.distributed.conftest import assert_equal_manifests
from tests.distributed.conftest import assert_same_files

TWO_WORKERS = ("--runner=DirectRunner --direct_num_workers=2 "
               "--direct_running_mode=multi_processing")


@pytest.fixture(scope="module")
def runs(local_run):
    """`{engine: out folder}` of one run of each engine, and the Beam run's process."""
    config, local = local_run
    outs = {"local": local, "beam": local.parent.parent / "beam" / "out"}
    beam = run_command("run", "--config", str(config), "--noprogress", "--engine", "beam",
                       "--beam_options", TWO_WORKERS, "--out", str(outs["beam"]))
    assert beam.returncode == 0, beam.stderr[-3000:]
    return outs, beam


def test_manifests_equal_the_local_engines(runs):
    outs, _ = runs
    local = assert_equal_manifests(outs["local"], outs["beam"])
    assert len(local) == 3 + 64
    counts = local["conv2_2.json"]["counts"]
    assert counts["read"] == GOOD_IMAGES and counts["skipped"] == 3
    assert len({r["path"] for m in local.values() for r in m["results"]}) > 3


def test_grids_and_index_are_the_same_files(runs):
    outs, _ = runs
    assert len(assert_same_files(outs["local"], outs["beam"])) == 2 * 67 + 1


def test_counters_and_skips_are_reported(runs, image_folder):
    outs, beam = runs
    assert (f"{image_folder.name}: counted on the workers: images_read {GOOD_IMAGES}, skipped "
            f"(not an image Pillow can identify) 1, skipped (truncated or corrupt) 1, skipped "
            f"(zero-byte file) 1; workers busy: pass 1 ") in beam.stdout
    assert "; Beam pipeline (both passes) " in beam.stdout and "drawing" in beam.stdout
    for name in ("empty.jpg", "text.png", "cut.png"):
        assert f"warning: Skipping {image_folder / 'bad' / name}: " in beam.stderr
    # Nothing from the workers' start-up, nothing left beside --out.
    assert "sdk_worker" not in beam.stderr and "cuda" not in beam.stderr, beam.stderr[-2000:]
    assert sorted(os.listdir(outs["beam"].parent)) == ["out"]
