"""The layer-rule registry: how each supported layer type runs forward and is reversed.

Each rule says how its layer runs forward (recording max-pool switches when asked), which
forward tensors its reverse needs, and how a signal goes back through it, over whole maps
(`reverse`, as Keras layers of the functional deconv model) and inside a receptive-field window
(`reverse_window`, see `deconv.core.window`). `LAYER_RULES` maps layer types to rules; a layer
of any other type is refused by `deconv.core.graph`, which names it.

Forward tensors are keyed by name: `"input"` is the preprocessed image, a layer's name its output,
and `"<pool>_switches"` a max-pool's switches.

Reference: Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks", ECCV 2014
(arXiv 1311.2901): the reverse of each layer is unpool -> rectify -> transposed filtering.
"""
import keras
import tensorflow as tf

from deconv.core import geometry as geometry_lib
from deconv.core import layers as deconv_layers
from deconv.core import window as window_lib


def switches_key(layer_name):
    """Returns the key of a max-pool layer's switches among the forward tensors."""
    return f"{layer_name}_switches"


def activation_name(layer):
    """The name of a layer's `activation` function (`"relu"`, `"linear"`), or None."""
    return getattr(getattr(layer, "activation", None), "__name__", None)


def _rectify(step, signal, tensors, rule):
    """The reverse of a step's ReLU; guided backprop also reads the step's forward output."""
    rectify = deconv_layers.Rectify(rule, name=f"{step.name}_rectify")
    return rectify(signal, tensors[step.name]) if rule == "guided" else rectify(signal)


def _rectify_window(step, signal, window, tensors, rule):
    """`_rectify` on a windowed signal (see `deconv.core.window`)."""
    rectified = tf.nn.relu(signal)
    if rule == "guided":
        rectified *= tf.cast(window.crop(tensors[step.name]) > 0, rectified.dtype)
    return rectified


def _window_below(step, window, sizes, index):
    """`(produced, below)` windows of `steps[index]`'s input (`deconv.core.window.Window.below`)."""
    pads = [geometry_lib.pad_before(step.geometry, axis, sizes[index][axis], step.name,
                                    tf.maximum) for axis in (0, 1)]
    return window.below(step.geometry, sizes[index], pads)


class LayerRule:
    """How one layer type runs forward and backward. Subclasses override what differs."""

    def unsupported_reason(self, layer):
        """Returns why this layer's configuration is unsupported, or None."""
        return None

    def forward(self, step, x, with_switches):
        """Returns the forward tensors this step adds, keyed by name."""
        return {step.name: step.layer(x)}

    def needs(self, step, rule):
        """Returns the keys of the forward tensors `reverse` reads."""
        return []

    def reverse(self, step, signal, tensors, rule):
        """Returns the signal at the step's input, given the signal at its output."""
        return signal

    def window_needs(self, step, rule):
        """Returns the keys of the forward tensors `reverse_window` reads."""
        return []

    def reverse_window(self, step, signal, window, tensors, rule, sizes, index):
        """`reverse` on a signal that lives in a window (see `deconv.core.window`).

        Args:
          sizes: the map sizes each step reads (`geometry.input_sizes`); `index`: the step's.

        Returns:
          `(signal, window)` at the step's input.
        """
        return signal, window

    def geometry(self, layer):
        """Returns the layer's `deconv.core.geometry.Geometry`, or None for a pointwise layer."""
        return None


class IdentityRule(LayerRule):
    """Layers that are the identity at inference (dropout)."""


class ReluRule(LayerRule):
    """`ReLU` layers and `Activation("relu")`: rectified on the way back."""

    def unsupported_reason(self, layer):
        if isinstance(layer, keras.layers.ReLU):
            config = layer.get_config()
            if (config.get("max_value") is not None or config.get("negative_slope", 0.0)
                    or config.get("threshold", 0.0)):
                return "only a plain ReLU (no max_value, negative_slope or threshold) is supported"
        return None

    def needs(self, step, rule):
        return [step.name] if rule == "guided" else []

    def reverse(self, step, signal, tensors, rule):
        return _rectify(step, signal, tensors, rule)

    def window_needs(self, step, rule):
        return self.needs(step, rule)

    def reverse_window(self, step, signal, window, tensors, rule, sizes, index):
        return _rectify_window(step, signal, window, tensors, rule), window


