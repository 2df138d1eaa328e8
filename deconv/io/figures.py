"""Matplotlib figures for the analyses' plots, drawn by the Agg canvas without pyplot's global
state. Matplotlib is an optional extra: each plot's error names the extra that brings it."""
from deconv.errors import DeconvError


def require_matplotlib(needs, extra):
    """Returns matplotlib's `(Figure, FigureCanvasAgg)`.

    Args:
      needs: what needs it, with its verb (`"The class plot needs"`), for the error.
      extra: the optional extra of setup.py that installs it (`"plot"`).

    Raises:
      DeconvError: matplotlib is not installed; the message says how to install it.
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise DeconvError(f"{needs} matplotlib, an optional extra: pip install matplotlib (or "
                          f"pip install -e \".[{extra}]\").") from None
    return Figure, FigureCanvasAgg


def figure(width, height, needs, extra):
    """A matplotlib `Figure` of `width` x `height` inches at 100 dpi on the Agg canvas (see
    `require_matplotlib` for `needs` and `extra`)."""
    Figure, FigureCanvasAgg = require_matplotlib(needs, extra)
    drawn = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(drawn)
    return drawn
