"""The paper's reverse rules: rectify a ReLU, transpose a convolution with its own kernel, unpool a
max-pool by its switches; and the identity of dropout. Each also runs inside a receptive-field
window (`reverse_in_window`, see `deconv.core.window`), which is how a chain of these layers (VGG)
projects one activation at a fraction of the cost.

Reference: Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks", ECCV 2014
(arXiv 1311.2901): the reverse of each layer is unpool -> rectify -> transposed filtering.
"""
import tensorflow as tf

from deconv.core import geometry as geometry_lib
from deconv.core import layers as forward_layers
from deconv.core import reverse_layers
from deconv.core import window as window_lib
from deconv.core.rules.base import LayerRule
from deconv.core.rules.base import fused_relu
from deconv.core.rules.base import switches_key


def rectify(step, signal, context):
    """The reverse of a step's ReLU; guided backprop also reads the step's forward output."""
    rectify = reverse_layers.Rectify(context.relu_rule, name=f"{step.name}_rectify")
    if context.relu_rule == "guided":
        return rectify(signal, context.tensors[step.name])
    return rectify(signal)


def rectify_window(step, signal, context):
    """`rectify` on a windowed signal (a `WindowContext`, see `deconv.core.window`)."""
    rectified = tf.nn.relu(signal)
    if context.relu_rule == "guided":
        rectified *= tf.cast(context.window.crop(context.tensors[step.name]) > 0,
                             rectified.dtype)
    return rectified


def guided_needs(step, relu_rule):
    """The forward output a step's fused ReLU reads under guided backpropagation, if any."""
    return [step.name] if relu_rule == "guided" and fused_relu(step.layer) else []


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


def conv_transpose(step, signal, context):
    """The transpose of a `Conv2D` step's convolution with its kernel variable (no bias)."""
    layer = step.layer
    transpose = reverse_layers.TiedConvTranspose(
        kernel=layer.kernel, strides=layer.strides, padding=layer.padding,
        dilation_rate=layer.dilation_rate, name=f"{step.name}_transpose")
    if tuple(layer.strides) != (1, 1):
        return transpose(signal, context.tensors[step.input_key])
    return transpose(signal)


class IdentityRule(LayerRule):
    """Layers that are the identity at inference (dropout, `Activation("linear")`)."""
    windowed = True


class ReluRule(LayerRule):
    """A ReLU-family nonlinearity (`ReLU` layers, `Activation("relu")`, `relu6`): the deconvnet
    passes `relu(signal)`, guided backpropagation `relu(signal)` where the forward output is
    positive."""
    windowed = True

    def needs(self, step, relu_rule):
        return [step.name] if relu_rule == "guided" else []

    def reverse(self, step, signal, context):
        return [rectify(step, signal, context)]

    def window_needs(self, step, relu_rule):
        return self.needs(step, relu_rule)

    def reverse_in_window(self, step, signal, context):
        return [(rectify_window(step, signal, context), context.window)]


class Conv2DRule(LayerRule):
    """`Conv2D` with a ReLU-family or linear activation: rectify (if ReLU), then the transpose
    with the forward layer's kernel variable (no bias)."""
    windowed = True

    def needs(self, step, relu_rule):
        keys = guided_needs(step, relu_rule)
        if tuple(step.layer.strides) != (1, 1):
            keys.append(step.input_key)
        return keys

    def reverse(self, step, signal, context):
        if fused_relu(step.layer):
            signal = rectify(step, signal, context)
        return [conv_transpose(step, signal, context)]

    def window_needs(self, step, relu_rule):
        return guided_needs(step, relu_rule)

    def reverse_in_window(self, step, signal, context):
        if fused_relu(step.layer):
            signal = rectify_window(step, signal, context)
        produced = produced_window(step, context.window, context.in_sizes[0])
        return [(window_lib.conv_transpose(signal, step.layer.kernel, step.geometry, produced),
                 produced)]


class MaxPool2DRule(LayerRule):
    """`MaxPooling2D`: switches recorded by `ArgmaxPool`, reversed by `Unpool`."""
    windowed = True

    def forward(self, step, tensors, with_switches):
        if not with_switches:
            return super().forward(step, tensors, with_switches)
        layer = step.layer
        pooled, switches = forward_layers.ArgmaxPool(
            layer.pool_size, layer.strides, layer.padding, name=f"{step.name}_argmax")(
                tensors[step.input_key])
        return {step.name: pooled, switches_key(step.name): switches}

    def needs(self, step, relu_rule):
        return [switches_key(step.name), step.input_key]

    def reverse(self, step, signal, context):
        layer = step.layer
        unpool = reverse_layers.Unpool(layer.pool_size, layer.strides, layer.padding,
                                       name=f"{step.name}_unpool")
        return [unpool(signal, context.tensors[switches_key(step.name)],
                       context.tensors[step.input_key])]

    def window_needs(self, step, relu_rule):
        return [switches_key(step.name)]

    def reverse_in_window(self, step, signal, context):
        window = context.window
        produced = produced_window(step, window, context.in_sizes[0])
        return [(window_lib.unpool(signal, context.tensors[switches_key(step.name)],
                                   step.geometry, window, produced, signal.shape[-1]),
                 produced)]
