"""Running a command's `main`: one-line errors, plain warnings, Ctrl-C in one line, and the
checks of its positional arguments.

Conventions, the same in every command: a usage error (a bad flag value, an unknown flag, bad
input) prints `python -m deconv.X: error: ...` on one line and exits 2; a warning prints
`warning: ...`; Ctrl-C prints one line and exits 130, at any moment (SIGTERM likewise, exit 143).
"""
import functools
import logging as std_logging
import signal
import sys

from absl import app
from absl import flags
from absl import logging

from deconv._cli.flags import parse_flags
from deconv._cli.signals import STATE
from deconv._cli.signals import STOPPED
from deconv._cli.signals import STOPPING
from deconv._cli.signals import is_command
from deconv._cli.signals import on_interrupt
from deconv._cli.signals import prog
from deconv.errors import DeconvError
from deconv.io import images as image_files


def run(main):
    """Runs a command's `main(argv)` (wrapped by `one_line_errors`) with our flags parser."""
    app.run(main, flags_parser=parse_flags)


class _PlainFormatter(std_logging.Formatter):
    """`warning: message`, without absl's date, thread and file prefix."""

    def format(self, record):
        return f"{record.levelname.lower()}: {record.getMessage()}"


def _interrupted_line(resumes):
    stopped = STOPPED[STATE["signal"]]
    return (f"{prog()}: {stopped}. Files written so far are complete" + (
        "; the sweep resumes where it stopped when the same command is run again."
        if (resumes() if callable(resumes) else resumes) else "."))


def one_line_errors(main=None, *, resumes=False):
    """Wraps an absl `main(argv)`: a `DeconvError` prints `prog: error: message` and exits 2;
    Ctrl-C prints one line (saying the work resumes only if `resumes`, a bool or a function
    asked then) and exits 130 (SIGTERM: 143), even when
    TensorFlow turned the interrupt into another exception. Warnings print as `warning: ...`;
    logging shows warnings and errors unless `--verbosity` (`-v`) is given.

    Use as `@one_line_errors` or `@one_line_errors(resumes=True)`.
    """
    if main is None:
        return functools.partial(one_line_errors, resumes=resumes)

    @functools.wraps(main)
    def wrapped(argv):
        if not flags.FLAGS["verbosity"].present:  # TensorFlow's INFO lines drown our output
            logging.set_verbosity(logging.WARNING)  # and TensorFlow's Python warnings too:
            std_logging.getLogger("tensorflow").setLevel(std_logging.ERROR)  # its retracing
        logging.get_absl_handler().setFormatter(_PlainFormatter())
        std_logging.captureWarnings(True)  # Python warnings (Keras's) in the same style
        previous = {signum: signal.signal(signum, on_interrupt) for signum in STOPPING}
        STATE.update(phase="main", interrupted=False, signal=signal.SIGINT)
        try:
            return main(argv)
        except DeconvError as error:
            print(f"{prog()}: error: {error}", file=sys.stderr)
            sys.exit(2)
        except (KeyboardInterrupt, Exception) as error:
            if not (isinstance(error, KeyboardInterrupt) or STATE["interrupted"]):
                raise
            print(_interrupted_line(resumes), file=sys.stderr)
            sys.exit(128 + STATE["signal"])
        finally:
            STATE["phase"] = "done"
            for signum, handler in previous.items() if not is_command() else ():
                signal.signal(signum, handler)

    return wrapped


def no_arguments(argv, hint):
    """Raises a one-line error if a command that takes only flags got positional arguments;
    `hint` says where that input goes instead."""
    if len(argv) > 1:
        raise DeconvError(f"Unexpected arguments: {' '.join(argv[1:])}; {hint}")


def one_image(argv, size, aspect, command):
    """Reads the single IMAGE argument of `python -m deconv.<command>`, resized to `size`.

    Returns:
      `(path, pixels)`.
    """
    if len(argv) != 2:
        raise DeconvError(f"Give one IMAGE, e.g. python -m deconv.{command} photo.jpg; see "
                          f"--help.")
    pixels, _, reason = image_files.read_image(argv[1], size, aspect)
    if reason is not None:
        raise DeconvError(f"Cannot read {argv[1]}: {reason}.")
    return argv[1], pixels
