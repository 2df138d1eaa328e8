"""What every command-line module shares: quiet start-up and one-line errors for bad input.

Import this module before anything that imports TensorFlow: it asks TensorFlow's C++ side to
keep its start-up chatter (oneDNN, CUDA probing) to errors, unless the user chose a level.
"""
import functools
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from deconv.errors import DeconvError


def one_line_errors(main):
    """Wraps an absl `main(argv)` so a `DeconvError` prints `prog: error: message` and exits 2."""

    @functools.wraps(main)
    def wrapped(argv):
        try:
            return main(argv)
        except DeconvError as error:
            spec = getattr(sys.modules.get(main.__module__), "__spec__", None)
            prog = f"python -m {spec.name}" if spec else os.path.basename(sys.argv[0])
            print(f"{prog}: error: {error}", file=sys.stderr)
            sys.exit(2)

    return wrapped
