"""The Beam engine on a real Dask cluster: `dask scheduler` and two `dask worker` processes on
loopback, started with Dask's own commands by this module (one cluster for all its tests) and
always stopped. `--runner=DaskRunner` by its short name; the sweep (the command line) and the
atlas equal the local engine's outputs; pass 1's progress reaches the terminal; a worker that
raises fails the run with one line and leaves nothing; a worker killed with SIGKILL in the middle
of pass 1, after it has taken a shard, is replaced and its shard scanned again: the run ends
with the local engine's outputs; a task whose workers all died (beyond Dask's retries) fails the
run with one line and leaves nothing."""
import dataclasses
import os
import re
import signal
import threading
import time

import numpy as np
from PIL import Image
import pytest

from deconv.distributed import atlas as beam_atlas
from deconv.distributed import engine
from deconv.distributed import options as options_lib
from deconv.distributed import pipeline
from deconv.distributed import progress
from deconv.distributed import spec as spec_lib
from deconv.errors import DeconvError
from deconv.io import images as image_files
from deconv.sweeps import config as config_lib
from deconv.sweeps import runner
from deconv.unit_atlas import build
from tests.conftest import GOOD_IMAGES
from tests.conftest import RECORD
from tests.conftest import SETTINGS
from tests.conftest import run_command
from tests.distributed.conftest import assert_equal_manifests
from tests.distributed.conftest import assert_same_files
from tests.distributed.test_beam_atlas import _files
from tests.distributed.test_beam_failure import _config
from tests.helpers.cluster import DaskCluster


@pytest.fixture(scope="module")
def dask(tmp_path_factory):
    """The cluster's `--beam_options` (the short runner name); the cluster itself as
    `dask.cluster`. Stopped at the end of the module, and checked: no process left."""
    cluster = DaskCluster(tmp_path_factory.mktemp("dask"))
    try:
        cluster.start()
        yield _Options(f"--runner=DaskRunner --dask_client_address={cluster.address}",
                       cluster)
    finally:
        left = cluster.stop()
        assert not left, f"Dask processes left running: {left}"


class _Options(str):
    """`--beam_options` text that also holds its cluster."""

    def __new__(cls, text, cluster):
        made = super().__new__(cls, text)
        made.cluster = cluster
        return made


def test_dask_options_are_checked_before_any_work(dask):
    options = options_lib.pipeline_options(dask)
    given = options.get_all_options(drop_default=True)
    assert given["runner"] == options_lib.DASK_RUNNER and options_lib.is_dask(options)
    assert given["address"] == dask.cluster.address
    assert given["partition_size"] == 1  # one shard per Dask partition, unless told
    assert options_lib.pipeline_options(f"{dask} --dask_npartitions=3").get_all_options(
        drop_default=True).get("partition_size") is None
    # No scheduler there: one line naming the address, after --dask_connection_timeout.
    closed = dask.cluster.address.rsplit(":", 1)[0] + ":9"
    started = time.monotonic()
    with pytest.raises(DeconvError, match=(
            rf"^--beam_options: no Dask scheduler answers at {closed}: .*`dask scheduler`")):
        options_lib.pipeline_options(f"--runner DaskRunner --dask_client_address={closed} "
                                     f"--dask_connection_timeout=1")
    assert time.monotonic() - started < 15


def test_the_sweep_on_dask_equals_the_local_engines(dask, local_run, image_folder):
    config, local = local_run
    out = local.parent.parent / "dask" / "out"
    result = run_command("run", "--config", str(config), "--engine", "beam", "--beam_options",
                         dask, "--out", str(out))
    assert result.returncode == 0, result.stderr[-3000:] + dask.cluster.logs()
    assert_equal_manifests(local, out)
    assert len(assert_same_files(local, out)) == 2 * 67 + 1
    assert sorted(os.listdir(out.parent)) == ["out"]  # nothing left beside --out
    assert (f"{image_folder.name}: counted on the workers: images_read {GOOD_IMAGES}, skipped "
            f"(not an image Pillow can identify) 1, ") in result.stdout
    # Pass 1's bar moved while the pipeline ran (10 files: 7 images, 3 corrupt).
    bar = [line for line in result.stderr.replace("\r", "\n").splitlines()
           if line.startswith(f"pass 1 {image_folder.name}:")]
    assert bar and "10/10" in bar[-1], result.stderr[-2000:]
    assert "Traceback" not in result.stderr and "distributed." not in result.stderr


