"""Keras layers of the reverse path beyond the paper's three (`deconv.core.layers`): the transposes
of depthwise, separable and dense layers with the forward layers' own kernel variables, the
inference-time scale of a batch normalization, the even spread of average pooling, the logits of
a softmax classifier, and the generic rule: a layer's own vector-Jacobian product at the forward
point.

Each is a thin `keras.layers.Layer` with `call`, an output spec and `get_config`, so the deconv
model stays a functional Keras model.
"""
import keras
import tensorflow as tf

from deconv.core.calls import fill


def _pair(value):
    return (value, value) if isinstance(value, int) else tuple(value)


def _spec_like(tensor):
    return keras.KerasTensor(tensor.shape, tensor.dtype)


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
        strides=(1, *_pair(layer.strides), 1), padding=layer.padding.upper(),
        dilations=(1, *_pair(layer.dilation_rate), 1))


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
class AveragePoolTranspose(keras.layers.Layer):
    """The reverse of an `AveragePooling2D`: each window's signal spread evenly over the
    positions it averaged (TensorFlow's `AvgPoolGrad`); call with `(signal, forward_input)`."""

    def __init__(self, pool_size=(2, 2), strides=(2, 2), padding="valid", **kwargs):
        super().__init__(**kwargs)
        self.pool_size, self.strides = _pair(pool_size), _pair(strides)
        self.padding = padding.lower()

    def call(self, signal, forward_input):
        return tf.raw_ops.AvgPoolGrad(
            orig_input_shape=tf.shape(forward_input), grad=signal,
            ksize=(1, *self.pool_size, 1), strides=(1, *self.strides, 1),
            padding=self.padding.upper())

    def compute_output_spec(self, signal, forward_input):
        return _spec_like(forward_input)

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size, "strides": self.strides,
                "padding": self.padding}


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
