"""Reverse rules for the layers of today's CNNs beyond VGG's: depthwise, separable and dense
transposes with the forward kernels; batch normalization's scale; merges (a signal goes to every
input of an add, is split at a concatenation); reshapes, paddings and croppings undone; average
pools spread evenly; a classifier's logits; and the generic rule, the layer's own
vector-Jacobian product at the forward point, for everything else.

Together with `deconv.core.chain_rules` they compute the gradient of an activation with respect
to the input in which every ReLU-family nonlinearity's backward is `relu(signal)` (the
deconvnet) or `relu(signal) * 1[forward > 0]` (guided backpropagation), every other layer
reversed by its exact gradient.
"""
import keras

import tensorflow as tf

from deconv.core import geometry as geometry_lib
from deconv.core import reverse_layers
from deconv.core import window as window_lib
from deconv.core.chain_rules import LayerRule
from deconv.core.chain_rules import conv_transpose
from deconv.core.chain_rules import fused_relu
from deconv.core.chain_rules import produced_window
from deconv.core.chain_rules import rectify
from deconv.core.chain_rules import rectify_window


class _Linear(LayerRule):
    """A layer with weights and a ReLU-family or linear fused activation: rectify, then the
    transpose of its linear part, built by `transpose(step, signal, context)`."""

    def needs(self, step, context):
        keys = [step.name] if context.rule == "guided" and fused_relu(step.layer) else []
        return keys + self.transpose_needs(step)

    def transpose_needs(self, step):
        return [step.input_key]

    def reverse(self, step, signal, context):
        if fused_relu(step.layer):
            signal = rectify(step, signal, context)
        return [self.transpose(step, signal, context)]

    def window_needs(self, step, rule):
        return [step.name] if rule == "guided" and fused_relu(step.layer) else []

    def windows(self, step):
        return True

    def reverse_in_window(self, step, signal, window, tensors, rule, in_sizes):
        if fused_relu(step.layer):
            signal = rectify_window(step, signal, window, tensors, rule)
        return [self.transpose_in_window(step, signal, window, in_sizes[0])]


class DepthwiseRule(_Linear):
    """`DepthwiseConv2D`: the transposed depthwise convolution with its kernel."""

    def transpose(self, step, signal, context):
        return reverse_layers.TiedDepthwiseTranspose(step.layer, name=f"{step.name}_transpose")(
            signal, context.tensors[step.input_key])

    def transpose_in_window(self, step, signal, window, in_size):
        produced = produced_window(step, window, in_size)
        return window_lib.depthwise_transpose(signal, step.layer.kernel, step.geometry,
                                              produced), produced


class SeparableRule(_Linear):
    """`SeparableConv2D`: the pointwise, then the depthwise transpose, with its two kernels."""

    def transpose(self, step, signal, context):
        return reverse_layers.TiedSeparableTranspose(step.layer, name=f"{step.name}_transpose")(
            signal, context.tensors[step.input_key])

    def transpose_in_window(self, step, signal, window, in_size):
        produced = produced_window(step, window, in_size)
        middle = reverse_layers.pointwise_transpose(signal, step.layer.pointwise_kernel)
        return window_lib.depthwise_transpose(middle, step.layer.depthwise_kernel,
                                              step.geometry, produced), produced


class DenseRule(_Linear):
    """`Dense` (on the last axis, of any rank): the product with its kernel's transpose."""

    def transpose_needs(self, step):
        return []

    def transpose(self, step, signal, context):
        return reverse_layers.TiedDenseTranspose(step.layer, name=f"{step.name}_transpose")(
            signal)

    def windows(self, step):
        return step.geometry is None and len(step.shape) == 4  # on the channels of maps

    def transpose_in_window(self, step, signal, window, in_size):
        return reverse_layers.dense_transpose(signal, step.layer.kernel), window


class LogitsRule(LayerRule):
    """A softmax classifier's output, projected from its logits (pre-softmax): a `Dense` or
    `Conv2D` with a fused softmax is run up to its logits, an `Activation("softmax")` passes
    them through; the reverse is the linear part's transpose (`base`, a `_Linear` rule or
    None for the activation)."""

    def __init__(self, base=None):
        self.base = base

    def forward(self, step, tensors, with_switches):
        if self.base is None:
            return {step.name: tensors[step.input_key]}
        return {step.name: reverse_layers.Logits(step.layer, name=f"{step.name}_logits")(
            tensors[step.input_key])}

    def needs(self, step, context):
        return [] if self.base is None else self.base.transpose_needs(step)

    def reverse(self, step, signal, context):
        return [signal if self.base is None else self.base.transpose(step, signal, context)]


class Conv2DLogits(_Linear):
    """The transpose of a `Conv2D`'s linear part, for `LogitsRule` (no rectification)."""

    def transpose_needs(self, step):
        return [step.input_key] if tuple(step.layer.strides) != (1, 1) else []

    def transpose(self, step, signal, context):
        return conv_transpose(step, signal, context)


