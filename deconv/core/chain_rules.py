"""The paper's reverse rules: rectify a ReLU, transpose a convolution with its own kernel, unpool a
max-pool by its switches; and the identity of dropout. Each also runs inside a receptive-field
window (`reverse_in_window`, see `deconv.core.window`), which is how a chain of these layers (VGG)
projects one activation at a fraction of the cost.

Forward tensors are keyed by name: `"input"` is the preprocessed image, a step's name its output,
and `"<pool>_switches"` a max-pool's switches.

Reference: Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks", ECCV 2014
(arXiv 1311.2901): the reverse of each layer is unpool -> rectify -> transposed filtering.
"""
import dataclasses

import tensorflow as tf

from deconv.core import geometry as geometry_lib
from deconv.core import layers as deconv_layers
from deconv.core import window as window_lib

# The activations whose backward the deconvnet replaces by `relu(signal)`.
RELU_FAMILY = ("relu", "relu6")


def switches_key(layer_name):
    """Returns the key of a max-pool layer's switches among the forward tensors."""
    return f"{layer_name}_switches"


def activation_name(layer):
    """The name of a layer's `activation` function (`"relu"`, `"linear"`), or None."""
    return getattr(getattr(layer, "activation", None), "__name__", None)


@dataclasses.dataclass
class Context:
    """What a rule's `reverse` reads while the deconv model is built.

    Attributes:
      tensors: `{key: KerasTensor}`, the deconv model's inputs: the forward tensors the rules
        asked for (`needs`).
      specs: `{key: KerasTensor}` of every forward tensor, for static shapes.
      rule: the ReLU rule, `"deconvnet"` or `"guided"`.
    """
    tensors: dict
    specs: dict
    rule: str


def rectify(step, signal, context):
    """The reverse of a step's ReLU; guided backprop also reads the step's forward output."""
    rectify = deconv_layers.Rectify(context.rule, name=f"{step.name}_rectify")
    if context.rule == "guided":
        return rectify(signal, context.tensors[step.name])
    return rectify(signal)


def rectify_window(step, signal, window, tensors, rule):
    """`_rectify` on a windowed signal (see `deconv.core.window`)."""
    rectified = tf.nn.relu(signal)
    if rule == "guided":
        rectified *= tf.cast(window.crop(tensors[step.name]) > 0, rectified.dtype)
    return rectified


def window_pads(step, in_size):
    """The padding before, per axis, of a windowed step reading maps of `in_size` (ints, or
    scalar tensors)."""
    static = all(isinstance(side, int) for side in in_size)
    return [geometry_lib.pad_before(step.geometry, axis, in_size[axis], step.name,
                                    max if static else tf.maximum) for axis in (0, 1)]


def produced_window(step, window, in_size):
    """Where the 'valid' transpose of a windowed step writes, in its input's maps of
    `in_size` (`deconv.core.window.Window.produced`)."""
    return window.produced(step.geometry, in_size, window_pads(step, in_size))


def fused_relu(layer):
    """Whether a layer's own `activation` is of the ReLU family."""
    return activation_name(layer) in RELU_FAMILY


def conv_transpose(step, signal, context):
    """The transpose of a `Conv2D` step's convolution with its kernel variable (no bias)."""
    layer = step.layer
    transpose = deconv_layers.TiedConvTranspose(
        kernel=layer.kernel, strides=layer.strides, padding=layer.padding,
        dilation_rate=layer.dilation_rate, name=f"{step.name}_transpose")
    if tuple(layer.strides) != (1, 1):
        return transpose(signal, context.tensors[step.input_key])
    return transpose(signal)


