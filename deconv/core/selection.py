"""Which activations of a layer a projection keeps: pure TensorFlow, run inside compiled graphs.

Each selector takes the layer's activations `(N, h, w, C)` and returns the signal to project (the
kept activations with their own values, zeros elsewhere), with the value and position of each
image's kept activation (the strongest one, for several).
"""
import math

import tensorflow as tf

# What a user's projection keeps per image: one activation, or whole feature maps.
MODES = ("activation", "maps")


def as_maps(activations):
    """Vectors `(N, C)` (a classifier's logits) as 1x1 maps `(N, 1, 1, C)`; maps unchanged."""
    return activations[:, None, None, :] if activations.shape.rank == 2 else activations


def like(signal, activations):
    """A signal selected from `as_maps(activations)`, in the activations' own shape."""
    return tf.reshape(signal, tf.shape(activations)) if activations.shape.rank == 2 else signal


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
    """Keeps every activation where `channel_mask` is 1: shape `(C,)` for whole maps, or any
    shape that broadcasts to the activations (a mask per image, per position).

    Returns:
      `(signal, values, positions)`: the masked activations; per image the largest kept
      activation and its `(y, x)` (the maximum is over kept activations only, so maps that are
      negative everywhere, e.g. of a linear conv, report their own maximum, not a masked-out
      zero; an image with nothing kept reports 0 at `(0, 0)`).
    """
    signal = activations * channel_mask
    kept = tf.broadcast_to(channel_mask > 0, tf.shape(activations))
    candidates = tf.where(kept, activations, tf.constant(-float("inf"), activations.dtype))
    shape = tf.shape(signal)
    strongest = tf.reduce_max(candidates, axis=3)
    flat = tf.reshape(strongest, [shape[0], shape[1] * shape[2]])
    index = tf.argmax(flat, axis=1, output_type=tf.int32)
    values = tf.reduce_max(flat, axis=1)
    anything = tf.reduce_any(tf.reshape(kept, [shape[0], -1]), axis=1)
    values = tf.where(anything, values, tf.zeros_like(values))
    index = tf.where(anything, index, tf.zeros_like(index))
    return signal, values, tf.stack([index // shape[2], index % shape[2]], axis=1)


def count_of(count_rule, total):
    """Turns a featuremap-InSights count rule into a count, for `total` items.

    Args:
      count_rule: an integer >= 1 is a count (capped at `total`); a number in (0, 1) a
        fraction of `total`, rounded half up (`floor(count_rule * total + 0.5)`: 0.5 of 5 is
        3, of 7 is 4) and at least 1; anything else means 1.
      total: how many items there are.
    """
    if isinstance(count_rule, bool):
        return 1
    whole = isinstance(count_rule, float) and count_rule >= 1 and count_rule.is_integer()
    if isinstance(count_rule, int) or whole:
        return min(int(count_rule), total) if count_rule >= 1 else 1
    if isinstance(count_rule, float) and 0 < count_rule < 1:
        return max(1, min(total, math.floor(count_rule * total + 0.5)))
    return 1


def top_maps_top_activations(activations, maps, per_map):
    """Keeps, per image, the `per_map` strongest activations of each of its `maps` strongest
    maps (ranked by their maximum), with their values; zeros elsewhere.

    Args:
      activations: `(N, h, w, C)`.
      maps, per_map: int32 scalars, at most C and h * w.

    Returns:
      `(signal, values, positions)`: the kept activations; per image the largest kept one and
      its `(y, x)`.
    """
    shape = tf.shape(activations)
    n, height, width = shape[0], shape[1], shape[2]
    _, strongest_maps = tf.math.top_k(tf.reduce_max(activations, axis=[1, 2]), k=maps)
    chosen = tf.gather(activations, strongest_maps, axis=3, batch_dims=1)  # (N, h, w, maps)
    flat = tf.transpose(tf.reshape(chosen, [n, height * width, maps]), [0, 2, 1])
    _, places = tf.math.top_k(flat, k=per_map)  # (N, maps, per_map) flat positions
    batch = tf.broadcast_to(tf.range(n)[:, None, None], tf.shape(places))
    channel = tf.broadcast_to(strongest_maps[:, :, None], tf.shape(places))
    indices = tf.stack([batch, places // width, places % width, channel], axis=-1)
    mask = tf.scatter_nd(tf.reshape(indices, [-1, 4]),
                         tf.ones([n * maps * per_map], activations.dtype), shape)
    return whole_maps(activations, tf.minimum(mask, 1))


def per_image_channel_masks(activations, masks):
    """Keeps the whole maps where each image's own channel mask `masks` (N, C) is 1."""
    return whole_maps(activations, masks[:, None, None, :])