def test_the_atlas_on_dask_equals_the_local_one(dask, net16, dataset, atlas, tmp_path):
    root, paths, ignored = dataset
    local_out, _ = atlas
    model_file = tmp_path / "vgg16.keras"  # the workers rebuild the network from its file
    net16.model.save(model_file)
    spec = spec_lib.NetSpec(str(model_file), "imagenet")
    out = tmp_path / "dask" / os.path.basename(local_out)
    layers = build.choose_layers(net16, ["conv1_2", "conv3_1"], SETTINGS)
    on_dask = beam_atlas.AtlasOnBeam(options_lib.pipeline_options(dask), spec, SETTINGS,
                                     per_shard=4)
    updates = {}

    def progress_(description, *_):
        return lambda done, total=None: updates.setdefault(description, []).append(done)

    try:
        outcome = build.build_atlas(net16, paths, root, layers, str(out), SETTINGS, RECORD,
                                    ignored, progress=progress_, scan=on_dask.scan_layers,
                                    projected=on_dask.projected)
    finally:
        on_dask.close()
    assert outcome.made == ["conv1_2", "conv3_1"] and sorted(on_dask.groups) == layers
    assert sorted(os.listdir(out.parent)) == [out.name]  # the workers' results removed
    local, found = _files(local_out), _files(out)
    assert sorted(found) == sorted(local) and len(local) > 20
    assert [name for name in local if local[name] != found[name]] == []
    # Pass 1's bar moved as the workers reported, up to every file.
    assert updates["pass 1"][-1] == len(paths) and updates["pass 1"] == sorted(updates["pass 1"])


def test_a_failing_shard_on_dask_is_one_line_and_leaves_nothing(dask, image_folder, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "earlier.txt").write_text("an earlier run's file")
    spec = spec_lib.NetSpec("vgg16", "random", seed=5)
    paths = image_files.find_images(str(image_folder), image_files.parse_extensions(None))
    with pytest.raises(DeconvError) as raised:
        engine.run_config(spec.build(), spec, _config(tmp_path, image_folder, out),
                          {"test": True}, options_lib.pipeline_options(dask), fail_shard=1)
    assert str(raised.value) == (f"Pass 1 failed on shard 1 (images 3 to 5: {paths[3]}, "
                                 f"{paths[4]}, {paths[5]}): the test's injected failure")
    time.sleep(2)  # the other shards' tasks end on the workers: they must write nothing
    assert sorted(os.listdir(out)) == ["earlier.txt"]
    assert sorted(os.listdir(tmp_path)) == ["out", "run.toml"]


@pytest.fixture(scope="module")
def kill_folder(tmp_path_factory):
    """32 small images: 2 shards of 8 batches of 2, so that a shard is still being scanned
    when its first progress file appears."""
    root = tmp_path_factory.mktemp("kill_images")
    rng = np.random.default_rng(27)
    for number in range(32):
        Image.fromarray(rng.integers(0, 256, (36, 40, 3), np.uint8)).save(
            root / f"im{number:02d}.png")
    return root


def _killer(tmp_path, killed, stop):
    """Watches the run's work folder; at the first shard whose progress shows it half done
    (pass 1's state not yet written), kills its worker process with SIGKILL."""
    while not stop.is_set():
        for work in tmp_path.glob(".out.*.part/work-0"):
            for found in progress.read_all(str(work)).values():
                if 0 < found["scanned"] < found["of"]:
                    killed.update(found, state_written=(work / pipeline.STATE_FILE).exists())
                    os.kill(found["pid"], signal.SIGKILL)
                    return
        time.sleep(0.01)


