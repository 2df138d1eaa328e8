"""Issues 15 and 27: `python -m deconv.run` with the local engine, the Beam engine on the
DirectRunner (2 worker processes) and on Dask clusters of 1 and 2 workers (`dask scheduler` and
`dask worker` started here, on loopback), on the same images and sweep, side by side in one run:
rounds rotate the order of the commands; each command's wall time (TensorFlow's start-up
included, as a user sees it) on all the images and on 2 of them (what a run costs before its
first image: the fixed cost), its pass-1 and pass-2 figures, the workers' busy seconds, and the
peak resident memory (VmHWM) of the driver, of the DirectRunner's worker processes (read from
/proc while each command runs) and of the Dask scheduler and workers (their whole life). The
Dask clusters' start (until every worker has joined) and each one's first run (its workers
import TensorFlow then) are timed apart.

    .venv/bin/python benchmarks/beam_engine.py [--images N] [--rounds R] [--out FILE]
"""
import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
from tests.helpers.cluster import DaskCluster  # noqa: E402 (the tests' cluster)

DIRECT = "--runner=DirectRunner --direct_running_mode=multi_processing --direct_num_workers=2"
DASK = "--runner=DaskRunner --dask_client_address={}"


def _images(folder, count):
    rng = np.random.default_rng(15)
    os.makedirs(folder, exist_ok=True)
    for i in range(count):
        pixels = rng.integers(0, 256, (256, 320, 3), np.uint8)
        Image.fromarray(pixels).save(os.path.join(folder, f"{i:05d}.jpg"), quality=90)


def _hwm(pid):
    try:
        with open(f"/proc/{pid}/status") as stream:
            found = re.search(r"VmHWM:\s+(\d+) kB", stream.read())
        return int(found.group(1)) / 1024 if found else 0.0
    except OSError:
        return 0.0


def _descendants(pid):
    """Every process below `pid` (children of any of its threads: Beam starts its workers
    from a thread)."""
    children, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        found = []
        for task in glob.glob(f"/proc/{parent}/task/*/children"):
            try:
                with open(task) as stream:
                    found += [int(p) for p in stream.read().split()]
            except OSError:
                continue
        children += found
        frontier += found
    return children


def _run(options, images, out):
    """One command; its figures."""
    command = [sys.executable, "-m", "deconv.run", "--model", "vgg16", "--weights", "random",
               "--feat", "conv4_3", "--top", "9", "--size", "224", "--batch_size", "16",
               "--images", images, "--out", out, "--noprogress"]
    if options:
        command += ["--engine", "beam", "--beam_options", options]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, cwd=ROOT)
    peaks = {}
    while process.poll() is None:
        for pid in [process.pid] + _descendants(process.pid):
            peaks[pid] = max(peaks.get(pid, 0.0), _hwm(pid))
        time.sleep(0.2)
    stdout, stderr = process.communicate()
    seconds = time.perf_counter() - started
    if process.returncode:
        raise SystemExit(f"{options}: {stderr[-3000:]}")
    summary = [line for line in stdout.splitlines() if "; wrote " in line][-1]
    pass1, pass2 = (float(x) for x in re.search(
        r"(?:pass 1|Beam pipeline \(both passes\)) ([\d.]+) s.*(?:pass 2|drawing) ([\d.]+) s",
        summary).groups())
    busy = re.search(r"workers busy: pass 1 ([\d.]+) s, pass 2 ([\d.]+) s", stdout)
    driver = peaks.pop(process.pid)
    return {"seconds": seconds, "pass1": pass1, "pass2": pass2,
            "busy1": float(busy.group(1)) if busy else None,
            "busy2": float(busy.group(2)) if busy else None, "driver_MiB": driver,
            "child_MiB": sorted((p for p in peaks.values() if p > 200), reverse=True)}


def _start_clusters(clusters, work):
    """Starts Dask clusters of 1 and 2 workers into `clusters`; returns each one's seconds
    until every worker has joined."""
    started = {}
    for workers in (1, 2):
        folder = os.path.join(work, f"dask{workers}")
        os.makedirs(folder)
        began = time.perf_counter()
        clusters[f"dask{workers}"] = DaskCluster(folder, workers, idle_timeout=4 * 3600)
        clusters[f"dask{workers}"].start()
        started[f"dask{workers}"] = time.perf_counter() - began
    return started


def _memory(cluster):
    return {"scheduler_MiB": _hwm(cluster.processes["scheduler"].pid),
            "worker_MiB": sorted(_hwm(pid) for pid in cluster.worker_pids())}


def _rounds(kinds, images, few, rounds, work):
    rows = {kind: [] for kind in kinds}
    fixed = {kind: [] for kind in kinds}
    names = list(kinds)
    for number in range(rounds):
        for kind in names[number % len(names):] + names[:number % len(names)]:
            for folder, into in ((images, rows), (few, fixed)):
                out = os.path.join(work, f"out-{kind}-{number}")
                into[kind].append(_run(kinds[kind], folder, out))
                shutil.rmtree(out)
                print(kind, os.path.basename(folder), into[kind][-1], flush=True)
    return rows, fixed


def _medians(rows, fixed, count):
    medians = {}
    local = rows["local"]
    for kind, runs in rows.items():
        found = {key: float(np.median([r[key] for r in runs]))
                 for key in ("seconds", "pass1", "pass2")}
        found["fixed_seconds"] = float(np.median([r["seconds"] for r in fixed[kind]]))
        found["ratio_to_local"] = float(np.median(
            [b["seconds"] / a["seconds"] for a, b in zip(local, runs)]))
        if runs[0]["busy1"] is not None:
            found["pass1_img_per_worker_s"] = float(np.median(
                [count / r["busy1"] for r in runs]))
            found["busy1"] = float(np.median([r["busy1"] for r in runs]))
            found["busy2"] = float(np.median([r["busy2"] for r in runs]))
        found["driver_MiB"] = float(max(r["driver_MiB"] for r in runs))
        medians[kind] = found
    return medians


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default=os.path.join(HERE, "beam_dask_results.json"))
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="beam-bench-")
    clusters = {}
    try:
        images, few = os.path.join(work, "images"), os.path.join(work, "few")
        _images(images, args.images)
        _images(few, 2)
        started = _start_clusters(clusters, work)
        kinds = {"local": "", "direct2": DIRECT,
                 **{name: DASK.format(cluster.address) for name, cluster in clusters.items()}}
        first = {}
        for name in clusters:  # each cluster's first run: its workers import TensorFlow
            out = os.path.join(work, f"first-{name}")
            first[name] = _run(kinds[name], images, out)
            shutil.rmtree(out)
            print(name, "first run", first[name], flush=True)
        rows, fixed = _rounds(kinds, images, few, args.rounds, work)
        result = {"images": args.images, "rounds": rows, "fixed": fixed,
                  "dask_start_seconds": started, "dask_first_run": first,
                  "dask_memory": {name: _memory(c) for name, c in clusters.items()},
                  "direct2_worker_MiB": [r["child_MiB"] for r in rows["direct2"]],
                  "median": _medians(rows, fixed, args.images)}
        with open(args.out, "w") as stream:
            json.dump(result, stream, indent=1)
        print(json.dumps({key: result[key] for key in ("median", "dask_start_seconds",
                                                       "dask_memory")}, indent=1))
    finally:
        for cluster in clusters.values():
            left = cluster.stop()
            if left:
                print(f"warning: Dask processes left: {left}", file=sys.stderr)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
