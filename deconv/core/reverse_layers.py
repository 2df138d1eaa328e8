"""The Keras layers of the reverse path: the paper's three (unpooling by switches, rectification,
a transposed convolution that uses a forward convolution's kernel variable itself); the
transposes of depthwise, separable and dense layers with the forward layers' own kernel
variables, the inference-time scale of a batch normalization, the even spread of average
pooling, the logits of a softmax classifier, and the generic rule: a layer's own
vector-Jacobian product at the forward point. (The forward pass's `ArgmaxPool`, which records
the switches, is in `deconv.core.layers`.)

Each is a thin `keras.layers.Layer` with `call`, an output spec and `get_config`, so the deconv
model stays a functional Keras model.

Reference: Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks", ECCV 2014
(arXiv 1311.2901), section 2.1.
"""
import keras
import tensorflow as tf

from deconv.core.calls import fill
from deconv.core.layers import PoolWindow
from deconv.core.layers import pair
from deconv.core.rules.base import RELU_RULES


def _spec_like(tensor):
    return keras.KerasTensor(tensor.shape, tensor.dtype)


@keras.saving.register_keras_serializable(package="deconv")
class Unpool(PoolWindow):
    """Places each value of a signal at its switch in a zero tensor shaped like the pre-pool tensor.

    Call with `(signal, switches, prepool)`: `prepool` is the forward tensor that was pooled; only
    its shape is used (odd sizes such as 67x45 lose their last row or column to pooling, so the
    shape cannot be derived from the signal). Values sharing a switch (overlapping windows) add.
    The scatter is `MaxPoolGradWithArgmax`, TensorFlow's own scatter-by-argmax kernel.
    """

    def call(self, signal, switches, prepool):
        return tf.raw_ops.MaxPoolGradWithArgmax(input=prepool, grad=signal, argmax=switches,
                                                **self._window())

    def compute_output_spec(self, signal, switches, prepool):
        return keras.KerasTensor(prepool.shape, signal.dtype)


@keras.saving.register_keras_serializable(package="deconv")
class Rectify(keras.layers.Layer):
    """The reverse rule of a ReLU.

    `relu_rule="deconvnet"` (Zeiler & Fergus): `relu(signal)`, whatever the forward pass did.
    `relu_rule="guided"` (guided backpropagation, Springenberg et al. 2015): `relu(signal)` where
    the forward ReLU's output was positive, zero elsewhere; call with `(signal, forward_output)`.
    """

    def __init__(self, relu_rule="deconvnet", **kwargs):
        super().__init__(**kwargs)
        if relu_rule not in RELU_RULES:
            raise ValueError(f"Unknown ReLU rule {relu_rule!r}; valid: {', '.join(RELU_RULES)}.")
        self.relu_rule = relu_rule

    def call(self, signal, forward_output=None):
        rectified = tf.nn.relu(signal)
        if self.relu_rule == "guided":
            rectified = rectified * tf.cast(forward_output > 0, rectified.dtype)
        return rectified

    def compute_output_spec(self, signal, forward_output=None):
        return keras.KerasTensor(signal.shape, signal.dtype)

    def get_config(self):
        return {**super().get_config(), "relu_rule": self.relu_rule}


