"""The generic rule: any layer or operation without an explicit rule is reversed by its own
vector-Jacobian product at the forward point.

With the explicit rules, a projection is the gradient of an activation with respect to the
input in which every ReLU-family nonlinearity's backward is `relu(signal)` (the deconvnet) or
`relu(signal) * 1[forward > 0]` (guided backpropagation), every other layer reversed by its
exact gradient.
"""
import tensorflow as tf

from deconv.core import geometry as geometry_lib
from deconv.core import reverse_layers
from deconv.core import window as window_lib
from deconv.core.rules.base import LayerRule


class GenericRule(LayerRule):
    """Any other layer or operation: its own vector-Jacobian product at the forward point
    (`reverse_layers.LayerVJP`), with the layer's variables."""

    def needs(self, step, relu_rule):
        return list(step.inputs)

    def reverse(self, step, signal, context):
        vjp = reverse_layers.LayerVJP(step.layer, step.call.args, step.call.kwargs, step.inputs,
                                      name=f"{step.name}_vjp")
        gradients = vjp(signal, *[context.tensors[key] for key in step.inputs])
        return list(gradients) if isinstance(gradients, (list, tuple)) else [gradients]

    def window_needs(self, step, relu_rule):
        return list(step.inputs)

    def windows(self, step):
        """Pointwise layers and operations on maps: their VJP on the window's crop of their
        inputs (a broadcast input, 1x1, whole)."""
        return step.geometry is None and len(step.shape) == 4 and all(
            len(shape) == 4 for shape in step.in_shapes)

    def reverse_in_window(self, step, signal, context):
        window = context.window
        whole = [geometry_lib.broadcast(step, index) for index in range(len(step.inputs))]
        inputs = [tf.gather(context.tensors[key], window.source) if broadcast
                  else window.crop(context.tensors[key])
                  for key, broadcast in zip(step.inputs, whole)]
        gradients = reverse_layers.layer_vjp(step.layer, step.call.args, step.call.kwargs,
                                             step.inputs, signal, inputs)
        return [(gradient, window_lib.whole_window(window.source, (1, 1)) if broadcast
                 else window) for gradient, broadcast in zip(gradients, whole)]
