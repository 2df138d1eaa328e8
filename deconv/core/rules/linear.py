"""Reverse rules of the linear layers beyond the paper's convolution: depthwise, separable and
dense transposes with the forward kernels (after rectifying a fused ReLU), batch
normalization's scale, and a softmax classifier's logits.
"""
from deconv.core import reverse_layers
from deconv.core import window as window_lib
from deconv.core.rules.base import LayerRule
from deconv.core.rules.base import fused_relu
from deconv.core.rules.paper import conv_transpose
from deconv.core.rules.paper import guided_needs
from deconv.core.rules.paper import produced_window
from deconv.core.rules.paper import rectify
from deconv.core.rules.paper import rectify_window


class _Linear(LayerRule):
    """A layer with weights and a ReLU-family or linear fused activation: rectify, then the
    transpose of its linear part, built by `transpose(step, signal, context)`."""

    def needs(self, step, relu_rule):
        return guided_needs(step, relu_rule) + self.transpose_needs(step)

    def transpose_needs(self, step):
        return [step.input_key]

    def reverse(self, step, signal, context):
        if fused_relu(step.layer):
            signal = rectify(step, signal, context)
        return [self.transpose(step, signal, context)]

    def window_needs(self, step, relu_rule):
        return guided_needs(step, relu_rule)

    def windows(self, step):
        return True

    def reverse_in_window(self, step, signal, context):
        if fused_relu(step.layer):
            signal = rectify_window(step, signal, context)
        return [self.transpose_in_window(step, signal, context.window, context.in_sizes[0])]


class DepthwiseRule(_Linear):
    """`DepthwiseConv2D`: the transposed depthwise convolution with its kernel."""
    tied = reverse_layers.TiedDepthwiseTranspose

    def depthwise_kernel(self, layer):
        return layer.kernel

    def before_depthwise(self, step, signal):
        """The signal the depthwise transpose reads (a separable layer's: past its pointwise
        transpose)."""
        return signal

    def transpose(self, step, signal, context):
        return self.tied(step.layer, name=f"{step.name}_transpose")(
            signal, context.tensors[step.input_key])

    def transpose_in_window(self, step, signal, window, in_size):
        produced = produced_window(step, window, in_size)
        return window_lib.depthwise_transpose(
            self.before_depthwise(step, signal), self.depthwise_kernel(step.layer),
            step.geometry, produced), produced


class SeparableRule(DepthwiseRule):
    """`SeparableConv2D`: the pointwise, then the depthwise transpose, with its two kernels."""
    tied = reverse_layers.TiedSeparableTranspose

    def depthwise_kernel(self, layer):
        return layer.depthwise_kernel

    def before_depthwise(self, step, signal):
        return reverse_layers.pointwise_transpose(signal, step.layer.pointwise_kernel)


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


class Conv2DLogits(_Linear):
    """The transpose of a `Conv2D`'s linear part, for `LogitsRule` (no rectification)."""

    def transpose_needs(self, step):
        return [step.input_key] if tuple(step.layer.strides) != (1, 1) else []

    def transpose(self, step, signal, context):
        return conv_transpose(step, signal, context)


class LogitsRule(LayerRule):
    """A softmax classifier's output, projected from its logits (pre-softmax): a `Dense` or
    `Conv2D` with a fused softmax is run up to its logits, an `Activation("softmax")` passes
    them through; the reverse is the linear part's transpose (`base`, a `_Linear` rule or
    None for the activation). The rule table gives it to such a layer when it ends the model."""

    def __init__(self, base=None):
        self.base = base

    def forward(self, step, tensors, with_switches):
        if self.base is None:
            return {step.name: tensors[step.input_key]}
        return {step.name: reverse_layers.Logits(step.layer, name=f"{step.name}_logits")(
            tensors[step.input_key])}

    def needs(self, step, relu_rule):
        return [] if self.base is None else self.base.transpose_needs(step)

    def reverse(self, step, signal, context):
        return [signal if self.base is None else self.base.transpose(step, signal, context)]


class BatchNormRule(LayerRule):
    """Inference-time `BatchNormalization` over the last axis: its per-channel scale."""

    def reverse(self, step, signal, context):
        return [reverse_layers.BatchNormScale(step.layer, name=f"{step.name}_scale")(signal)]

    def windows(self, step):
        return True

    def reverse_in_window(self, step, signal, context):
        return [(reverse_layers.batch_norm_scale(step.layer, signal), context.window)]
