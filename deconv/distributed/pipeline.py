"""The Beam pipeline of a sweep, both passes in one (the workers start once). Pass 1: shards of
the image list -> `ScanShards` (each worker builds its network once, in `setup`, and scans shard
after shard into a partial `ScanState`) -> `CombineGlobally(MergeScans)`, the shared merge -> one
state file. Pass 2: the merged state -> `PlanGroups` (the winners grouped by image) ->
`ProjectGroups` (projections on the workers, cropped to each receptive field) -> one file per
group. The driver reads these files back from `work`, a folder every worker can write to.

Reference: Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks", ECCV 2014
(arXiv 1311.2901), section 4: the top 9 activations of a feature map across a dataset.
"""
import contextlib
import functools
import io
import json
import logging as logging_std
import os
import re
import shlex
import time

from absl import logging
import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import DirectOptions
from apache_beam.options.pipeline_options import GoogleCloudOptions
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.options.pipeline_options import StandardOptions
from apache_beam.options.pipeline_options_validator import PipelineOptionsValidator
from apache_beam.runners.runner import create_runner
from apache_beam.utils.shared import Shared
import numpy as np

from deconv.distributed.spec import Shard
from deconv.errors import DeconvError
from deconv.sweeps import checkpoint
from deconv.sweeps import scan as scan_lib

# The Beam metrics' namespace: images_read, skipped (<reason>), and the milliseconds the workers
# spent in each pass (start-up not counted): pass 1 worker ms, pass 2 worker ms.
NAMESPACE = "deconv"
_FAILED = "[deconv-worker] "  # marks a worker's own message inside the runner's traceback
_END = " [/deconv-worker]"
STATE_FILE = "pass1.npz"
SHARDS_FILE = "shards.jsonl"
DEFAULT_OPTIONS = ("--runner=DirectRunner --direct_running_mode=multi_processing "
                   "--direct_num_workers={workers}")


def _marked(message):
    return f"{_FAILED}{' '.join(message.split())}{_END}"


def pipeline_options(text):
    """Beam's `PipelineOptions` from `--beam_options` text; empty: the DirectRunner with one
    process per core (`DEFAULT_OPTIONS`).

    Raises:
      DeconvError: text that is not a list of options (`--name=value`, `--name value`).
    """
    text = text or DEFAULT_OPTIONS.format(workers=os.cpu_count() or 1)
    try:
        argv = shlex.split(text)
    except ValueError as error:
        raise DeconvError(f"--beam_options {text!r} cannot be split into options: {error}.") \
            from None
    # A word that is neither an option nor the value of the option before it (`--project P`).
    stray = [arg for number, arg in enumerate(argv) if not arg.startswith("--") and (
        number == 0 or "=" in argv[number - 1] or not argv[number - 1].startswith("--"))]
    if stray:
        raise DeconvError(f"--beam_options takes Beam's own options, each --name=value or --name "
                          f"value (e.g. --runner=DirectRunner --direct_num_workers=2); received "
                          f"{stray[0]!r}.")
    return _checked(PipelineOptions(argv), argv)


def _checked(options, argv):
    """`options`, once Beam has parsed every value, knows the runner and its validators pass
    (Dataflow's required options, ...); a bad value, an unknown runner or a validator's
    complaints are one line, an option Beam does not know a warning (it would be ignored)."""
    said = io.StringIO()
    try:
        with contextlib.redirect_stderr(said):
            known = options.get_all_options()
    except SystemExit:
        problem = (said.getvalue().strip().splitlines() or ["a bad value"])[-1]
        raise DeconvError(f"--beam_options: {problem.split('error: ', 1)[-1]}.") from None
    runner = options.view_as(StandardOptions).runner
    try:
        created = create_runner(runner or "DirectRunner")
    except (ValueError, ImportError) as error:
        raise DeconvError(f"--beam_options: {' '.join(str(error).split())}") from None
    problems = _validate(options, created)
    if problems:
        raise DeconvError(f"--beam_options: {' '.join(' '.join(problems).split())}")
    unknown = [arg for arg in argv if arg.startswith("--")
               and arg[2:].split("=", 1)[0].replace("-", "_") not in known]
    for arg in unknown:
        logging.warning("--beam_options: Beam knows no option %s; it is ignored.",
                        arg.split("=", 1)[0])
    return options


