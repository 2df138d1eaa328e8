"""What every command-line module shares: one-line errors for bad input."""
import functools
import sys

from deconv.errors import DeconvError


def one_line_errors(main):
    """Wraps an absl `main(argv)` so a `DeconvError` prints `prog: error: message` and exits 2."""

    @functools.wraps(main)
    def wrapped(argv):
        try:
            return main(argv)
        except DeconvError as error:
            prog = main.__module__.replace("__main__", sys.argv[0])
            print(f"{prog}: error: {error}", file=sys.stderr)
            sys.exit(2)

    return wrapped
