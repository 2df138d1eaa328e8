"""Ctrl-C (SIGINT) and SIGTERM in one line, from the first moment a command runs: while Python
and TensorFlow start (a traceback of the import otherwise), while `main` runs (turned into
`KeyboardInterrupt`, which `running.one_line_errors` reports) and after it. Imported first by
`deconv._cli`, which installs the handler in the command lines (`python -m deconv.X`) only.

`STATE` is what the handler, the quiet start-up and `one_line_errors` share about this process:
its phase (`startup`, `main`, `done`), whether a signal came while `main` ran and which, and the
file descriptor of the terminal's standard error (another while start-up captures fd 2).
"""
import contextlib
import os
import signal
import sys

STATE = {"phase": "startup", "interrupted": False, "stderr": 2, "signal": signal.SIGINT}
STOPPED = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated"}  # one line each
STOPPING = tuple(STOPPED)


def prog():
    """How the running command is typed: `python -m deconv.run`."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    return f"python -m {spec.name}" if spec else os.path.basename(sys.argv[0])


def say(line):
    """Writes a line to the terminal's standard error, even while start-up captures fd 2."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os.write(STATE["stderr"], f"{line}\n".encode(errors="replace"))


def on_interrupt(signum, frame):
    """The handler of `STOPPING`: `KeyboardInterrupt` while `main` runs, else one line and exit
    at once (128 + the signal's number)."""
    if STATE["phase"] == "main" and not STATE["interrupted"]:
        STATE.update(interrupted=True, signal=signum)
        raise KeyboardInterrupt
    # Start-up, after the command's work, or a second Ctrl-C: leave now, in one line.
    say(f"{prog()}: {STOPPED[signum]}." if STATE["phase"] != "main" else
        f"{prog()}: {STOPPED[signum]} again: stopped at once.")
    os._exit(128 + signum)


def is_command():
    """Whether this process is a command line, `python -m deconv.X` (not a test, not a
    library user's program: their signal handlers are theirs)."""
    return prog().startswith("python -m deconv.")


def install():
    """Handles SIGINT and SIGTERM with `on_interrupt` in a command line; elsewhere, nothing."""
    if is_command():
        for signum in STOPPING:
            signal.signal(signum, on_interrupt)