class BatchNormRule(LayerRule):
    """Inference-time `BatchNormalization` over the last axis: its per-channel scale."""

    def reverse(self, step, signal, context):
        return [reverse_layers.BatchNormScale(step.layer, name=f"{step.name}_scale")(signal)]

    def windows(self, step):
        return True

    def reverse_in_window(self, step, signal, window, tensors, rule, in_sizes):
        return [(reverse_layers.batch_norm_scale(step.layer, signal), window)]


class AddRule(LayerRule):
    """`Add` of inputs of one shape: the signal goes to every input."""

    def reverse(self, step, signal, context):
        return [signal] * len(step.inputs)

    def windows(self, step):
        return True


class ConcatenateRule(LayerRule):
    """`Concatenate` along the channels: the signal is split back into each input's channels."""

    def reverse(self, step, signal, context):
        sizes = [int(context.specs[key].shape[-1]) for key in step.inputs]
        return list(reverse_layers.SplitChannels(sizes, name=f"{step.name}_split")(signal))

    def windows(self, step):
        return True

    def reverse_in_window(self, step, signal, window, tensors, rule, in_sizes):
        parts = tf.split(signal, [int(shape[-1]) for shape in step.in_shapes], axis=-1)
        return [(part, window) for part in parts]


class ReshapeRule(LayerRule):
    """`Flatten` and `Reshape`: the signal takes back the forward input's shape."""

    def needs(self, step, context):
        return [step.input_key]

    def reverse(self, step, signal, context):
        return [reverse_layers.ReshapeLike(name=f"{step.name}_unreshape")(
            signal, context.tensors[step.input_key])]


class PaddingRule(LayerRule):
    """`ZeroPadding2D`: the padding is cropped off the signal."""

    def reverse(self, step, signal, context):
        return [keras.layers.Cropping2D(step.layer.padding, name=f"{step.name}_crop")(signal)]

    def windows(self, step):
        return True

    def reverse_in_window(self, step, signal, window, tensors, rule, in_sizes):
        top, left = step.geometry.before
        return [(signal, window.moved((-top, -left), in_sizes[0]))]


class CroppingRule(LayerRule):
    """`Cropping2D`: the signal is padded back with zeros."""

    def reverse(self, step, signal, context):
        return [keras.layers.ZeroPadding2D(step.layer.cropping, name=f"{step.name}_pad")(
            signal)]

    def windows(self, step):
        return True

    def reverse_in_window(self, step, signal, window, tensors, rule, in_sizes):
        top, left = step.geometry.before
        return [(signal, window.moved((top, left), in_sizes[0]))]


class AveragePoolRule(LayerRule):
    """`AveragePooling2D`: each window's signal spread evenly over what it averaged."""

    def needs(self, step, context):
        return [step.input_key]

    def reverse(self, step, signal, context):
        layer = step.layer
        return [reverse_layers.AveragePoolTranspose(
            layer.pool_size, layer.strides, layer.padding, name=f"{step.name}_spread")(
                signal, context.tensors[step.input_key])]


class GlobalAveragePoolRule(AveragePoolRule):
    """`GlobalAveragePooling2D`: each channel's signal spread evenly over the positions."""

    def reverse(self, step, signal, context):
        return [reverse_layers.SpreadEvenly(name=f"{step.name}_spread")(
            signal, context.tensors[step.input_key])]


class GenericRule(LayerRule):
    """Any other layer or operation: its own vector-Jacobian product at the forward point
    (`reverse_layers.LayerVJP`), with the layer's variables."""

    def needs(self, step, context):
        return list(step.inputs)

    def reverse(self, step, signal, context):
        vjp = reverse_layers.LayerVJP(step.layer, step.call.args, step.call.kwargs, step.inputs,
                                      name=f"{step.name}_vjp")
        gradients = vjp(signal, *[context.tensors[key] for key in step.inputs])
        return list(gradients) if isinstance(gradients, (list, tuple)) else [gradients]

    def window_needs(self, step, rule):
        return list(step.inputs)

    def windows(self, step):
        """Pointwise layers and operations on maps: their VJP on the window's crop of their
        inputs (a broadcast input, 1x1, whole)."""
        return step.geometry is None and len(step.shape) == 4 and all(
            len(shape) == 4 for shape in step.in_shapes)

    def reverse_in_window(self, step, signal, window, tensors, rule, in_sizes):
        whole = [geometry_lib.broadcast(step, index) for index in range(len(step.inputs))]
        inputs = [tf.gather(tensors[key], window.source) if broadcast
                  else window.crop(tensors[key]) for key, broadcast in zip(step.inputs, whole)]
        gradients = reverse_layers.layer_vjp(step.layer, step.call.args, step.call.kwargs,
                                             step.inputs, signal, inputs)
        return [(gradient, window_lib.whole_window(window.source, (1, 1)) if broadcast
                 else window) for gradient, broadcast in zip(gradients, whole)]