def _validate(options, runner):
    """Beam's own validators' complaints about `options` for `runner` (each a sentence), and
    ours about what they let through (a negative --direct_num_workers)."""
    workers = options.view_as(DirectOptions).direct_num_workers
    if workers is not None and workers < 0:
        return [f"--direct_num_workers must be 0 (one per core) or more; received {workers}."]
    root = logging_std.getLogger()
    level = root.level
    root.setLevel(logging_std.ERROR)  # the validators log what they then report
    try:
        return PipelineOptionsValidator(options, runner).validate()
    finally:
        root.setLevel(level)


def work_folder(options, local):
    """Where the workers leave their results: under `--temp_location` when the options give
    one (a remote runner's workers cannot reach the driver's disk), else the local folder."""
    remote = options.view_as(GoogleCloudOptions).temp_location
    return FileSystems.join(remote, f"deconv-{os.path.basename(local)}") if remote else local


def remove(work):
    """Removes a work folder (what the workers left for the driver), if it is there."""
    if FileSystems.exists(work):
        FileSystems.delete([work])


def _write(path, data):
    with FileSystems.create(path) as stream:
        stream.write(data)


def _read(path):
    with FileSystems.open(path) as stream:
        return stream.read()


class ScanShards(beam.DoFn):
    """Pass 1 of a shard: its images scanned into a partial `ScanState` (image numbers of the
    whole list), counted in Beam metrics.

    Args:
      spec: the `NetSpec` each worker builds its network from.
      sweeps: the checked `Sweep`s.
      reading: a `deconv.io.streaming.Reading`.
      shared: a `Shared` handle: the DoFns of one pipeline share one network per process.
      fail_shard: for tests only: the number of a shard whose scan raises.
    """

    def __init__(self, spec, sweeps, reading, shared, fail_shard=None):
        self.spec, self.sweeps, self.reading, self.fail_shard = spec, sweeps, reading, fail_shard
        self.shared = shared
        self.net = self.run = None

    def setup(self):
        self.net = _build(self.spec, self.shared)
        self.run = scan_lib.candidates_fn(self.net, self.sweeps)

    def process(self, shard):
        started = time.perf_counter()
        state = scan_lib.ScanState.fresh(self.net, self.sweeps)
        state.cursor = shard.first
        try:
            if shard.number == self.fail_shard:
                raise RuntimeError("the test's injected failure")
            for _ in scan_lib.scan(self.net, list(shard.paths), self.sweeps, state,
                                   self.reading, self.run, shard.first):
                pass
        except Exception as error:
            raise RuntimeError(_marked(f"Pass 1 failed on {shard.describe()}: {error}")) \
                from None
        Metrics.counter(NAMESPACE, "images_read").inc(state.read)
        Metrics.counter(NAMESPACE, "pass 1 worker ms").inc(
            round(1000 * (time.perf_counter() - started)))
        for _, reason in state.skipped:
            Metrics.counter(NAMESPACE, f"skipped ({reason.split(' (')[0]})").inc()
        yield state


class MergeScans(beam.CombineFn):
    """The shared merge of partial pass-1 states (`deconv.sweeps.scan.merge_scans`)."""

    def create_accumulator(self):
        return None

    def add_input(self, accumulator, state):
        return state if accumulator is None else scan_lib.merge_scans(accumulator, state)

    def merge_accumulators(self, accumulators):
        return functools.reduce(self.add_input, accumulators, None)

    def extract_output(self, accumulator):
        return accumulator


def _run(pipeline):
    """Runs a built pipeline to its end; returns its result.

    Raises:
      DeconvError: a worker failed (its own message, naming its shard or image), or the runner
        did.
    """
    try:
        result = pipeline.run()
        result.wait_until_finish()
    except Exception as error:  # the runners raise many types, with the worker's traceback
        found = re.search(re.escape(_FAILED) + r"(.*?)" + re.escape(_END), str(error), re.S)
        if found:
            raise DeconvError(found.group(1)) from None
        lines = [line for line in str(error).splitlines() if line.strip()]
        raise DeconvError(f"The Beam pipeline failed: {type(error).__name__}: "
                          f"{lines[-1] if lines else ''}") from None
    return result


def counters(result):
    """`{name: value}` of the pipeline's deconv counters (images read, skipped per reason)."""
    found = result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))["counters"]
    return {counter.key.metric.name: counter.committed or counter.attempted
            for counter in found}


