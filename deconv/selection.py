"""Which activations of a layer a projection keeps: pure TensorFlow, run inside compiled graphs.

Each selector takes the layer's activations `(N, h, w, C)` and returns the signal to project (the
kept activations with their own values, zeros elsewhere), with the value and position of each
image's kept activation (the strongest one, for several).
"""
import tensorflow as tf


def one_per_image(activations, features, positions):
    """Keeps one activation per image: of map `features[i]`, at `positions[i]` or at its maximum.

    Args:
      activations: `(N, h, w, C)` float.
      features: `(N,)` int32 feature-map ids.
      positions: `(N, 2)` int32 `(y, x)`; a negative `y` means "the map's maximum" (the first
        one in row-major order on ties).

    Returns:
      `(signal, values, positions)`: `(N, h, w, C)`, `(N,)` and `(N, 2)` int32.
    """
    shape = tf.shape(activations)
    n, height, width, channels = shape[0], shape[1], shape[2], shape[3]
    maps = tf.gather(activations, features, axis=3, batch_dims=1)
    flat = tf.reshape(maps, [n, height * width])
    strongest = tf.argmax(flat, axis=1, output_type=tf.int32)
    given = positions[:, 0] * width + positions[:, 1]
    index = tf.where(positions[:, 0] < 0, strongest, given)
    values = tf.gather(flat, index, axis=1, batch_dims=1)
    spatial = tf.reshape(tf.one_hot(index, height * width, dtype=activations.dtype)
                         * values[:, None], [n, height, width, 1])
    signal = spatial * tf.one_hot(features, channels, dtype=activations.dtype)[:, None, None, :]
    return signal, values, tf.stack([index // width, index % width], axis=1)


def whole_maps(activations, channel_mask):
    """Keeps every activation of the maps where `channel_mask` (shape `(C,)`, 0 or 1) is 1.

    Returns:
      `(signal, values, positions)`: the masked activations; per image the largest kept
      activation and its `(y, x)`.
    """
    signal = activations * channel_mask
    shape = tf.shape(signal)
    strongest = tf.reduce_max(signal, axis=3)
    flat = tf.reshape(strongest, [shape[0], shape[1] * shape[2]])
    index = tf.argmax(flat, axis=1, output_type=tf.int32)
    values = tf.reduce_max(flat, axis=1)
    return signal, values, tf.stack([index // shape[2], index % shape[2]], axis=1)
