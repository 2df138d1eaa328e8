"""`EvolutionCallback`: the evolution of chosen feature maps drawn while `model.fit` trains the
model, a column per snapshot, with the same computing as `deconv.analysis.evolution` over images
in memory or a folder, and the same pictures (`deconv.analysis.evolution_pictures`).

Reference: Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks", ECCV 2014
(arXiv 1311.2901), figure 4.
"""
import importlib.util

import keras
import numpy as np

from deconv.analysis import evolution
from deconv.analysis import evolution_pictures
from deconv.core import checks
from deconv.core import names
from deconv.core.deconvnet import Deconvnet
from deconv.errors import DeconvError
from deconv.io import streaming


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
    `evolution_pictures.write`); with `log_dir`, they also go to TensorBoard as image
    summaries, step = epoch.

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
      relu_rule, reading, normalize, min_tile, crop: see `deconv.Deconvnet` and `feature_evolution`.

    Attributes:
      result: the `Evolution` so far (None before the first snapshot).
    """

    def __init__(self, images, layers, maps, every=1, out="evolution", log_dir=None,
                 preprocessing="auto", relu_rule="deconvnet", reading=streaming.Reading(),
                 normalize="symmetric", min_tile=64, crop="auto"):
        super().__init__()
        self.images, self.out, self.reading = images, out, reading
        self.layers = [layers] if isinstance(layers, str) else list(layers)
        self.maps, self.wanted = maps, _schedule(every)
        self.options = (preprocessing, relu_rule)
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
        written = evolution_pictures.write(self.out, self.result,
                                           {"every": "callback", "epoch": step})
        if self._writer is not None:
            import tensorflow as tf
            with self._writer.as_default():
                for layer, (_, feat_grid, im_grid) in written.items():
                    tf.summary.image(f"evolution/{names.short(layer)}",
                                     np.stack([feat_grid, im_grid]), step=step, max_outputs=2,
                                     description="first: reconstructions; second: image "
                                                 "patches; maps down, epochs across")
            self._writer.flush()
