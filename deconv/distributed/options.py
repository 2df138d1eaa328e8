"""Beam's pipeline options from `--beam_options`, checked before any work (Beam's own parser and
runner registry; each problem one line), and what the Dask runner needs besides: its short name,
one shard per partition, and a scheduler that answers. Also where the workers hand their results
back (`work_folder`).
"""
import contextlib
import io
import logging as logging_std
import os
import shlex

from absl import logging
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import DirectOptions
from apache_beam.options.pipeline_options import GoogleCloudOptions
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.options.pipeline_options import StandardOptions
from apache_beam.options.pipeline_options_validator import PipelineOptionsValidator
from apache_beam.runners.runner import create_runner

from deconv.errors import DeconvError

DEFAULT_OPTIONS = ("--runner=DirectRunner --direct_running_mode=multi_processing "
                   "--direct_num_workers={workers}")
DASK_RUNNER = "apache_beam.runners.dask.dask_runner.DaskRunner"
# Beam's registry of short names lacks the Dask runner (Beam 2.77); these names mean it.
_DASK_NAMES = ("dask", "daskrunner", DASK_RUNNER.lower())
# How long the check waits for a scheduler, unless --dask_connection_timeout says.
CONNECT_SECONDS = 10


def pipeline_options(text):
    """Beam's `PipelineOptions` from `--beam_options` text, checked; empty: the DirectRunner
    with one process per core (`DEFAULT_OPTIONS`).

    Raises:
      DeconvError: text that is not a list of options (`--name=value`, `--name value`), a bad
        value, an unknown runner, or a Dask scheduler that does not answer.
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
    return _checked(argv)


@contextlib.contextmanager
def _parser_errors():
    """Beam's parser prints a bad value's error and exits: one line instead."""
    said = io.StringIO()
    try:
        with contextlib.redirect_stderr(said):
            yield
    except SystemExit:
        problem = (said.getvalue().strip().splitlines() or ["a bad value"])[-1]
        raise DeconvError(f"--beam_options: {problem.split('error: ', 1)[-1]}.") from None


def _checked(argv):
    """The options of `argv`, once Beam has parsed every value and knows the runner; an option
    Beam does not know is a warning (it would be ignored)."""
    with _parser_errors():
        runner = PipelineOptions(argv).view_as(StandardOptions).runner
    dask = bool(runner) and runner.lower() in _DASK_NAMES
    if dask:
        argv = _dask_argv(argv)  # imports the runner: Beam then knows its options
    try:
        created = create_runner(DASK_RUNNER if dask else runner or "DirectRunner")
    except (ValueError, ImportError) as error:
        raise DeconvError(f"--beam_options: {' '.join(str(error).split())}") from None
    options, parsers = PipelineOptions(argv), []
    with _parser_errors():
        options.get_all_options(add_extra_args_fn=parsers.append)  # every value parsed
        unknown = [arg for arg in parsers[0].parse_known_args(argv)[1] if arg.startswith("--")]
    problems = _validate(options, created)
    if problems:
        raise DeconvError(f"--beam_options: {' '.join(' '.join(problems).split())}")
    for arg in unknown:
        logging.warning("--beam_options: Beam knows no option %s; it is ignored.",
                        arg.split("=", 1)[0])
    if dask:
        check_scheduler(options)
    return options


def _validate(options, runner):
    """Beam's own validators' complaints about `options` for `runner` (each a sentence:
    Dataflow's required options, ...), and ours about what they let through (a negative
    --direct_num_workers)."""
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


def _dask_argv(argv):
    """`argv` for the Dask runner: its full class name (Beam's registry lacks the short one),
    and, unless given, one element per Dask partition (`--dask_partition_size=1`; Beam's
    default, 128, would put a whole pass 1 of fewer shards in one task, on one worker)."""
    try:
        import dask.distributed  # noqa: F401 (the runner's own import fails less clearly)
        create_runner(DASK_RUNNER)
    except ImportError:
        raise DeconvError("--beam_options: the Dask runner needs Dask's distributed "
                          "scheduler: pip install -e '.[beam]' (or pip install "
                          "'apache-beam[dask]').") from None
    kept, skip = [], False
    for number, arg in enumerate(argv):  # `--runner=NAME` or `--runner NAME` dropped
        if skip:
            skip = False
        elif arg == "--runner":
            skip = number + 1 < len(argv) and not argv[number + 1].startswith("--")
        elif not arg.startswith("--runner="):
            kept.append(arg)
    argv = kept
    argv.append(f"--runner={DASK_RUNNER}")
    if not any(arg.startswith(("--dask_npartitions", "--dask_partition_size")) for arg in argv):
        argv.append("--dask_partition_size=1")
    return argv


def is_dask(options):
    """Whether `options` run the pipeline on the Dask runner."""
    return (options.view_as(StandardOptions).runner or "").lower() in _DASK_NAMES


def check_scheduler(options):
    """Asks the Dask scheduler of `options` (`--dask_client_address` or
    `--dask_scheduler_file`) whether it answers, before any work; without either, the runner
    starts a cluster in this process and there is nothing to ask. A scheduler without workers
    is a warning: the run waits until one joins.

    Raises:
      DeconvError: no scheduler answers there within `--dask_connection_timeout` seconds
        (default `CONNECT_SECONDS`), naming the address.
    """
    from apache_beam.runners.dask.dask_runner import DaskOptions
    from dask import distributed
    given = options.view_as(DaskOptions)
    if not (given.address or given.scheduler_file):
        return
    where = given.address or f"the address in {given.scheduler_file}"
    timeout = given.timeout if isinstance(given.timeout, int) else CONNECT_SECONDS
    try:
        with distributed.Client(address=given.address, scheduler_file=given.scheduler_file,
                                timeout=timeout, set_as_default=False) as client:
            info = client.scheduler_info()
    except Exception as error:  # noqa: BLE001 (OSError, TimeoutError, ValueError...: one line)
        lines = str(error).strip().splitlines() or [type(error).__name__]
        raise DeconvError(f"--beam_options: no Dask scheduler answers at {where}: {lines[0]} "
                          f"(start one with `dask scheduler`, and its workers with `dask "
                          f"worker ADDRESS`).") from None
    if not info.get("n_workers", len(info.get("workers", ()))):
        logging.warning("The Dask scheduler at %s has no workers yet: the run waits until "
                        "one joins (`dask worker %s`).", where, given.address or "ADDRESS")


def work_folder(options, local):
    """Where the workers leave their results: under `--temp_location` when the options give
    one (a remote runner's workers cannot reach the driver's disk), else the local folder."""
    remote = options.view_as(GoogleCloudOptions).temp_location
    return FileSystems.join(remote, f"deconv-{os.path.basename(local)}") if remote else local