@keras.saving.register_keras_serializable(package="deconv")
class TiedConvTranspose(keras.layers.Layer):
    """The transpose of a forward `Conv2D`, using that layer's kernel variable (no copy, no bias).

    `tf.nn.conv2d_transpose` with the forward kernel `(kh, kw, in, out)` is the adjoint of the
    forward convolution, i.e. the convolution with the kernel flipped in space and transposed in
    channels, as the paper prescribes. Assigning to the forward kernel changes this layer's output.

    Call with `signal`, or with `(signal, forward_input)` when the forward stride is not 1: the
    forward input then supplies the exact output shape, which a strided convolution does not
    determine.

    Args:
      kernel: the forward layer's kernel variable. `None` creates a variable of `kernel_shape`
        (used when the layer is rebuilt from its config, before weights are loaded).
      kernel_shape: `(kh, kw, in_channels, out_channels)` of the forward kernel.
      strides, padding, dilation_rate: those of the forward convolution.
    """

    def __init__(self, kernel=None, kernel_shape=None, strides=(1, 1), padding="same",
                 dilation_rate=(1, 1), **kwargs):
        super().__init__(**kwargs)
        if kernel is None and kernel_shape is None:
            raise ValueError("TiedConvTranspose needs a kernel variable or a kernel_shape.")
        self.kernel_shape = tuple(kernel.shape if kernel is not None else kernel_shape)
        self.strides = pair(strides)
        self.padding = padding.lower()
        self.dilation_rate = pair(dilation_rate)
        if kernel is not None:
            self.kernel = kernel
        else:
            self.kernel = self.add_weight(shape=self.kernel_shape, name="kernel",
                                          initializer="zeros")

    def _output_shape(self, signal, forward_input):
        if forward_input is not None:
            return tf.concat([tf.shape(forward_input)[:3], [self.kernel_shape[2]]], axis=0)
        shape = tf.shape(signal)
        height, width = shape[1], shape[2]
        if self.padding == "valid":
            height += (self.kernel_shape[0] - 1) * self.dilation_rate[0]
            width += (self.kernel_shape[1] - 1) * self.dilation_rate[1]
        return tf.stack([shape[0], height, width, self.kernel_shape[2]])

    def call(self, signal, forward_input=None):
        if forward_input is None and self.strides != (1, 1):
            raise ValueError("A strided TiedConvTranspose needs the forward input for its shape.")
        return tf.nn.conv2d_transpose(
            signal, tf.convert_to_tensor(self.kernel), self._output_shape(signal, forward_input),
            strides=(1, *self.strides, 1), padding=self.padding.upper(),
            dilations=(1, *self.dilation_rate, 1))

    def compute_output_spec(self, signal, forward_input=None):
        if forward_input is not None:
            spatial = forward_input.shape[1:3]
        elif self.padding == "valid":
            spatial = tuple(
                None if size is None else size + (k - 1) * d
                for size, k, d in zip(signal.shape[1:3], self.kernel_shape, self.dilation_rate))
        else:
            spatial = signal.shape[1:3]
        return keras.KerasTensor((signal.shape[0], *spatial, self.kernel_shape[2]), signal.dtype)

    def get_config(self):
        return {**super().get_config(), "kernel_shape": self.kernel_shape,
                "strides": self.strides, "padding": self.padding,
                "dilation_rate": self.dilation_rate}


class _Tied(keras.layers.Layer):
    """A reverse layer that reads the variables of a forward layer (`source`), never copies.

    The forward layer is held outside Keras's tracking (a tuple), so the reverse layer's own
    `weights` list only what it uses, as `TiedConvTranspose` does with its kernel.
    """

    def __init__(self, source, **kwargs):
        super().__init__(**kwargs)
        self._source = (source,)

    @property
    def source(self):
        return self._source[0]

    def get_config(self):
        """The forward layer it is tied to is named, not serialized: deconv rebuilds these
        layers from the live model."""
        return {**super().get_config(), "source": self.source.name}


def _depthwise_transpose(layer, kernel, signal, forward_input):
    """The transpose of `layer`'s depthwise convolution with `kernel`, onto the forward input's
    shape."""
    return tf.nn.depthwise_conv2d_backprop_input(
        tf.shape(forward_input), tf.convert_to_tensor(kernel), signal,
        strides=(1, *pair(layer.strides), 1), padding=layer.padding.upper(),
        dilations=(1, *pair(layer.dilation_rate), 1))


