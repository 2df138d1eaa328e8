"""Feature vectors of any Keras model: the outputs of named layers for RGB images, flattened.

The invariance and correspondence analyses compare whole feature vectors, which needs only a
forward pass: a plain Keras model of the chosen layers' outputs, so any Keras model serves (one
with global pooling, a classifier's dense layers), not only the chains a `Deconvnet` reverses.
"""
import keras
import numpy as np
import tensorflow as tf

from deconv.core import checks
from deconv.core import names
from deconv.core import preprocessing as preprocessing_lib
from deconv.core.deconvnet import Deconvnet
from deconv.errors import DeconvError


def _as_model(model, preprocessing):
    """`(keras.Model, Preprocessing)` of a `Deconvnet` (its model and preprocessing, unless
    `preprocessing` names another) or of a Keras model (`"auto"`: caffe for our VGGs, else
    none)."""
    if isinstance(model, Deconvnet):
        chosen = model.preprocessing if preprocessing == "auto" else preprocessing
        return model.model, preprocessing_lib.get(chosen)
    if not isinstance(model, keras.Model):
        raise DeconvError(f"Expected a Deconvnet or a keras.Model; received "
                          f"{type(model).__name__}.")
    return model, (preprocessing_lib.for_model(model) if preprocessing == "auto"
                   else preprocessing_lib.get(preprocessing))


def require_net(net, analysis):
    """Raises DeconvError unless `net` is a `Deconvnet`: the analyses take the net first."""
    if not isinstance(net, Deconvnet):
        raise DeconvError(f"{analysis} takes a deconv.Deconvnet first (deconv.Deconvnet(model) "
                          f"of a Keras model); received {type(net).__name__}.")


def default_layers(model):
    """The first and the last convolutional layer of a model (a `Deconvnet` or a Keras model):
    a low and a high layer, as the paper's figure 5 compares."""
    model = model.model if isinstance(model, Deconvnet) else model
    convs = [layer.name for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    if not convs:
        raise DeconvError(f"Model {model.name!r} has no Conv2D layer: name the layers.")
    return list(dict.fromkeys([convs[0], convs[-1]]))


# How a layer's maps become a vector: all of them as they are (where each feature is matters),
# or each map's maximum or mean over its positions (only what is there matters).
POOLS = ("none", "max", "mean")


def layer_names(model):
    """The names of a model's layers (a `Deconvnet`'s or a Keras model's), inputs left out."""
    model = model.model if isinstance(model, Deconvnet) else model
    return [layer.name for layer in model.layers
            if not isinstance(layer, keras.layers.InputLayer)]


def find_layer(model, layer):
    """The model's own name for `layer` (either spelling), or None if it has no such layer."""
    try:
        return names.resolve(layer, layer_names(model))
    except DeconvError:
        return None


class _Outputs:
    """RGB images -> the chosen layers' outputs, preprocessing inside (compiled)."""

    def __init__(self, model, preprocessing, pool):
        self.model, self.preprocess = model, preprocessing_lib.Preprocess(preprocessing.name)
        self.pool = pool

    def __call__(self, images):
        outputs = self.model(self.preprocess(images), training=False)
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        if self.pool != "none":
            reduce = tf.reduce_max if self.pool == "max" else tf.reduce_mean
            outputs = [reduce(output, axis=[1, 2]) if len(output.shape) == 4 else output
                       for output in outputs]
        return [tf.reshape(output, [tf.shape(output)[0], -1]) for output in outputs]


class FeatureModel:
    """The outputs of `layers` of a model, flattened per image: its feature vectors.

    Args:
      model: a `Deconvnet` or any Keras model with one image input.
      layers: layer names (the paper's `conv5_3` or Keras's `block5_conv3`, or the model's own).
      preprocessing: how RGB pixels in [0, 255] become the model's input; `"auto"`: the net's,
        or for a Keras model caffe for our VGGs and none otherwise.
      role: what the model is called in messages ("model", "classifier").
      pool: `"none"` (each layer's whole output), or `"max"` / `"mean"`: each map's maximum or
        mean over its positions (for layers with maps; a dense layer's output stays).

    Attributes:
      layers: the layers' names in the model; `preprocessing`: the `Preprocessing` applied;
      input_size: the `(height, width)` the model requires, or None if any size goes.
    """

    def __init__(self, model, layers, preprocessing="auto", role="model", pool="none"):
        model, self.preprocessing = _as_model(model, preprocessing)
        self.role = role
        layers = [layers] if isinstance(layers, str) else list(layers)
        if not layers:
            raise DeconvError("No layer given: name at least one, e.g. 'conv5_3'.")
        if pool not in POOLS:
            raise DeconvError(f"Unknown pool {pool!r}. Valid: {', '.join(POOLS)}.")
        self.layers = [names.resolve(layer, layer_names(model)) for layer in layers]
        try:
            outputs = [model.get_layer(name).output for name in self.layers]
            sub_model = keras.Model(model.inputs, outputs)
        except (AttributeError, ValueError) as error:
            raise DeconvError(f"Cannot read layers {', '.join(self.layers)} of model "
                              f"{model.name!r}: {error}") from None
        size = tuple(model.input_shape[1:3]) if len(model.input_shape) == 4 else (None, None)
        self.input_size = None if None in size else size
        self._run = tf.function(_Outputs(sub_model, self.preprocessing, pool),
                                reduce_retracing=True)

    def check(self, images):
        """Returns RGB images as float32 `(N, H, W, 3)` in [0, 255], checked for the model."""
        values = np.asarray(images)
        if values.ndim != 4 or values.shape[-1] != 3 or 0 in values.shape:
            raise DeconvError(f"images must be RGB with shape (N, H, W, 3); received shape "
                              f"{values.shape}.")
        if self.input_size is not None and values.shape[1:3] != self.input_size:
            raise DeconvError(f"The {self.role} takes {self.input_size[0]}x{self.input_size[1]} "
                              f"images; received {values.shape[1]}x{values.shape[2]}.")
        values = values.astype(np.float32)
        if not np.isfinite(values).all() or values.min() < 0 or values.max() > 255:
            raise DeconvError("images must hold pixel values in [0, 255].")
        return values

    def __call__(self, images, batch_size=16):
        """Returns `{layer: (N, D) float32}` for RGB images in [0, 255]."""
        checks.batch_size(batch_size)
        images = self.check(images)
        parts = [[output.numpy() for output in self._run(tf.constant(images[i:i + batch_size]))]
                 for i in range(0, len(images), batch_size)]
        return {layer: np.concatenate([part[k] for part in parts])
                for k, layer in enumerate(self.layers)}
