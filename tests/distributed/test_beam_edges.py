"""The Beam engine's edges: options Beam's validators refuse are one line before any work, and
a SIGINT or SIGTERM to the driver of a multi-process run (alone, not its group) stops it at
once with one line, leaving no file and no process behind."""
import os
import signal
import subprocess
import sys
import time

import pytest

from deconv.distributed import options as options_lib
from deconv.errors import DeconvError
from tests.conftest import ROOT
from tests.distributed.test_beam_run import TWO_WORKERS


def _descendants(pid):
    """Every process under `pid`, from `ps` (an oracle independent of deconv's /proc walk)."""
    table = subprocess.run(["ps", "-eo", "pid=,ppid="], capture_output=True, text=True).stdout
    children = {}
    for line in table.splitlines():
        child, parent = (int(word) for word in line.split())
        children.setdefault(parent, []).append(child)
    found, waiting = [], [pid]
    while waiting:
        started = children.get(waiting.pop(), [])
        found += started
        waiting += started
    return found


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as stream:
            return stream.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _worker_processes(pid):
    workers = []
    for child in _descendants(pid):
        try:
            with open(f"/proc/{child}/cmdline", "rb") as stream:
                if b"sdk_worker_main" in stream.read():
                    workers.append(child)
        except OSError:
            continue
    return workers


def test_options_are_validated_and_a_signal_stops_a_multi_process_run(image_folder, tmp_path):
    """Issue 23, item 5."""
    with pytest.raises(DeconvError, match=r"^--beam_options: Missing GCS path option: "
                                          r"temp_location\..*Missing required option: project"):
        options_lib.pipeline_options("--runner=DataflowRunner")
    with pytest.raises(DeconvError, match=r"^--beam_options: --direct_num_workers must be 0 "
                                          r"\(one per core\) or more; received -3\.$"):
        options_lib.pipeline_options("--runner=DirectRunner --direct_num_workers=-3")
    for signum in (signal.SIGINT, signal.SIGTERM):
        out = tmp_path / f"out{signum}"
        process = subprocess.Popen(
            [sys.executable, "-m", "deconv.run", "--model", "vgg16", "--weights", "random",
             "--feat", "conv3_1", "--size", "48", "--batch_size", "1", "--images",
             str(image_folder), "--out", str(out), "--noprogress", "--engine", "beam",
             "--beam_options", TWO_WORKERS],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        deadline = time.monotonic() + 120
        while len(_worker_processes(process.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        workers = _descendants(process.pid)
        assert len(_worker_processes(process.pid)) >= 2, process.communicate(timeout=120)
        time.sleep(1.5)  # the workers start (import TensorFlow) or work
        process.send_signal(signum)  # the driver alone, not its group
        started = time.monotonic()
        stdout, stderr = process.communicate(timeout=120)
        assert time.monotonic() - started < 20, stderr[-2000:]
        assert process.returncode == 128 + signum, stderr[-2000:]
        word = "terminated" if signum == signal.SIGTERM else "interrupted"
        assert stderr.strip().splitlines()[-1] == (
            f"python -m deconv.run: {word}. Files written so far are complete."), stderr[-2000:]
        time.sleep(0.5)
        assert not [pid for pid in workers if _alive(pid)], workers
        assert not out.exists() and not [name for name in os.listdir(tmp_path)
                                         if name.startswith(f".out{signum}")]
