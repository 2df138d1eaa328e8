"""Progress bars of the command lines: tqdm bars on standard error, with log records printed
above them instead of through them. Commands reach them as `_cli.progress_bar`, `_cli.new_bar`
and `_cli.bar_sequence`."""
import contextlib
import sys

from absl import logging

from deconv import _engine


class _AboveTheBar:
    """A stream for log records that prints them above tqdm's bar instead of through it."""

    def __init__(self, tqdm):
        self.tqdm = tqdm

    def write(self, text):
        if text.strip():
            self.tqdm.write(text.rstrip("\n"), file=sys.stderr)

    def flush(self):
        sys.stderr.flush()

    def close(self):
        """absl closes its stream at exit; standard error stays open."""


def new_bar(total, unit, desc=None):
    """A tqdm bar on standard error, with log records printed above it."""
    from tqdm import tqdm  # a dependency of the command lines only
    logging.get_absl_handler().python_handler.stream = _AboveTheBar(tqdm)
    return tqdm(total=total, unit=unit, desc=desc, file=_engine.StandardError(),
                dynamic_ncols=True)


@contextlib.contextmanager
def progress_bar(enabled, total, unit):
    """Yields `update(done, total=None)`, which moves a progress bar on standard error to `done`
    (and its end to `total`), or None when `enabled` is False (--noprogress)."""
    if not enabled:
        yield None
        return
    bar = new_bar(total, unit)

    def update(done, total=None):
        if total is not None:
            bar.total = total
        bar.update(done - bar.n)

    try:
        yield update
    finally:
        bar.close()


def bar_sequence(enabled):
    """`start(description, total, unit) -> update(done, total=None)`: one progress bar per
    stage, each closed when it reaches its total (so its rate is that stage's) or when the next
    opens; `start.close()` closes them all. None when `enabled` is False (--noprogress)."""
    if not enabled:
        return None
    bars = []

    def start(description, total, unit):
        for bar in bars:
            bar.close()
        bars.append(new_bar(total, unit, description))
        bar = bars[-1]

        def update(done, new_total=None):
            if new_total is not None:
                bar.total = new_total
            bar.update(done - bar.n)
            if bar.total is not None and done >= bar.total:
                bar.close()

        return update

    start.close = lambda: [bar.close() for bar in bars]
    return start