class LayerRule:
    """How one layer type runs forward and backward. Subclasses override what differs.

    `windowed`: whether a chain of such rules projects one activation inside its receptive
    field (`deconv.core.window`); `windows(step)`: whether `reverse_in_window` serves the
    step on a graph.
    """
    windowed = False

    def forward(self, step, tensors, with_switches):
        """Returns the forward tensors this step adds, keyed by name."""
        return {step.name: step.call(step.layer, tensors)}

    def needs(self, step, context):
        """Returns the keys of the forward tensors `reverse` reads (`context.tensors` is not
        filled yet)."""
        return []

    def reverse(self, step, signal, context):
        """Returns the signals at the step's inputs (one per `step.inputs`; None for an input
        that gets none), given the signal at its output."""
        return [signal]

    def window_needs(self, step, rule):
        """Returns the keys of the forward tensors `reverse_in_window` reads."""
        return []

    def windows(self, step):
        """Whether `reverse_in_window` serves this step (on a graph: `deconv.core.graph_window`)."""
        return self.windowed

    def reverse_in_window(self, step, signal, window, tensors, rule, in_sizes):
        """`reverse` on a signal that lives in a window (see `deconv.core.window`).

        Args:
          window: the signal's `Window` in the step's output maps.
          tensors: the forward tensors (`window_needs`), whole; crop them with the window.
          in_sizes: the map size of each of the step's inputs.

        Returns:
          One `(signal, window)` per input (None for an input that gets no signal): where the
          step writes in that input's maps (it may reach past them, into the padding); the
          output's own `window` object itself for a pointwise step.
        """
        return [(signal, window)] * len(step.inputs)


class IdentityRule(LayerRule):
    """Layers that are the identity at inference (dropout, `Activation("linear")`)."""
    windowed = True


class ReluRule(LayerRule):
    """A ReLU-family nonlinearity (`ReLU` layers, `Activation("relu")`, `relu6`): the deconvnet
    passes `relu(signal)`, guided backpropagation `relu(signal)` where the forward output is
    positive."""
    windowed = True

    def needs(self, step, context):
        return [step.name] if context.rule == "guided" else []

    def reverse(self, step, signal, context):
        return [rectify(step, signal, context)]

    def window_needs(self, step, rule):
        return [step.name] if rule == "guided" else []

    def reverse_in_window(self, step, signal, window, tensors, rule, in_sizes):
        return [(rectify_window(step, signal, window, tensors, rule), window)]


class Conv2DRule(LayerRule):
    """`Conv2D` with a ReLU-family or linear activation: rectify (if ReLU), then the transpose
    with the forward layer's kernel variable (no bias)."""
    windowed = True

    def needs(self, step, context):
        keys = [step.name] if context.rule == "guided" and fused_relu(step.layer) else []
        if tuple(step.layer.strides) != (1, 1):
            keys.append(step.input_key)
        return keys

    def reverse(self, step, signal, context):
        layer = step.layer
        if fused_relu(layer):
            signal = rectify(step, signal, context)
        return [conv_transpose(step, signal, context)]

    def window_needs(self, step, rule):
        return [step.name] if rule == "guided" and fused_relu(step.layer) else []

    def reverse_in_window(self, step, signal, window, tensors, rule, in_sizes):
        if fused_relu(step.layer):
            signal = rectify_window(step, signal, window, tensors, rule)
        produced = produced_window(step, window, in_sizes[0])
        return [(window_lib.conv_transpose(signal, step.layer.kernel, step.geometry, produced),
                 produced)]


class MaxPool2DRule(LayerRule):
    """`MaxPooling2D`: switches recorded by `ArgmaxPool`, reversed by `Unpool`."""
    windowed = True

    def forward(self, step, tensors, with_switches):
        if not with_switches:
            return super().forward(step, tensors, with_switches)
        layer = step.layer
        pooled, switches = deconv_layers.ArgmaxPool(
            layer.pool_size, layer.strides, layer.padding, name=f"{step.name}_argmax")(
                tensors[step.input_key])
        return {step.name: pooled, switches_key(step.name): switches}

    def needs(self, step, context):
        return [switches_key(step.name), step.input_key]

    def reverse(self, step, signal, context):
        layer = step.layer
        unpool = deconv_layers.Unpool(layer.pool_size, layer.strides, layer.padding,
                                      name=f"{step.name}_unpool")
        return [unpool(signal, context.tensors[switches_key(step.name)],
                       context.tensors[step.input_key])]

    def window_needs(self, step, rule):
        return [switches_key(step.name)]

    def reverse_in_window(self, step, signal, window, tensors, rule, in_sizes):
        produced = produced_window(step, window, in_sizes[0])
        return [(window_lib.unpool(signal, tensors[switches_key(step.name)], step.geometry,
                                   window, produced, signal.shape[-1]), produced)]
