"""What every command-line module shares: quiet logging and one-line errors for bad input.

Import this module before anything that imports TensorFlow: it asks TensorFlow's C++ side to
keep its start-up chatter (oneDNN, CUDA probing) to errors, unless the user chose a level.
"""
import functools
import os
import sys

from absl import flags
from absl import logging

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from deconv.errors import DeconvError


def one_line_errors(main):
    """Wraps an absl `main(argv)` so a `DeconvError` prints `prog: error: message` and exits 2.

    Logging shows warnings and errors unless `--verbosity` (`-v`) is given.
    """

    @functools.wraps(main)
    def wrapped(argv):
        if not flags.FLAGS["verbosity"].present:  # TensorFlow's INFO lines drown our output
            logging.set_verbosity(logging.WARNING)
        try:
            return main(argv)
        except DeconvError as error:
            spec = getattr(sys.modules.get(main.__module__), "__spec__", None)
            prog = f"python -m {spec.name}" if spec else os.path.basename(sys.argv[0])
            print(f"{prog}: error: {error}", file=sys.stderr)
            sys.exit(2)

    return wrapped
