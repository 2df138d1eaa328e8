"""The deconvnet's layer of the forward pass: max-pooling that records its switches
(`ArgmaxPool`), and the pooling window it shares with the reverse path's `Unpool` and
`AveragePoolTranspose` (`deconv.core.reverse_layers`).

Keras 3 does not accept raw TensorFlow ops on symbolic tensors, so each op the deconvnet needs is a
thin `keras.layers.Layer` with `call`, an output spec and `get_config`.

Reference: Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks", ECCV 2014
(arXiv 1311.2901), section 2.1.
"""
import keras
import tensorflow as tf


def pair(value):
    """`(value, value)` for an int, else `value` as a tuple: a size or stride per axis."""
    return (value, value) if isinstance(value, int) else tuple(value)


def pooled_size(size, pool, stride, padding):
    """Returns the output length of a pooling or convolution along one axis (None if unknown)."""
    if size is None:
        return None
    if padding == "same":
        return -(-size // stride)
    return (size - pool) // stride + 1


class PoolWindow(keras.layers.Layer):
    """What `ArgmaxPool`, `Unpool` and `AveragePoolTranspose` share: a pool's window, stride
    and padding."""

    def __init__(self, pool_size=(2, 2), strides=(2, 2), padding="valid", **kwargs):
        super().__init__(**kwargs)
        self.pool_size = pair(pool_size)
        self.strides = pair(strides)
        self.padding = padding.lower()

    def _window(self):
        return dict(ksize=(1, *self.pool_size, 1), strides=(1, *self.strides, 1),
                    padding=self.padding.upper(), include_batch_in_index=True)

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size, "strides": self.strides,
                "padding": self.padding}


@keras.saving.register_keras_serializable(package="deconv")
class ArgmaxPool(PoolWindow):
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


