"""How far pass 1 has got, on every runner. Each worker writes, for the shard it scans, a small
file `progress/<shard>.json` in the work folder (files scanned so far, of how many, by which
process) after its first batch, then at most every `ShardProgress.every` seconds, and at its end;
the driver sums them while the pipeline runs (`Watcher`). Beam's own metrics cannot do this: the
Dask runner has none, and the DirectRunner's arrive only when the pipeline ends.

A shard retried after its worker died starts again from 0: its file is overwritten, never
counted twice.
"""
import dataclasses
import json
import os
import socket
import threading
import time

from apache_beam.io.filesystems import FileSystems

FOLDER = "progress"


@dataclasses.dataclass
class Scanned:
    """Pass 1's progress as the local engine's `on_batch(state)` callbacks read it: `cursor`
    files scanned."""
    cursor: int


def shard_file(work, number):
    return FileSystems.join(work, FOLDER, f"{number}.json")


class ShardProgress:
    """A worker's progress on one shard of `total` files, written to `shard_file(work,
    number)` by `write(data)` (the pipeline's guarded write)."""

    every = 2.0  # seconds between two writes of one shard's progress

    def __init__(self, work, number, total, write):
        self.path, self.total, self.write = shard_file(work, number), total, write
        self.last = None

    def update(self, scanned):
        """Records `scanned` files: after the first batch, then every `every` seconds, and
        at the end."""
        now = time.monotonic()
        if self.last is not None and now - self.last < self.every and scanned < self.total:
            return
        self.last = now
        self.write(self.path, json.dumps({
            "scanned": scanned, "of": self.total, "host": socket.gethostname(),
            "pid": os.getpid()}).encode())


def read_all(work, skip=()):
    """`{path: progress}` of every shard's progress file in `work` but those in `skip` (one
    being written is left out until it can be read)."""
    try:
        matched = FileSystems.match([FileSystems.join(work, FOLDER, "*.json")])[0]
    except Exception:  # noqa: BLE001 (no folder yet, or a file system's passing error)
        return {}
    found = {}
    for entry in matched.metadata_list:
        if entry.path in skip:
            continue
        try:
            with FileSystems.open(entry.path) as stream:
                found[entry.path] = json.loads(stream.read())
        except (OSError, ValueError):
            continue
    return found


class Watcher:
    """While the block runs, calls `on_scanned(files)` from a thread whenever the workers'
    progress files in `work` add up to more files scanned than last reported.

    Args:
      work: the pipeline's work folder.
      on_scanned: `on_scanned(files scanned so far)`.
      every: seconds between two looks.
    """

    def __init__(self, work, on_scanned, every=0.5):
        self.work, self.on_scanned, self.every = work, on_scanned, every
        self.done, self.counts, self.reported = set(), {}, 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True,
                                       name="deconv-progress")

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *_):
        self.stop.set()
        self.thread.join()

    def _watch(self):
        while not self.stop.wait(self.every):
            self.look()

    def look(self):
        """Reads the shards not yet finished and reports their sum if it grew."""
        for path, progress in read_all(self.work, self.done).items():
            self.counts[path] = progress["scanned"]
            if progress["scanned"] >= progress["of"]:
                self.done.add(path)
        total = sum(self.counts.values())
        if total > self.reported:
            self.reported = total
            self.on_scanned(total)
