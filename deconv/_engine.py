"""What the commands share to run on Beam (`--engine beam`, flags in `_cli`): the engine's
modules imported only then, with a one-line error when Beam is missing, and the worker processes'
output kept off the terminal."""
import contextlib
import importlib
import logging
import os
import sys
import tempfile

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