_SPEC = spec_lib.NetSpec("vgg16", "random", seed=3)  # the runs that lose a worker


def _kill_config(kill_folder, out):
    return config_lib.RunConfig([config_lib.dataset_from(str(kill_folder), size=32)],
                                [config_lib.SweepConfig("conv2_1", None, 4),
                                 config_lib.SweepConfig("conv1_2", 3, 3)],
                                out=str(out), batch_size=2, seed=3)


def _run_killing_a_worker(dask, net, config, tmp_path):
    """`engine.run_config` on the cluster while `_killer` kills a worker in the middle of a
    shard of pass 1; returns `(what run_config returned, or the DeconvError it raised, what
    was killed)`."""
    killed, stop = {}, threading.Event()
    watcher = threading.Thread(target=_killer, args=(tmp_path, killed, stop), daemon=True)
    watcher.start()
    try:
        returned = engine.run_config(net, _SPEC, config, {}, options_lib.pipeline_options(dask),
                                     per_shard=16)
    except DeconvError as error:
        returned = error
    finally:
        stop.set()
        watcher.join()
    assert killed, "no worker was caught in the middle of a shard"
    assert not killed["state_written"], killed
    with pytest.raises(ProcessLookupError):
        os.kill(killed["pid"], 0)
    return returned, killed


@pytest.fixture(scope="module")
def kill_net():
    return _SPEC.build()


def test_a_worker_killed_in_pass_1_is_replaced_and_the_run_ends_alike(dask, kill_folder,
                                                                      kill_net, tmp_path):
    """Dask retries the killed worker's task on another worker (its nanny also starts a new
    worker process): the run ends with the same outputs as the local engine."""
    config = _kill_config(kill_folder, tmp_path / "out")
    local_config = dataclasses.replace(config, out=str(tmp_path / "local" / "out"))
    runner.run_config(kill_net, local_config, {}, {}, found=runner.find_datasets(local_config))
    workers = dask.cluster.worker_pids()
    (outcomes, _, counters), killed = _run_killing_a_worker(dask, kill_net, config, tmp_path)
    assert killed["pid"] in workers
    assert counters[kill_folder.name]["images_read"] == 32
    assert_equal_manifests(tmp_path / "local" / "out", tmp_path / "out")
    assert_same_files(tmp_path / "local" / "out", tmp_path / "out")
    assert next(iter(outcomes.values())).state.read == 32
    dask.cluster.wait_for_workers(2)  # the nanny's new worker process
    assert killed["pid"] not in dask.cluster.worker_pids()


def test_a_task_whose_workers_all_died_fails_in_one_line_and_leaves_nothing(
        dask, kill_folder, kill_net, tmp_path):
    """Once a task has lost more workers than Dask allows (here none; 3 by default), the run
    fails with one line naming the last worker, and nothing appears in or beside --out."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "earlier.txt").write_text("an earlier run's file")
    earlier = dask.cluster.allow_failures(0)
    try:
        error, killed = _run_killing_a_worker(dask, kill_net, _kill_config(kill_folder, out),
                                              tmp_path)
    finally:
        dask.cluster.allow_failures(earlier)
    assert isinstance(error, DeconvError), error
    assert re.fullmatch(
        r"The Beam pipeline failed: one of its tasks was tried on 1 Dask worker\(s\), and each "
        r"died \(Dask retries up to distributed\.scheduler\.allowed-failures times, 3 by "
        r"default\); the last was tcp://127\.0\.0\.1:\d+: see its log\.", str(error)), error
    time.sleep(2)  # the other shard's task ends on its worker: it must write nothing
    assert sorted(os.listdir(out)) == ["earlier.txt"]
    assert sorted(os.listdir(tmp_path)) == ["out"]
