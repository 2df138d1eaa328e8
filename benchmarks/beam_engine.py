"""Issue 15: `python -m deconv.run` with the local engine and with the Beam engine (DirectRunner,
1 and 2 worker processes) on the same images and sweep, side by side in one run: rounds rotate
the order of the three commands; each command's wall time (TensorFlow's start-up included, as a
user sees it), its pass-1 and pass-2 figures, the Beam workers' busy seconds (Beam counters) and
the peak resident memory (VmHWM) of the driver and of each worker process, read from /proc.

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
BEAM = "--runner=DirectRunner --direct_running_mode=multi_processing --direct_num_workers={}"


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


def _run(engine, workers, images, out):
    command = [sys.executable, "-m", "deconv.run", "--model", "vgg16", "--weights", "random",
               "--feat", "conv4_3", "--top", "9", "--size", "224", "--batch_size", "16",
               "--images", images, "--out", out, "--noprogress"]
    if engine == "beam":
        command += ["--engine", "beam", "--beam_options", BEAM.format(workers)]
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
        raise SystemExit(f"{engine} {workers}: {stderr[-3000:]}")
    summary = [line for line in stdout.splitlines() if "; wrote " in line][-1]
    pass1, pass2 = (float(x) for x in re.search(
        r"(?:pass 1|Beam pipeline \(both passes\)) ([\d.]+) s.*(?:pass 2|drawing) ([\d.]+) s",
        summary).groups())
    busy = re.search(r"workers busy: pass 1 ([\d.]+) s, pass 2 ([\d.]+) s", stdout)
    driver = peaks.pop(process.pid)
    workers_peak = sorted((p for p in peaks.values() if p > 200), reverse=True)
    return {"seconds": seconds, "pass1": pass1, "pass2": pass2,
            "busy1": float(busy.group(1)) if busy else None,
            "busy2": float(busy.group(2)) if busy else None,
            "driver_MiB": driver, "worker_MiB": workers_peak[:workers] if busy else []}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=192)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", default=os.path.join(HERE, "beam_results.json"))
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="beam-bench-")
    try:
        images = os.path.join(work, "images")
        _images(images, args.images)
        kinds = [("local", 0), ("beam", 1), ("beam", 2)]
        rows = {f"{e}{w or ''}": [] for e, w in kinds}
        for number in range(args.rounds):
            order = kinds[number % 3:] + kinds[:number % 3]
            for engine, workers in order:
                out = os.path.join(work, f"out-{engine}{workers}-{number}")
                rows[f"{engine}{workers or ''}"].append(_run(engine, workers, images, out))
                shutil.rmtree(out)
                print(engine, workers, rows[f"{engine}{workers or ''}"][-1], flush=True)
        result = {"images": args.images, "rounds": rows, "median": {}}
        for kind, runs in rows.items():
            result["median"][kind] = {key: float(np.median([r[key] for r in runs]))
                                      for key in ("seconds", "pass1", "pass2")}
        local = rows["local"]
        for kind in ("beam1", "beam2"):
            result["median"][kind]["ratio_to_local"] = float(np.median(
                [b["seconds"] / a["seconds"] for a, b in zip(local, rows[kind])]))
            busy = [r["busy1"] for r in rows[kind]]
            result["median"][kind]["pass1_img_per_worker_s"] = float(np.median(
                [args.images / b for b in busy]))
        with open(args.out, "w") as stream:
            json.dump(result, stream, indent=1)
        print(json.dumps(result["median"], indent=1))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
