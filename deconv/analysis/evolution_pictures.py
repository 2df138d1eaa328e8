"""The pictures of a feature evolution, and the Keras callback that draws them during training.

One grid per layer and kind: rows are the chosen maps, columns the checkpoints (labelled with
their names), each tile the map's strongest activation cropped to its receptive field, as a
sweep's grids show it: `{layer}_evolution_feat.png` (reconstructions), `{layer}_evolution_im.png`
(image patches) and `{layer}_evolution.json` (per map and checkpoint: image, position, value,
boxes).

Reference: Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks", ECCV 2014
(arXiv 1311.2901), figure 4.
"""
import importlib.util
import os

import keras
import numpy as np

from deconv.analysis import evolution
from deconv.core import checks
from deconv.core import names
from deconv.core.deconvnet import Deconvnet
from deconv.errors import DeconvError
from deconv.io import outputs
from deconv.io import streaming

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


def _schedule(every):
    if isinstance(every, (list, tuple, set, range)):
        epochs = sorted({checks.integer("every's epochs", epoch, low=0) for epoch in every})
        if not epochs:
            raise DeconvError("every is an empty list of epochs.")
        return lambda epoch: epoch in epochs
    every = checks.integer("every", every)
    return lambda epoch: epoch > 0 and epoch % every == 0


class EvolutionCallback(keras.callbacks.Callback):
    """Draws the evolution of chosen feature maps while `model.fit` trains the model.

    At each snapshot, for every layer, the strongest activation of each map across `images`
    with the current weights is projected and cropped (as `python -m deconv.run --top 1` finds
    it), and the grids so far (maps down, epochs across) are written to `out` (see
    `write`); with `log_dir`, they also go to TensorBoard as image summaries, step = epoch.

    Args:
      images: a square `(N, S, S, 3)` array of RGB images in [0, 255], a folder or a list of
        image files (read as `reading` says).
      layers: a layer name or a list of them; the model is cut after the deepest
        (`evolution.conv_part`).
      maps: map ids (for every layer), `{layer: ids}`, or a count: that many strongest maps of
        each layer at the first snapshot, kept thereafter.
      every: snapshot every this many epochs, or a list of epochs (0: before training).
      out: the folder of the grids and manifests.
      log_dir: a TensorBoard log folder, or None.
      preprocessing: how images in [0, 255] become the model's input (e.g. `"unit"` for a
        model trained on x / 255); see `deconv.Deconvnet`.
      rule, reading, normalize, min_tile, crop: see `deconv.Deconvnet` and `feature_evolution`.

    Attributes:
      result: the `Evolution` so far (None before the first snapshot).
    """

    def __init__(self, images, layers, maps, every=1, out="evolution", log_dir=None,
                 preprocessing="auto", rule="deconvnet", reading=streaming.Reading(),
                 normalize="symmetric", min_tile=64, crop="auto"):
        super().__init__()
        self.images, self.out, self.reading = images, out, reading
        self.layers = [layers] if isinstance(layers, str) else list(layers)
        self.maps, self.wanted = maps, _schedule(every)
        self.options = (preprocessing, rule)
        self.display = evolution.check_display(normalize, min_tile, crop)
        if log_dir is not None and importlib.util.find_spec("tensorboard") is None:
            raise DeconvError("log_dir needs the tensorboard package: pip install tensorboard.")
        self.log_dir, self.result, self._writer = log_dir, None, None

    def on_train_begin(self, logs=None):
        import tensorflow as tf
        self.net = Deconvnet(evolution.conv_part(self.model, self.layers), *self.options)
        count = self.maps if isinstance(self.maps, (int, np.integer)) else None
        maps = None if count is not None else (
            self.maps if isinstance(self.maps, dict) else dict.fromkeys(self.layers, self.maps))
        self.chosen = evolution.layer_features(self.net, self.layers, maps)
        self.count = checks.integer("maps", count) if count is not None else None
        self.source = evolution.ImageSet(self.net, self.images, list(self.chosen), self.reading)
        self.columns, self.names = [], []
        if self.log_dir is not None and self._writer is None:
            self._writer = tf.summary.create_file_writer(self.log_dir)
        if self.wanted(0):
            self.snapshot("epoch 0", 0)

    def on_epoch_end(self, epoch, logs=None):
        if self.wanted(epoch + 1):
            self.snapshot(f"epoch {epoch + 1}", epoch + 1)

    def snapshot(self, name, step):
        """Adds a column for the current weights, called `name`; rewrites the grids."""
        cells = self.source.column(self.net, self.chosen, self.count, self.display)
        self.chosen = {layer: [cell.winner.feature for cell in found]
                       for layer, found in cells.items()}
        self.columns.append(cells)
        self.names.append(name)
        self.result = evolution.Evolution(list(self.chosen), self.chosen, list(self.names),
                                          list(self.columns), self.source.counts)
        written = write(self.out, self.result, {"every": "callback", "epoch": step})
        if self._writer is not None:
            import tensorflow as tf
            with self._writer.as_default():
                for layer, (_, feat_grid, im_grid) in written.items():
                    tf.summary.image(f"evolution/{names.short(layer)}",
                                     np.stack([feat_grid, im_grid]), step=step, max_outputs=2,
                                     description="first: reconstructions; second: image "
                                                 "patches; maps down, epochs across")
            self._writer.flush()
