"""The Beam pipeline of a sweep, both passes in one (the workers start once), as one chain of
transforms that every runner runs alike. Pass 1: references to the shards of the image list
(`Create`; the paths stay in a file) -> `ScanShards` (each worker process builds its network
once and scans shard after shard into a partial `ScanState`, writing its progress) ->
`MergeInTwo` (the shared merge, `MergeScans`, in two levels) -> `Save` (the state, for the
driver). Pass 2: `PlanGroups` (the winners grouped by image) -> `Spread` -> `ProjectGroups`
(projections on the workers, one file per group). The driver reads these files back from
`work`, a folder every worker can write to (`Handback`).

What the chain avoids, for the Dask runner (Beam 2.77), which translates only `Create`, `ParDo`,
`GroupByKey` and `Flatten`, and computes only the pipeline's last transform: a source transform
(`ReadFromText`: its reads become nothing), branches (a second branch never runs), side inputs
(each task would recompute them), `CombineGlobally`'s default value (a side input) and one
merge of every shard's state in one place (it lifts no combiner); the counts come from the
data, not from Beam's metrics (the Dask runner has none).

Reference: Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks", ECCV 2014
(arXiv 1311.2901), section 4: the top 9 activations of a feature map across a dataset.
"""
import contextlib
import functools
import io
import json
import math
import re
import threading
import time

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.utils.shared import Shared
import numpy as np

from deconv.distributed import progress
from deconv.distributed.spec import Shard
from deconv.distributed.spec import listing
from deconv.errors import DeconvError
from deconv.sweeps import checkpoint
from deconv.sweeps import scan as scan_lib

# The Beam metrics' namespace (for the runners that show them): images_read, skipped
# (<reason>), and the milliseconds the workers spent in each pass (start-up not counted).
NAMESPACE = "deconv"
_FAILED = "[deconv-worker] "  # marks a worker's own message inside the runner's traceback
_END = " [/deconv-worker]"
STATE_FILE = "pass1.npz"
TIMES_FILE = "pass1.json"
SHARDS_FILE = "shards.jsonl"


def _marked(message):
    return f"{_FAILED}{' '.join(message.split())}{_END}"


def remove(work):
    """Removes a work folder (what the workers left for the driver), if it is there."""
    if FileSystems.exists(work):
        FileSystems.delete([work])


def _write(path, data):
    with FileSystems.create(path) as stream:
        stream.write(data)


def _read(path, offset=0, length=-1):
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as stream:
        stream.seek(offset)
        return stream.read(length)


def _handed_back(work, path, data):
    """A worker's write into `work`, refused once the driver has removed it (a run that
    failed; the runner may still be finishing other tasks): nothing appears beside --out."""
    if not FileSystems.exists(FileSystems.join(work, SHARDS_FILE)):
        raise RuntimeError(_marked(f"The run has ended: {work} is gone."))
    _write(path, data)


class _Network:
    """A worker process's network and the lock its computations take in turn (a Dask worker
    runs tasks in several threads; the first calls of a graph are not thread-safe)."""

    def __init__(self, net):
        self.net, self.lock = net, threading.Lock()


def _build(spec, shared):
    """The process's `_Network` of `spec`, built by the first DoFn that asks for it and kept
    (Beam's `Shared`): the Dask runner calls `setup` once per task, not once per worker."""

    def build():
        try:
            return _Network(spec.build())
        except Exception as error:  # any failure: the driver's one line says which
            raise RuntimeError(_marked(f"A worker could not build the network: {error}")) \
                from None

    return shared.acquire(build)


class ScanShards(beam.DoFn):
    """Pass 1 of a shard (a `ShardRef`; its paths read from the shard list `work`/shards.jsonl):
    its images scanned into a partial `ScanState` (image numbers of the whole list), emitted as
    `(shard number, (state, milliseconds it took))`; the progress written to `work`/progress.

    Args:
      spec: the `NetSpec` each worker builds its network from.
      sweeps: the checked `Sweep`s.
      reading: a `deconv.io.streaming.Reading`.
      shared: a `Shared` handle: the DoFns of one pipeline share one network per process.
      work: the work folder.
      fail_shard: for tests only: the number of a shard whose scan raises.
    """

    def __init__(self, spec, sweeps, reading, shared, work, fail_shard=None):
        self.spec, self.sweeps, self.reading, self.fail_shard = spec, sweeps, reading, fail_shard
        self.shared, self.work = shared, work
        self.network = self.run = None

    def setup(self):
        self.network = _build(self.spec, self.shared)
        with self.network.lock:
            self.run = scan_lib.candidates_fn(self.network.net, self.sweeps)

    def process(self, ref):
        started = time.perf_counter()
        shard = Shard.from_json(_read(FileSystems.join(self.work, SHARDS_FILE), ref.offset,
                                      ref.length))
        net = self.network.net
        state = scan_lib.ScanState.fresh(net, self.sweeps)
        state.cursor = shard.first
        shown = progress.ShardProgress(self.work, shard.number, len(shard.paths),
                                       functools.partial(_handed_back, self.work))
        try:
            if shard.number == self.fail_shard:
                raise RuntimeError("the test's injected failure")
            with self.network.lock:
                for _ in scan_lib.scan(net, list(shard.paths), self.sweeps, state,
                                       self.reading, self.run, shard.first):
                    shown.update(state.cursor - shard.first)
        except Exception as error:
            raise RuntimeError(_marked(f"Pass 1 failed on {shard.describe()}: {error}")) \
                from None
        milliseconds = round(1000 * (time.perf_counter() - started))
        Metrics.counter(NAMESPACE, "images_read").inc(state.read)
        Metrics.counter(NAMESPACE, "pass 1 worker ms").inc(milliseconds)
        for _, reason in state.skipped:
            Metrics.counter(NAMESPACE, f"skipped ({reason.split(' (')[0]})").inc()
        yield shard.number, (state, milliseconds)


