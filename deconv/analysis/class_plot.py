"""The class scores (`deconv.analysis.class_maps.class_scores`: per class, the summed activation
of that class's top maps in every image) as one plot, and its data as JSON.

Plotted over all images, grouped by the folder each image came from, a class whose maps describe
it stands out over its own images. matplotlib is an optional extra (`pip install matplotlib`),
imported only to draw.
"""
import colorsys

import numpy as np

from deconv.core import names
from deconv.io import figures
from deconv.io import outputs

# matplotlib's `tab20`, its ten dark colours (`tab10`) first, then their ten light partners;
# written out so a class keeps its colour with or without matplotlib.
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf",
           "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2",
           "#c7c7c7", "#dbdb8d", "#9edae5")


def colours(count):
    """Returns `count` distinct colours (hex strings), a colour per class: `COLOURS` in order,
    then, beyond 20, hues spread evenly around the HSV circle, alternating two brightnesses so
    that neighbours differ (and so that none repeats a `COLOURS` entry)."""
    chosen = list(COLOURS[:count])
    extra = count - len(chosen)
    for i in range(extra):
        red, green, blue = colorsys.hsv_to_rgb((i + 0.5) / extra, 0.75, 0.6 if i % 2 else 0.9)
        chosen.append("#{:02x}{:02x}{:02x}".format(*(round(255 * c) for c in (red, green, blue))))
    # Rounding could in principle meet a colour already used: nudge it until it is new.
    seen = set()
    for i, colour in enumerate(chosen):
        while colour in seen:
            value = int(colour[1:], 16)
            colour = f"#{(value + 1) % 0x1000000:06x}"
        seen.add(colour)
        chosen[i] = colour
    return chosen


_NEEDS = ("The class plot needs", "plot")


def require_matplotlib():
    """Returns matplotlib's `(Figure, FigureCanvasAgg)`.

    Raises:
      DeconvError: matplotlib is not installed; the message says how to install it.
    """
    return figures.require_matplotlib(*_NEEDS)


def _figure(width, height):
    """A matplotlib `Figure` drawn by the Agg canvas, without pyplot's global state."""
    return figures.figure(width, height, *_NEEDS)


def plot(path, scores, title=None):
    """Draws a `ClassScores` as one PNG: a line per class, images on the x axis grouped by
    folder (shaded bands, labelled), written atomically.

    Raises:
      DeconvError: matplotlib is missing (the message says how to install it).
    """
    figure = _figure(max(6.0, min(16.0, 4 + len(scores.paths) * 0.04)), 4.5)
    axes = figure.add_subplot(1, 1, 1)
    x = np.arange(len(scores.paths))
    starts = [i for i in range(len(x)) if i == 0 or scores.groups[i] != scores.groups[i - 1]]
    for band, start in enumerate(starts):
        end = starts[band + 1] if band + 1 < len(starts) else len(x)
        if band % 2 == 0:
            axes.axvspan(start - 0.5, end - 0.5, color="#eeeeee", zorder=0)
        axes.text((start + end - 1) / 2, 1.01, scores.groups[start] or "(top level)",
                  transform=axes.get_xaxis_transform(), ha="center", va="bottom", fontsize=8)
    palette = colours(len(scores.series))
    for column, name in enumerate(scores.series):
        axes.plot(x, scores.scores[:, column], marker="o", markersize=3, linewidth=1.2,
                  color=palette[column],
                  label=f"{name} ({len(scores.maps[name])} maps)")
    axes.set_xlim(-0.5, len(x) - 0.5)
    axes.set_xlabel("images, grouped by folder")
    axes.set_ylabel("sum of the class's maps'\nmean activations")
    axes.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), title="maps of",
                title_fontsize=8)
    figure.suptitle(title or f"{names.short(scores.layer)}: each class's top maps over all images",
                    fontsize=10)
    figure.tight_layout()
    with outputs.atomic_path(path) as temporary:
        figure.savefig(temporary, format="png")


def to_json(scores, **extra):
    """Returns the data of the plot, JSON-ready: per folder the mean score of each class's maps,
    and per image its path, folder and scores."""
    folders = {}
    for group in dict.fromkeys(scores.groups):
        rows = scores.scores[[g == group for g in scores.groups]]
        folders[group or "(top level)"] = {name: round(float(value), 6) for name, value in
                                           zip(scores.series, rows.mean(axis=0))}
    return {**extra, "layer": names.short(scores.layer), "series": scores.series,
            "maps": scores.maps, "mean_score_by_folder": folders,
            "per_image": [{"path": path, "folder": group,
                        "scores": [round(float(v), 6) for v in row]}
                       for path, group, row in zip(scores.paths, scores.groups, scores.scores)],
            "skipped": [{"path": path, "reason": reason} for path, reason in scores.skipped]}
