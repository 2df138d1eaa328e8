"""The pictures of a feature evolution (`deconv.analysis.evolution`; drawn during training by
`deconv.analysis.evolution_callback.EvolutionCallback`).

One grid per layer and kind: rows are the chosen maps, columns the checkpoints (labelled with
their names), each tile the map's strongest activation cropped to its receptive field, as a
sweep's grids show it: `{layer}_evolution_feat.png` (reconstructions), `{layer}_evolution_im.png`
(image patches) and `{layer}_evolution.json` (per map and checkpoint: image, position, value,
boxes).

Reference: Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks", ECCV 2014
(arXiv 1311.2901), figure 4.
"""
import os

import numpy as np

from deconv.core import names
from deconv.io import outputs

_TEXT = 14  # pixels of a line of Pillow's default font


def _fit_text(draw, font, text, width):
    """`text`, cut with '..' to fit `width` pixels."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "..", font=font) > width:
        text = text[:-1]
    return text + ".."


def labelled_grid(rows, row_labels, column_labels, gap=2, fill=255):
    """Lays uint8 tiles out as `rows` (lists of equal length) with a label left of each row
    and above each column; a smaller tile sits centred in its cell."""
    from PIL import Image, ImageDraw, ImageFont
    font = ImageFont.load_default()
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    cell_h = max(tile.shape[0] for row in rows for tile in row)
    cell_w = max(tile.shape[1] for row in rows for tile in row)
    left = int(max(measure.textlength(label, font=font) for label in row_labels)) + 2 * gap
    height = _TEXT + gap + len(rows) * (cell_h + gap)
    canvas = Image.new("RGB", (left + len(column_labels) * (cell_w + gap) + gap, height),
                       (fill,) * 3)
    draw = ImageDraw.Draw(canvas)
    for c, label in enumerate(column_labels):
        draw.text((left + gap + c * (cell_w + gap), 1), _fit_text(draw, font, label, cell_w - 4),
                  fill="black", font=font)
    for r, (row, label) in enumerate(zip(rows, row_labels)):
        top = _TEXT + gap + r * (cell_h + gap)
        draw.text((gap, top + cell_h // 2 - _TEXT // 2), label, fill="black", font=font)
        for c, tile in enumerate(row):
            canvas.paste(Image.fromarray(tile),
                         (left + gap + c * (cell_w + gap) + (cell_w - tile.shape[1]) // 2,
                          top + (cell_h - tile.shape[0]) // 2))
    return np.asarray(canvas)


def grids(result, layer):
    """`(feat_grid, im_grid)` of one layer of an `Evolution`: maps down, checkpoints across."""
    rows = result.rows(layer)
    labels = [f"map {feature}" for feature in result.features[layer]]
    return (labelled_grid([[cell.feat for cell in row] for row in rows], labels,
                          result.checkpoints),
            labelled_grid([[cell.patch for cell in row] for row in rows], labels,
                          result.checkpoints))


def file_names(layer):
    """`{"feat", "im", "manifest"}` file names of one layer's evolution."""
    short = names.short(layer)
    return {"feat": f"{short}_evolution_feat.png", "im": f"{short}_evolution_im.png",
            "manifest": f"{short}_evolution.json"}


def notes(result, layer):
    """What a reader of one layer's grids should know: the cells of maps that never fire."""
    return [f"map {feature} never activates on these images at {name} (all values are 0): its "
            f"reconstruction is blank and its patch is an arbitrary image's."
            for feature, row in zip(result.features[layer], result.rows(layer))
            for name, cell in zip(result.checkpoints, row) if cell.winner.value <= 0]


def manifest(result, layer, described, checkpoint_paths=None):
    """One layer's evolution as a JSON-ready dict: per map, per checkpoint, the strongest
    activation's image, position, value (pass 1 and pass 2) and receptive-field boxes."""
    paths = checkpoint_paths or [None] * len(result.checkpoints)
    return {
        "layer": names.short(layer), "keras_layer": layer,
        "maps": result.features[layer],
        "checkpoints": [{"name": name, "path": path}
                        for name, path in zip(result.checkpoints, paths)],
        "rows": [{"map": feature, "by_checkpoint": [cell.winner.record() for cell in row]}
                 for feature, row in zip(result.features[layer], result.rows(layer))],
        "files": file_names(layer), "counts": result.counts, "notes": notes(result, layer),
        "settings": described}


def write(out_dir, result, described, checkpoint_paths=None):
    """Writes every layer's two grids and its manifest atomically.

    Returns:
      `{layer: ({"feat", "im", "manifest"} paths, feat_grid, im_grid)}`.
    """
    outputs.ensure_folder(out_dir)
    written = {}
    for layer in result.layers:
        paths = {key: os.path.join(out_dir, name) for key, name in file_names(layer).items()}
        feat_grid, im_grid = grids(result, layer)
        outputs.write_png(paths["feat"], feat_grid)
        outputs.write_png(paths["im"], im_grid)
        outputs.write_json(paths["manifest"], manifest(result, layer, described,
                                                       checkpoint_paths))
        written[layer] = (paths, feat_grid, im_grid)
    return written