class MergeScans(beam.CombineFn):
    """The shared merge of partial pass-1 states (`deconv.sweeps.scan.merge_scans`), their
    workers' milliseconds added."""

    def create_accumulator(self):
        return None

    def add_input(self, accumulator, scanned):
        if accumulator is None:
            return scanned
        return (scan_lib.merge_scans(accumulator[0], scanned[0]),
                accumulator[1] + scanned[1])

    def merge_accumulators(self, accumulators):
        return functools.reduce(self.add_input, accumulators, None)

    def extract_output(self, accumulator):
        return accumulator


class MergeInTwo(beam.PTransform):
    """`(number, scanned)` -> the merged `(state, milliseconds)`, in two levels: `parts` groups
    of shards (by number) merged apart, then their results. On runners that lift combiners
    (the DirectRunner, Dataflow, Flink) this costs nothing; on the Dask runner, which does not,
    it keeps every shard's state from travelling to one task (an atlas of many layers holds
    about a megabyte per shard)."""

    def __init__(self, parts):
        super().__init__()
        self.parts = parts

    def expand(self, pcoll):
        return (pcoll
                | "Part" >> beam.Map(_in_part, self.parts)
                | "Merge parts" >> beam.CombinePerKey(MergeScans())
                | "Results" >> beam.Values()
                | "Merge results" >> beam.CombineGlobally(MergeScans()).without_defaults())


def _in_part(numbered, parts):
    number, scanned = numbered
    return number % parts, scanned


def _save(scanned, work):
    """The merged pass 1 written for the driver; passes the state on."""
    state, milliseconds = scanned
    _handed_back(work, FileSystems.join(work, STATE_FILE), checkpoint.state_bytes(state, ""))
    _handed_back(work, FileSystems.join(work, TIMES_FILE),
                 json.dumps({"pass 1 worker ms": milliseconds}).encode())
    return state


class PlanGroups(beam.DoFn):
    """The merged pass-1 state -> pass 2's groups (`plan(net, state, paths)`, the driver's own
    function, so both sides number the groups alike); the paths read from the shard list."""

    def __init__(self, spec, plan, shared, work):
        self.spec, self.plan, self.shared, self.work = spec, plan, shared, work
        self.network = None

    def setup(self):
        self.network = _build(self.spec, self.shared)

    def process(self, state):
        lines = _read(FileSystems.join(self.work, SHARDS_FILE)).decode().splitlines()
        paths = [path for line in lines for path in Shard.from_json(line).paths]
        with self.network.lock:
            groups = list(self.plan(self.network.net, state, paths))
        yield from groups


def _keyed(group):
    return group[0], group


def _values(keyed):
    yield from keyed[1]


class Spread(beam.PTransform):
    """Spreads numbered elements over the workers: keyed by their number and grouped (every
    runner's `GroupByKey` redistributes; the Dask runner's `Reshuffle` does nothing)."""

    def expand(self, pcoll):
        return (pcoll
                | "Key" >> beam.Map(_keyed)
                | "Group" >> beam.GroupByKey()
                | "Values" >> beam.FlatMap(_values))


class ProjectGroups(beam.DoFn):
    """Pass 2 of a group of one image's winners, on a worker: `project(net, group)` returns
    `(arrays, meta)` (named arrays and a JSON-ready list), saved to `work`/pass2/<number>.npz
    for the driver (`Handback.group`).

    A group is `(number, layer, extra, chunk)`: `chunk` holds `(key, winner)` items of one
    image (the key means what the group's maker says), `extra` what else `project` needs.
    """

    def __init__(self, spec, project, work, shared):
        self.spec, self.project, self.work, self.shared = spec, project, work, shared
        self.network = None

    def setup(self):
        self.network = _build(self.spec, self.shared)

    def process(self, group):
        started = time.perf_counter()
        number, _, _, chunk = group
        try:
            with self.network.lock:
                arrays, meta = self.project(self.network.net, group)
        except Exception as error:
            raise RuntimeError(_marked(f"Pass 2 failed on {chunk[0][1].path}: {error}")) \
                from None
        milliseconds = round(1000 * (time.perf_counter() - started))
        buffer = io.BytesIO()
        np.savez(buffer, meta=np.array(json.dumps(meta)), ms=np.array(milliseconds), **arrays)
        _handed_back(self.work, FileSystems.join(self.work, "pass2", f"{number}.npz"),
                     buffer.getvalue())
        Metrics.counter(NAMESPACE, "pass 2 worker ms").inc(milliseconds)
        yield number