@keras.saving.register_keras_serializable(package="deconv")
class TiedDepthwiseTranspose(_Tied):
    """The transpose of a `DepthwiseConv2D` with its kernel: call with `(signal, forward_input)`
    (the forward input gives the exact output shape)."""

    def __init__(self, source, **kwargs):
        super().__init__(source, **kwargs)
        self.kernel = source.kernel

    def call(self, signal, forward_input):
        return _depthwise_transpose(self.source, self.kernel, signal, forward_input)

    def compute_output_spec(self, signal, forward_input):
        return _spec_like(forward_input)


def pointwise_transpose(signal, kernel):
    """The transpose of a 1x1 convolution (a separable layer's pointwise kernel)."""
    return tf.einsum("nhwo,co->nhwc", signal, tf.convert_to_tensor(kernel)[0, 0])


def dense_transpose(signal, kernel):
    """The transpose of a dense layer's product with `kernel`, over the last axis."""
    return tf.tensordot(signal, tf.transpose(tf.convert_to_tensor(kernel)), axes=1)


def batch_norm_scale(layer, signal):
    """The reverse of an inference-time batch normalization over the last axis: the signal
    times `gamma / sqrt(moving_variance + epsilon)` per channel."""
    scale = tf.math.rsqrt(tf.convert_to_tensor(layer.moving_variance) + layer.epsilon)
    if layer.scale:
        scale *= tf.convert_to_tensor(layer.gamma)
    return signal * tf.cast(scale, signal.dtype)


def layer_vjp(layer, args, kwargs, keys, signal, inputs):
    """A layer's (or operation's) vector-Jacobian product at `inputs` (the tensors of `keys`,
    in its recorded call `args`, `kwargs`), seeded with `signal`: one gradient per input,
    zeros where an input does not reach the output."""
    inputs = [tf.convert_to_tensor(x) for x in inputs]
    with tf.GradientTape() as tape:
        for tensor in inputs:
            tape.watch(tensor)
        given = dict(zip(keys, inputs))
        output = layer(*fill(args, given), **fill(kwargs, given))
    gradients = tape.gradient(output, inputs, output_gradients=signal)
    return [tf.zeros_like(x) if g is None else g for g, x in zip(gradients, inputs)]


@keras.saving.register_keras_serializable(package="deconv")
class TiedSeparableTranspose(_Tied):
    """The transpose of a `SeparableConv2D` with its two kernels: the pointwise transpose (a
    1x1 product with the pointwise kernel), then the depthwise one; call with `(signal,
    forward_input)`."""

    def __init__(self, source, **kwargs):
        super().__init__(source, **kwargs)
        self.depthwise_kernel = source.depthwise_kernel
        self.pointwise_kernel = source.pointwise_kernel

    def call(self, signal, forward_input):
        middle = pointwise_transpose(signal, self.pointwise_kernel)
        return _depthwise_transpose(self.source, self.depthwise_kernel, middle, forward_input)

    def compute_output_spec(self, signal, forward_input):
        return _spec_like(forward_input)


@keras.saving.register_keras_serializable(package="deconv")
class TiedDenseTranspose(_Tied):
    """The transpose of a `Dense` layer with its kernel, over the last axis of any rank."""

    def __init__(self, source, **kwargs):
        super().__init__(source, **kwargs)
        self.kernel = source.kernel

    def call(self, signal):
        return dense_transpose(signal, self.kernel)

    def compute_output_spec(self, signal):
        return keras.KerasTensor((*signal.shape[:-1], self.kernel.shape[0]), signal.dtype)


@keras.saving.register_keras_serializable(package="deconv")
class BatchNormScale(_Tied):
    """The reverse of an inference-time `BatchNormalization` over the last axis: the signal times
    `gamma / sqrt(moving_variance + epsilon)`, per channel, from the layer's own variables."""

    def call(self, signal):
        return batch_norm_scale(self.source, signal)

    def compute_output_spec(self, signal):
        return _spec_like(signal)