class ActivationRule(ReluRule):
    """`Activation` layers: `relu` is rectified, `linear` passes."""

    def unsupported_reason(self, layer):
        if activation_name(layer) not in ("relu", "linear"):
            return f"activation {activation_name(layer)!r} (only relu and linear are supported)"
        return None

    def needs(self, step, rule):
        return super().needs(step, rule) if activation_name(step.layer) == "relu" else []

    def reverse(self, step, signal, tensors, rule):
        if activation_name(step.layer) == "relu":
            return super().reverse(step, signal, tensors, rule)
        return signal

    def reverse_window(self, step, signal, window, tensors, rule, sizes, index):
        if activation_name(step.layer) == "relu":
            return super().reverse_window(step, signal, window, tensors, rule, sizes, index)
        return signal, window


class Conv2DRule(LayerRule):
    """`Conv2D` with a relu or linear activation: rectify (if relu), then the tied transpose."""

    def unsupported_reason(self, layer):
        if layer.data_format != "channels_last":
            return "data_format must be channels_last"
        if layer.groups != 1:
            return "grouped convolutions are not supported"
        if activation_name(layer) not in ("relu", "linear"):
            return f"activation {activation_name(layer)!r} (only relu and linear are supported)"
        return None

    def needs(self, step, rule):
        keys = [step.name] if rule == "guided" and activation_name(step.layer) == "relu" else []
        if tuple(step.layer.strides) != (1, 1):
            keys.append(step.input_key)
        return keys

    def reverse(self, step, signal, tensors, rule):
        layer = step.layer
        if activation_name(layer) == "relu":
            signal = _rectify(step, signal, tensors, rule)
        transpose = deconv_layers.TiedConvTranspose(
            kernel=layer.kernel, strides=layer.strides, padding=layer.padding,
            dilation_rate=layer.dilation_rate, name=f"{step.name}_transpose")
        if tuple(layer.strides) != (1, 1):
            return transpose(signal, tensors[step.input_key])
        return transpose(signal)

    def window_needs(self, step, rule):
        relu = activation_name(step.layer) == "relu"
        return [step.name] if rule == "guided" and relu else []

    def reverse_window(self, step, signal, window, tensors, rule, sizes, index):
        if activation_name(step.layer) == "relu":
            signal = _rectify_window(step, signal, window, tensors, rule)
        produced, below = _window_below(step, window, sizes, index)
        return window_lib.conv_transpose(signal, step.layer.kernel, step.geometry,
                                         produced, below), below

    def geometry(self, layer):
        return geometry_lib.Geometry(tuple(layer.kernel_size), tuple(layer.strides),
                                     tuple(layer.dilation_rate), layer.padding)


class MaxPool2DRule(LayerRule):
    """`MaxPooling2D`: switches recorded by `ArgmaxPool`, reversed by `Unpool`."""

    def unsupported_reason(self, layer):
        if layer.data_format != "channels_last":
            return "data_format must be channels_last"
        return None

    def forward(self, step, x, with_switches):
        if not with_switches:
            return super().forward(step, x, with_switches)
        layer = step.layer
        pooled, switches = deconv_layers.ArgmaxPool(
            layer.pool_size, layer.strides, layer.padding, name=f"{step.name}_argmax")(x)
        return {step.name: pooled, switches_key(step.name): switches}

    def needs(self, step, rule):
        return [switches_key(step.name), step.input_key]

    def reverse(self, step, signal, tensors, rule):
        layer = step.layer
        unpool = deconv_layers.Unpool(layer.pool_size, layer.strides, layer.padding,
                                      name=f"{step.name}_unpool")
        return unpool(signal, tensors[switches_key(step.name)], tensors[step.input_key])

    def window_needs(self, step, rule):
        return [switches_key(step.name)]

    def reverse_window(self, step, signal, window, tensors, rule, sizes, index):
        produced, below = _window_below(step, window, sizes, index)
        return window_lib.unpool(signal, tensors[switches_key(step.name)],
                                 step.geometry, window, produced, below,
                                 signal.shape[-1]), below

    def geometry(self, layer):
        return geometry_lib.Geometry(tuple(layer.pool_size), tuple(layer.strides), (1, 1),
                                     layer.padding)


# Matched by exact type: `isinstance` would let a subclass with another `call` through unnoticed.
LAYER_RULES = (
    (keras.layers.Conv2D, Conv2DRule()),
    (keras.layers.MaxPooling2D, MaxPool2DRule()),
    (keras.layers.ReLU, ReluRule()),
    (keras.layers.Activation, ActivationRule()),
    (keras.layers.Dropout, IdentityRule()),
    (keras.layers.SpatialDropout2D, IdentityRule()),
)


def rule_for(layer):
    """Returns the rule of `layer`'s exact type, or None if no rule covers it."""
    for layer_type, rule in LAYER_RULES:
        if type(layer) is layer_type:
            return rule
    return None