def _run(pipeline):
    """Runs a built pipeline to its end (and lets go of the Dask runner's client).

    Raises:
      DeconvError: a worker failed (its own message, naming its shard or image), or the runner
        did.
    """
    try:
        result = pipeline.run()
        try:
            result.wait_until_finish()
        finally:
            client = getattr(result, "client", None)  # the Dask runner's, left open by Beam
            if client is not None:
                client.close()
    except Exception as error:  # the runners raise many types, with the worker's traceback
        found = re.search(re.escape(_FAILED) + r"(.*?)" + re.escape(_END), str(error), re.S)
        if found:
            raise DeconvError(found.group(1)) from None
        died = re.search(r"on (\d+) different workers.*? was (\S+?)\.? ", str(error), re.S)
        if type(error).__name__ == "KilledWorker" and died:
            raise DeconvError(f"The Beam pipeline failed: one of its tasks was tried on "
                              f"{died.group(1)} Dask worker(s), and each died (Dask retries up "
                              f"to distributed.scheduler.allowed-failures times, 3 by "
                              f"default); the last was {died.group(2)}: see its log.") from None
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        # A short message whole (Dask's own span lines), a traceback by its last line.
        said = " ".join(lines) if len(lines) <= 4 else lines[-1]
        raise DeconvError(f"The Beam pipeline failed: {type(error).__name__}: {said}") \
            from None


class Handback:
    """What the workers left in `work` for the driver: pass 1's merged state, pass 2's groups,
    and the counts (`counters`)."""

    def __init__(self, work):
        self.work = work
        self.pass2_ms = 0

    def state(self):
        """`(ScanState, the workers' pass-1 milliseconds)`."""
        path = FileSystems.join(self.work, STATE_FILE)
        _, state = checkpoint.state_from_bytes(io.BytesIO(_read(path)), path)
        times = json.loads(_read(FileSystems.join(self.work, TIMES_FILE)))
        return state, times["pass 1 worker ms"]

    def group(self, number):
        """Group `number`'s `(meta, arrays)`, as `project` returned them on a worker."""
        path = FileSystems.join(self.work, "pass2", f"{number}.npz")
        with np.load(io.BytesIO(_read(path)), allow_pickle=False) as saved:
            self.pass2_ms += int(saved["ms"])
            return json.loads(str(saved["meta"])), {key: saved[key] for key in saved.files
                                                    if key not in ("meta", "ms")}

    def counters(self, state, pass1_ms):
        """`{name: value}`: images read, skipped per reason, the workers' milliseconds in pass 1
        and in the groups of pass 2 read so far (the names of the Beam metrics)."""
        found = {"images_read": state.read, "pass 1 worker ms": pass1_ms,
                 "pass 2 worker ms": self.pass2_ms}
        for _, reason in state.skipped:
            key = f"skipped ({reason.split(' (')[0]})"
            found[key] = found.get(key, 0) + 1
        return found


def sweep(options, spec, sweeps, reading, shards, work, plan=None, project=None,
          fail_shard=None, on_scanned=None):
    """Both passes as one pipeline (the workers start once): `shards` scanned on the workers,
    merged into one `ScanState` (saved for the driver), planned into groups by `plan(net,
    state, paths)` and projected on the workers by `project(net, group)` (`ProjectGroups`).
    With `plan` None: pass 1 only. `on_scanned(files)` is called, from another thread, as the
    workers report their progress.

    Returns:
      `(state, pass-1 milliseconds, handback)`: pass 1's merged state, the workers' time in
      it, and the `Handback` that reads pass 2's groups.
    """
    text, refs = listing(shards)
    _write(FileSystems.join(work, SHARDS_FILE), text)
    pipeline, shared = beam.Pipeline(options=options), Shared()
    chain = (pipeline
             | "Shards" >> beam.Create(refs)
             | "Scan" >> beam.ParDo(ScanShards(spec, sweeps, reading, shared, work,
                                               fail_shard))
             | "Merge" >> MergeInTwo(max(1, round(math.sqrt(len(shards)))))
             | "Save" >> beam.Map(_save, work))
    if plan is not None:
        _ = (chain
             | "Plan" >> beam.ParDo(PlanGroups(spec, plan, shared, work))
             | "Spread" >> Spread()
             | "Project" >> beam.ParDo(ProjectGroups(spec, project, work, shared)))
    with (progress.Watcher(work, on_scanned) if on_scanned else contextlib.nullcontext()):
        _run(pipeline)
    handback = Handback(work)
    state, pass1_ms = handback.state()
    if on_scanned is not None:
        on_scanned(state.read + len(state.skipped))
    return state, pass1_ms, handback
