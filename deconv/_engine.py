"""What the commands share to run on Beam (`--engine beam`, flags in `_cli`): the engine's
modules imported only then, with a one-line error when Beam is missing, and the worker processes'
output kept off the terminal."""
import contextlib
import importlib
import logging
import os
import signal
import sys
import tempfile
import time

from absl import flags

from deconv.errors import DeconvError


def beam_engine(module):
    """Imports `deconv.distributed.<module>` (which imports Apache Beam) for --engine beam.

    Raises:
      DeconvError: Beam is not installed; the message says how to install it.
    """
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # Beam's import warns of Google Cloud clients it lacks
    try:
        import apache_beam  # noqa: F401 (the optional extra, checked here in one line)
    except ImportError:
        raise DeconvError("--engine beam needs Apache Beam: pip install -e '.[beam]' (or pip "
                          "install apache-beam).") from None
    finally:
        root.setLevel(level)
    return importlib.import_module(f"deconv.distributed.{module}")


def options_from_flags():
    """Beam's pipeline options of --engine beam and --beam_options, checked now, before any
    work; None for the local engine.

    Raises:
      DeconvError: --beam_options without --engine beam, Beam missing, a bad option value or
        an unknown runner.
    """
    if flags.FLAGS.engine != "beam":
        if flags.FLAGS["beam_options"].present:
            raise DeconvError("--beam_options needs --engine beam: the local engine takes no "
                              "Beam options.")
        return None
    return beam_engine("options").pipeline_options(flags.FLAGS.beam_options)


class StandardError:
    """`sys.stderr` as it is at each write, for the progress bars: one made before
    `workers_quiet` points `sys.stderr` at the terminal reaches the terminal in the block."""

    def __getattr__(self, name):
        return getattr(sys.stderr, name)


def _descendants():
    """The ids of the processes this one started, and theirs (read from Linux's /proc;
    elsewhere none)."""
    children = {}
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as stream:
                parent = int(stream.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(parent, []).append(int(entry))
    found, waiting = [], [os.getpid()]
    while waiting:
        started = children.get(waiting.pop(), [])
        found += started
        waiting += started
    return found


def _end(processes, grace=2.0):
    """Sends SIGTERM to `processes`, then SIGKILL to those still there after `grace` s."""
    for number, signum in enumerate((signal.SIGTERM, signal.SIGKILL)):
        for pid in processes:
            with contextlib.suppress(OSError):
                os.kill(pid, signum)
        deadline = time.monotonic() + (grace if number == 0 else 0)
        while time.monotonic() < deadline and any(_alive(pid) for pid in processes):
            time.sleep(0.05)


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stream:
            return stream.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


@contextlib.contextmanager
def workers_stopped():
    """While a Beam pipeline runs: SIGINT or SIGTERM (to this process alone, or Ctrl-C to its
    group) first ends the worker processes this process started, then is handled as before
    (the command's one line). Without this, Beam's runner waits for each worker to finish the
    work it holds before it stops, and a worker outlives a SIGTERM."""
    previous = {}

    def stop(signum, frame):
        _end(_descendants())
        handler = previous[signum]
        if callable(handler):
            handler(signum, frame)
        raise KeyboardInterrupt

    for signum in (signal.SIGINT, signal.SIGTERM):
        previous[signum] = signal.signal(signum, stop)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextlib.contextmanager
def workers_quiet():
    """Keeps the start-up lines and logs of Beam's worker processes (which inherit standard
    error: the DirectRunner's) off the terminal while the block runs, and this process's own
    lines on it: `sys.stderr` (progress bars, warnings) writes to the terminal, while file
    descriptor 2, which the workers inherit, goes to a file; `warning: ...` lines written
    there are passed on when the block ends. With `-v`, nothing is filtered."""
    if flags.FLAGS["verbosity"].present:
        yield
        return
    beam_log = logging.getLogger("apache_beam")  # the runner relays its workers' warnings
    level = beam_log.level
    sys.stderr.flush()
    saved = os.dup(2)
    own, terminal = sys.stderr, os.fdopen(os.dup(saved), "w", buffering=1,
                                          encoding=sys.stderr.encoding, errors="replace")
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        beam_log.setLevel(logging.ERROR)
        sys.stderr = terminal
        try:
            yield
        finally:
            sys.stderr = own
            terminal.close()
            beam_log.setLevel(level)
            own.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            for line in captured.read().decode(errors="replace").splitlines():
                if line.startswith("warning: "):
                    print(line, file=sys.stderr)
