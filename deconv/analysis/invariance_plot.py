"""The pictures of invariance curves: a plot as the paper's figure 5 (one panel per layer, one
line per image, and the true class's probability) and a grid of the transformed images.

Reference: Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks", ECCV 2014
(arXiv 1311.2901), figure 5.
"""
import os

import numpy as np
from PIL import Image

from deconv.analysis import class_plot
from deconv.analysis import invariance
from deconv.core import names
from deconv.io import figures
from deconv.io import outputs
from deconv.io import render


def require_matplotlib():
    """Returns matplotlib's `(Figure, FigureCanvasAgg)`; raises DeconvError without it."""
    return figures.require_matplotlib("The invariance plots need", "plot")


def plot(path, result, image_names, title=None):
    """Draws an `Invariance` as one PNG, written atomically: a panel per layer (normalised
    distance against the amount, a line per image) and, with classes, the true class's
    probability."""
    panels = len(result.layers) + (result.probability is not None)
    figure = figures.figure(3.4 * panels + 1.6, 3.2, "The invariance plots need", "plot")
    amounts = np.array(result.transform.amounts)
    colours = class_plot.colours(len(image_names))
    pooled = "" if result.pool == "none" else f", {result.pool} over positions"
    series = [(names.short(layer) + pooled, result.distances[layer],
               "||f(x) - f(T x)|| / ||f(x)||") for layer in result.layers]
    if result.probability is not None:
        series.append(("true class", result.probability, "p(true class | T x)"))
    for number, (name, values, label) in enumerate(series, 1):
        axes = figure.add_subplot(1, panels, number)
        for row, colour, image in zip(values, colours, image_names):
            axes.plot(amounts, row, marker="o", markersize=2.5, linewidth=1.2, color=colour,
                      label=image)
        axes.set_title(name, fontsize=10)
        axes.set_xlabel(invariance.x_label(result.transform), fontsize=8)
        axes.set_ylabel(label, fontsize=8)
        axes.tick_params(labelsize=7)
        if name == "true class":
            axes.set_ylim(-0.02, 1.02)
        axes.grid(alpha=0.3)
    axes.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    if title:
        figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    with outputs.atomic_path(path) as temporary:
        figure.savefig(temporary, format="png")


def examples(images, transform, image_names, columns=7, rows=6, tile=96):
    """A grid of the transformed images: up to `rows` images down, up to `columns` of the
    amounts (evenly spaced, first and last included) across, each labelled with its amount."""
    transform = transform.checked()
    picks = sorted({int(round(i)) for i in np.linspace(0, len(transform.amounts) - 1,
                                                       min(columns, len(transform.amounts)))})
    shown = type(transform)(transform.kind, [transform.amounts[i] for i in picks],
                            transform.fill, transform.axis)
    tiles = []
    for image, name in zip(images[:rows], image_names):
        for amount, moved in zip(shown.amounts, invariance.transformed(image, shown)):
            small = Image.fromarray(np.clip(np.round(moved), 0, 255).astype(np.uint8))
            small = np.asarray(small.resize((tile, tile * image.shape[0] // image.shape[1]),
                                            Image.Resampling.BILINEAR))
            stem = os.path.splitext(os.path.basename(name))[0]
            tiles.append(render.label(small, f"{stem[:10]} {amount:g}"))
    return render.grid(tiles, columns=len(picks))


def file_names(transform):
    """`{"plot", "examples", "summary"}` file names of one transform's results."""
    stem = f"invariance_{transform.kind}"
    if transform.kind == "translate" and transform.axis != "vertical":
        stem += f"_{transform.axis}"
    return {"plot": f"{stem}.png", "examples": f"{stem}_examples.png", "summary": f"{stem}.json"}


def write(out_dir, images, result, image_names, described, class_names=None, title=None):
    """Writes the plot, the examples grid and the summary (`invariance.summary` with
    `described` first) in `out_dir`, atomically; returns `{kind: path}`."""
    outputs.ensure_folder(out_dir)
    paths = {kind: os.path.join(out_dir, name)
             for kind, name in file_names(result.transform).items()}
    plot(paths["plot"], result, [os.path.basename(n) for n in image_names], title)
    outputs.write_png(paths["examples"], examples(images, result.transform, image_names))
    outputs.write_json(paths["summary"], invariance.summary(result, image_names, class_names,
                                                            **described))
    return paths
