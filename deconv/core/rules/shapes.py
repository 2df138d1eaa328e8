"""Reverse rules of the layers that move or pool positions without weights: reshapes, paddings
and croppings undone; average pools spread evenly over what they averaged."""
import keras

from deconv.core import reverse_layers
from deconv.core.rules.base import LayerRule


class ReshapeRule(LayerRule):
    """`Flatten` and `Reshape`: the signal takes back the forward input's shape."""

    def needs(self, step, relu_rule):
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

    def reverse_in_window(self, step, signal, context):
        top, left = step.geometry.before
        return [(signal, context.window.moved((-top, -left), context.in_sizes[0]))]


class CroppingRule(LayerRule):
    """`Cropping2D`: the signal is padded back with zeros."""

    def reverse(self, step, signal, context):
        return [keras.layers.ZeroPadding2D(step.layer.cropping, name=f"{step.name}_pad")(
            signal)]

    def windows(self, step):
        return True

    def reverse_in_window(self, step, signal, context):
        top, left = step.geometry.before
        return [(signal, context.window.moved((top, left), context.in_sizes[0]))]


class AveragePoolRule(LayerRule):
    """`AveragePooling2D`: each window's signal spread evenly over what it averaged."""

    def needs(self, step, relu_rule):
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