class ProjectGroups(beam.DoFn):
    """Pass 2 of a group of one image's winners, on a worker: `project(net, group)` returns
    `(arrays, meta)` (named arrays and a JSON-ready list), saved to `work`/pass2/<number>.npz
    for the driver (`read_group`).

    A group is `(number, layer, views, chunk)`: `chunk` holds `(index, winner)` items of one
    image (the index means what the group's maker says), `views` what else `project` needs.
    """

    def __init__(self, spec, project, work, shared):
        self.spec, self.project, self.work, self.shared = spec, project, work, shared
        self.net = None

    def setup(self):
        self.net = _build(self.spec, self.shared)

    def process(self, group):
        started = time.perf_counter()
        number, _, _, chunk = group
        try:
            arrays, meta = self.project(self.net, group)
        except Exception as error:
            raise RuntimeError(_marked(f"Pass 2 failed on {chunk[0][1].path}: {error}")) \
                from None
        buffer = io.BytesIO()
        np.savez(buffer, meta=np.array(json.dumps(meta)), **arrays)
        _write(FileSystems.join(self.work, "pass2", f"{number}.npz"), buffer.getvalue())
        Metrics.counter(NAMESPACE, "pass 2 worker ms").inc(
            round(1000 * (time.perf_counter() - started)))
        yield number


class PlanGroups(beam.DoFn):
    """The merged pass-1 state -> pass 2's groups (`plan(net, state, paths)`, the driver's own
    function, so both sides number the groups alike); the paths come from the shards."""

    def __init__(self, spec, plan, shared):
        self.spec, self.plan, self.shared = spec, plan, shared
        self.net = None

    def setup(self):
        self.net = _build(self.spec, self.shared)

    def process(self, state, shards):
        paths = [path for shard in sorted(shards, key=lambda s: s.number) for path in shard.paths]
        yield from self.plan(self.net, state, paths)


def _build(spec, shared):
    """The process's network of `spec`, built by the first DoFn that asks for it."""

    def build():
        try:
            return spec.build()
        except Exception as error:  # any failure: the driver's one line says which
            raise RuntimeError(_marked(f"A worker could not build the network: {error}")) \
                from None

    return shared.acquire(build)


def sweep(options, spec, sweeps, reading, shards, work, plan=None, project=None,
          fail_shard=None):
    """Both passes as one pipeline (the workers start once): `shards` scanned on the workers,
    merged into one `ScanState` (saved for the driver), planned into groups by `plan(net,
    state, paths)` and projected on the workers by `project(net, group)` (`ProjectGroups`).
    With `plan` None: pass 1 only.

    Returns:
      `(state, counters, read_group)`: pass 1's state, the pipeline's counters, and
      `read_group(number)`, which reads back a group's `(meta, arrays)`.
    """
    path = FileSystems.join(work, STATE_FILE)
    # The workers read the shards from a file: a million paths would be too large a pipeline
    # graph for a remote runner (Dataflow refuses jobs over a few MB).
    listing = FileSystems.join(work, SHARDS_FILE)
    _write(listing, "".join(f"{shard.to_json()}\n" for shard in shards).encode())
    pipeline, shared = beam.Pipeline(options=options), Shared()
    parts = (pipeline
             | "Shards" >> beam.io.ReadFromText(listing)
             | "Parse" >> beam.Map(Shard.from_json)
             | "Spread shards" >> beam.Reshuffle())
    merged = (parts
              | "Scan" >> beam.ParDo(ScanShards(spec, sweeps, reading, shared, fail_shard))
              | "Merge" >> beam.CombineGlobally(MergeScans()))
    _ = merged | "Save" >> beam.Map(lambda state: _write(path, checkpoint.state_bytes(state, "")))
    if plan is not None:
        _ = (merged
             | "Plan" >> beam.ParDo(PlanGroups(spec, plan, shared), beam.pvalue.AsList(parts))
             | "Spread" >> beam.Reshuffle()
             | "Project" >> beam.ParDo(ProjectGroups(spec, project, work, shared)))
    result = _run(pipeline)
    _, state = checkpoint.state_from_bytes(io.BytesIO(_read(path)), path)
    return state, counters(result), functools.partial(_read_group, work)


def _read_group(work, number):
    path = FileSystems.join(work, "pass2", f"{number}.npz")
    with np.load(io.BytesIO(_read(path)), allow_pickle=False) as saved:
        return json.loads(str(saved["meta"])), {key: saved[key] for key in saved.files
                                                if key != "meta"}