@keras.saving.register_keras_serializable(package="deconv")
class SpreadEvenly(keras.layers.Layer):
    """The reverse of a global average pool: each channel's signal spread evenly over the
    forward input's positions; call with `(signal, forward_input)`."""

    def call(self, signal, forward_input):
        shape = tf.shape(forward_input)
        count = tf.cast(shape[1] * shape[2], signal.dtype)
        per_position = tf.reshape(signal, [shape[0], 1, 1, shape[3]]) / count
        return tf.broadcast_to(per_position, shape)

    def compute_output_spec(self, signal, forward_input):
        return _spec_like(forward_input)


@keras.saving.register_keras_serializable(package="deconv")
class AveragePoolTranspose(PoolWindow):
    """The reverse of an `AveragePooling2D`: each window's signal spread evenly over the
    positions it averaged (TensorFlow's `AvgPoolGrad`); call with `(signal, forward_input)`."""

    def call(self, signal, forward_input):
        return tf.raw_ops.AvgPoolGrad(
            orig_input_shape=tf.shape(forward_input), grad=signal,
            ksize=(1, *self.pool_size, 1), strides=(1, *self.strides, 1),
            padding=self.padding.upper())

    def compute_output_spec(self, signal, forward_input):
        return _spec_like(forward_input)


@keras.saving.register_keras_serializable(package="deconv")
class SplitChannels(keras.layers.Layer):
    """The reverse of a concatenation along the channels: the signal split into parts of
    `sizes` channels."""

    def __init__(self, sizes, **kwargs):
        super().__init__(**kwargs)
        self.sizes = [int(size) for size in sizes]

    def call(self, signal):
        return tf.split(signal, self.sizes, axis=-1)

    def compute_output_spec(self, signal):
        return [keras.KerasTensor((*signal.shape[:-1], size), signal.dtype)
                for size in self.sizes]

    def get_config(self):
        return {**super().get_config(), "sizes": self.sizes}


@keras.saving.register_keras_serializable(package="deconv")
class ReshapeLike(keras.layers.Layer):
    """The reverse of a reshape: the signal reshaped to the forward input's shape; call with
    `(signal, forward_input)`."""

    def call(self, signal, forward_input):
        return tf.reshape(signal, tf.shape(forward_input))

    def compute_output_spec(self, signal, forward_input):
        return _spec_like(forward_input)


@keras.saving.register_keras_serializable(package="deconv")
class Logits(_Tied):
    """A softmax classifier's logits: a `Dense` (or `Conv2D`) layer's output before its softmax,
    from its own variables (projecting a class projects its logit, not its probability)."""

    def call(self, inputs):
        layer = self.source
        if isinstance(layer, keras.layers.Dense):
            outputs = tf.tensordot(inputs, tf.convert_to_tensor(layer.kernel), axes=1)
        else:
            outputs = layer.convolution_op(inputs, layer.kernel)
        return outputs + layer.bias if layer.use_bias else outputs

    def compute_output_spec(self, inputs):
        spec = self.source.compute_output_spec(inputs)
        return keras.KerasTensor(spec.shape, spec.dtype)


@keras.saving.register_keras_serializable(package="deconv")
class LayerVJP(_Tied):
    """The generic rule: a layer's (or operation's) own vector-Jacobian product at the forward
    point. Call with `(signal, *forward_inputs)`: the layer is run again on its forward inputs
    under a gradient tape, seeded with `signal`; returns one gradient per input (zeros where an
    input does not reach the output).

    Args:
      source: the Keras layer or operation.
      args, kwargs: its recorded call, with `Ref(key)` for each tensor (`deconv.core.calls`).
      keys: the keys of the forward inputs, in the order they are passed.
    """

    def __init__(self, source, args, kwargs, keys, **layer_kwargs):
        super().__init__(source, **layer_kwargs)
        self.call_args, self.call_kwargs, self.keys = args, kwargs, tuple(keys)

    def call(self, signal, *forward_inputs):
        return layer_vjp(self.source, self.call_args, self.call_kwargs, self.keys, signal,
                         forward_inputs)

    def compute_output_spec(self, signal, *forward_inputs):
        return [_spec_like(x) for x in forward_inputs]
