"""A sanity check's figures, drawn with matplotlib: the similarity to the original maps as the
blocks are randomised, the deletion and insertion curves, and per image each method's map at
each step of the cascade."""
import numpy as np

from deconv.analysis import sanity_curves
from deconv.analysis import sanity_report
from deconv.io import figures
from deconv.io import outputs

TITLES = {"spearman_abs": "Spearman, |map|", "spearman": "Spearman, signed map",
          "ssim": "SSIM, |map|", "hog": "HOG correlation, |map|"}
COLOURS = {"deconvnet": "#d62728", "guided": "#1f77b4", "gradient": "#2ca02c",
           "gradient_x_input": "#9467bd", "occlusion": "#ff7f0e",
           sanity_curves.RANDOM: "#7f7f7f"}


_NEEDS = ("The sanity report's figures need", "sanity")


def require_matplotlib():
    """Returns matplotlib's `(Figure, FigureCanvasAgg)`; raises DeconvError without it."""
    return figures.require_matplotlib(*_NEEDS)


def _figure(width, height):
    return figures.figure(width, height, *_NEEDS)


def _save(figure, path):
    with outputs.atomic_path(path) as temporary:
        figure.savefig(temporary, format="png")


def _colour(method, number):
    return COLOURS.get(method, f"C{number % 10}")


def similarity(path, run, title):
    """One panel per metric: the similarity to the original maps (mean over the images, and
    a band of one standard deviation) after each step of `run` (a `Randomised`)."""
    figure = _figure(4.2 * len(TITLES), 4.4)
    steps = ["none", *run.steps]
    for panel, (metric, label) in enumerate(TITLES.items(), 1):
        axes = figure.add_subplot(1, len(TITLES), panel)
        for number, (method, by_metric) in enumerate(run.similarity.items()):
            values = np.concatenate([np.ones((1, by_metric[metric].shape[1])),
                                     by_metric[metric]])
            mean, spread = sanity_report.mean(values, 1), sanity_report.spread(values, 1)
            x = np.arange(len(steps))
            axes.plot(x, mean, marker="o", markersize=3, linewidth=1.4,
                      color=_colour(method, number),
                      label=sanity_report.DESCRIBED.get(method, method))
            axes.fill_between(x, mean - spread, mean + spread, alpha=0.15,
                              color=_colour(method, number))
        axes.set_xticks(np.arange(len(steps)))
        axes.set_xticklabels(steps, rotation=90, fontsize=6)
        axes.set_title(label, fontsize=10)
        axes.set_ylim(-0.45, 1.05)
        axes.axhline(0, color="black", linewidth=0.5)
        axes.grid(alpha=0.3)
        axes.tick_params(axis="y", labelsize=7)
    axes.legend(fontsize=7, loc="upper right")
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    _save(figure, path)


def curves(path, found, title):
    """Deletion and insertion: each order's mean curve, its area in the legend."""
    figure = _figure(10, 4.2)
    for panel, kind in enumerate(sanity_curves.KINDS, 1):
        axes = figure.add_subplot(1, 2, panel)
        for number, order in enumerate(found.orders):
            rows = found.scores[kind][order]
            shares = np.linspace(0, 1, rows.shape[1])
            axes.plot(shares, rows.mean(axis=0), color=_colour(order, number),
                      linestyle="--" if order == sanity_curves.RANDOM else "-", linewidth=1.4,
                      label=f"{sanity_report.DESCRIBED.get(order, order)} "
                            f"({found.areas[kind][order].mean():.3f})")
        axes.set_xlabel("share of pixels " + ("deleted" if kind == "deletion" else "inserted"),
                        fontsize=8)
        axes.set_ylabel(f"{found.score} (mean over the images)", fontsize=8)
        axes.set_title(f"{kind} (area under the curve)", fontsize=10)
        axes.grid(alpha=0.3)
        axes.legend(fontsize=7)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    _save(figure, path)


def shown(map_):
    """A map for display: its absolute value over its 99th percentile, clipped to [0, 1]."""
    magnitude = np.abs(np.asarray(map_, np.float32))
    top = np.percentile(magnitude, 99)
    return np.clip(magnitude / top, 0, 1) if top > 0 else magnitude * 0


def _outline(axes, box):
    from matplotlib.patches import Rectangle
    top, left, bottom, right = box
    axes.add_patch(Rectangle((left - 0.5, top - 0.5), right - left, bottom - top, fill=False,
                             edgecolor="#ffd400", linewidth=1.0))


def map_grid(path, image, report, number, title):
    """Image `number`'s maps: a row per method, a column per cascade step (the original first),
    each its absolute value scaled to its own 99th percentile; a unit's receptive field outlined
    on the image."""
    run = report.cascading
    steps = ["original", *(f"to {step}" for step in run.steps)] if run else ["original"]
    columns = len(steps) + 1
    figure = _figure(1.05 * columns + 0.3, 1.15 * len(report.methods) + 0.6)
    for row, method in enumerate(report.methods):
        frames = [report.maps[method][number]] + (
            [frame.astype(np.float32) for frame in run.maps[method][:, number]] if run else [])
        cells = [image / 255.0] + [shown(frame) for frame in frames]
        for column, cell in enumerate(cells):
            axes = figure.add_subplot(len(report.methods), columns, row * columns + column + 1)
            axes.imshow(cell, cmap=None if column == 0 else "gray", vmin=0, vmax=1,
                        interpolation="nearest")
            axes.set_xticks([])
            axes.set_yticks([])
            if row == 0:
                axes.set_title("image" if column == 0 else steps[column - 1], fontsize=6,
                               rotation=30 if column > 1 else 0)
            if column == 0:
                axes.set_ylabel(sanity_report.DESCRIBED.get(method, method), fontsize=7)
                if report.boxes is not None:  # the unit's receptive field
                    _outline(axes, report.boxes[number])
    figure.suptitle(title, fontsize=9)
    figure.subplots_adjust(left=0.03, right=0.995, top=0.82 if len(report.methods) < 3 else 0.88,
                           bottom=0.01, wspace=0.05, hspace=0.08)
    _save(figure, path)

