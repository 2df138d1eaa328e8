"""Reverse rules of merges: a signal goes to every input of an add, and is split at a
concatenation into each input's channels."""
import tensorflow as tf

from deconv.core import reverse_layers
from deconv.core.rules.base import LayerRule


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

    def reverse_in_window(self, step, signal, context):
        parts = tf.split(signal, [int(shape[-1]) for shape in step.in_shapes], axis=-1)
        return [(part, context.window) for part in parts]
