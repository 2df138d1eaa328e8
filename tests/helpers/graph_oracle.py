"""An independent oracle for projections on any Keras model: a clone of the model whose
ReLU-family activations (`relu`, `relu6`, `ReLU` layers with a `max_value`; in `Activation` or
`ReLU` layers or fused into a layer) have a custom gradient, `relu(upstream)` (deconvnet) or
`relu(upstream) * 1[output > 0]` (guided backpropagation), differentiated with
`tf.GradientTape`. A softmax that ends the model is dropped (projections of a class are of its
logit). It shares no code with deconv's reverse rules: Keras clones the model, TensorFlow
differentiates it.
"""
import keras
import numpy as np
import tensorflow as tf

from tests.helpers.oracle import PREPROCESS
from tests.helpers.oracle import activation_name
from tests.helpers.oracle import relu_for

_FAMILY = ("relu", "relu6")


def _cloner(relu_rule, logits):
    """The clone function: ReLU-family activations get the custom gradient; `logits`' layer
    loses its softmax."""

    def clone(layer):
        config = layer.get_config()
        if isinstance(layer, keras.layers.ReLU) and not layer.negative_slope and not (
                layer.threshold):
            return keras.layers.Activation(relu_for(relu_rule, layer.max_value), name=layer.name)
        name = activation_name(layer)
        if name in _FAMILY:
            config["activation"] = relu_for(relu_rule, 6.0 if name == "relu6" else None)
        elif name == "softmax" and layer.name == logits:
            config["activation"] = "linear"
        return layer.__class__.from_config(config)

    return clone


def clone(model, relu_rule="deconvnet", logits=None):
    """The oracle's copy of `model` (same weights)."""
    copy = keras.models.clone_model(model, clone_function=_cloner(relu_rule, logits),
                                    recursive=True)
    copy.set_weights(model.get_weights())
    return copy


def project_max(model, images, layer, feature, relu_rule="deconvnet", mode="none", copy=None):
    """The oracle's projection of each image's strongest activation of map `feature` of `layer`
    (a layer or operation of `model` itself, not of a nested model; a softmax output: of the
    class logit).

    Returns `(projections, values, positions)`: the modified gradient of that activation with
    respect to the RGB input (preprocessed by `mode` inside the tape), seeded with its value.
    """
    copy = copy or clone(model, relu_rule, logits=layer)
    operation = {operation.name: operation for operation in copy.operations}[layer]
    target = keras.Model(copy.inputs, operation.output)
    x = tf.constant(np.asarray(images, np.float32))
    with tf.GradientTape() as tape:
        tape.watch(x)
        activations = target(PREPROCESS[mode](x), training=False)
    maps = activations.numpy()
    maps = maps[:, None, None, :] if maps.ndim == 2 else maps
    flat = maps[..., feature].reshape(len(maps), -1)
    index = flat.argmax(axis=1)
    positions = np.stack(np.unravel_index(index, maps.shape[1:3]), axis=1)
    values = flat[np.arange(len(maps)), index]
    seed = np.zeros(maps.shape, np.float32)
    seed[np.arange(len(maps)), positions[:, 0], positions[:, 1], feature] = values
    seed = seed.reshape(activations.shape)  # seeded with the value itself: relu(signal) is
    # not linear, so a negative value (a linear layer's) is not -1 times a positive one
    gradient = tape.gradient(activations, x, output_gradients=tf.constant(seed)).numpy()
    return gradient, values, positions
