"""The deconvnet's own layers: argmax max-pooling, unpooling by switches, rectification, and a
transposed convolution that uses a forward convolution's kernel variable itself.

Keras 3 does not accept raw TensorFlow ops on symbolic tensors, so each op the deconvnet needs is a
thin `keras.layers.Layer` with `call`, an output spec and `get_config`.

Reference: Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks", ECCV 2014
(arXiv 1311.2901), section 2.1.
"""
import keras
import tensorflow as tf

# How a ReLU is reversed: the deconvnet's relu(signal), or guided backpropagation's.
RELU_RULES = ("deconvnet", "guided")


def _pair(value):
    return (value, value) if isinstance(value, int) else tuple(value)


def pooled_size(size, pool, stride, padding):
    """Returns the output length of a pooling or convolution along one axis (None if unknown)."""
    if size is None:
        return None
    if padding == "same":
        return -(-size // stride)
    return (size - pool) // stride + 1


class _PoolWindow(keras.layers.Layer):
    """What `ArgmaxPool` and `Unpool` share: a max-pool's window, stride and padding."""

    def __init__(self, pool_size=(2, 2), strides=(2, 2), padding="valid", **kwargs):
        super().__init__(**kwargs)
        self.pool_size = _pair(pool_size)
        self.strides = _pair(strides)
        self.padding = padding.lower()

    def _window(self):
        return dict(ksize=(1, *self.pool_size, 1), strides=(1, *self.strides, 1),
                    padding=self.padding.upper(), include_batch_in_index=True)

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size, "strides": self.strides,
                "padding": self.padding}


@keras.saving.register_keras_serializable(package="deconv")
class ArgmaxPool(_PoolWindow):
    """Max-pooling that also returns the switches: the flat index of each maximum.

    The switches come from `tf.nn.max_pool_with_argmax` with `include_batch_in_index=True`, so an
    index addresses the pre-pool tensor `(N, H, W, C)` as a whole. That op has no XLA kernel: keep
    models holding this layer out of `jit_compile`.
    """

    def call(self, inputs):
        return tf.nn.max_pool_with_argmax(inputs, **self._window())

    def compute_output_spec(self, inputs):
        n, h, w, c = inputs.shape
        shape = (n, pooled_size(h, self.pool_size[0], self.strides[0], self.padding),
                 pooled_size(w, self.pool_size[1], self.strides[1], self.padding), c)
        return keras.KerasTensor(shape, inputs.dtype), keras.KerasTensor(shape, "int64")


@keras.saving.register_keras_serializable(package="deconv")
class Unpool(_PoolWindow):
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

    `rule="deconvnet"` (Zeiler & Fergus): `relu(signal)`, whatever the forward pass did.
    `rule="guided"` (guided backpropagation, Springenberg et al. 2015): `relu(signal)` where the
    forward ReLU's output was positive, zero elsewhere; call with `(signal, forward_output)`.
    """

    def __init__(self, rule="deconvnet", **kwargs):
        super().__init__(**kwargs)
        if rule not in RELU_RULES:
            raise ValueError(f"Unknown reverse rule {rule!r}; valid: {', '.join(RELU_RULES)}.")
        self.rule = rule

    def call(self, signal, forward_output=None):
        rectified = tf.nn.relu(signal)
        if self.rule == "guided":
            rectified = rectified * tf.cast(forward_output > 0, rectified.dtype)
        return rectified

    def compute_output_spec(self, signal, forward_output=None):
        return keras.KerasTensor(signal.shape, signal.dtype)

    def get_config(self):
        return {**super().get_config(), "rule": self.rule}


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
        self.strides = _pair(strides)
        self.padding = padding.lower()
        self.dilation_rate = _pair(dilation_rate)
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
