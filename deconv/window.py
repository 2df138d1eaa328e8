"""The reverse pass of one activation, computed only inside its receptive field.

A single activation's reconstruction is zero outside its receptive field, and so is the signal
at every layer on the way down: it lives in a window that grows from 1x1 at the layer to the
receptive field at the pixels. Computing each reverse step on that window alone gives the same
numbers as the full reverse pass (the tests check both against the oracle) at the cost of the
window's area instead of the image's: for conv3_4 at 224x224 about 5 % of it.

Window sizes are static (they depend on kernels and strides only); their positions differ per
example. A window may reach past the map's edge; those positions stand for padding and are kept
at zero, as the full pass drops them. Transposed convolutions run with 'valid' padding on the
window, unpooling scatters by the switches translated to window coordinates.
"""
import dataclasses

import tensorflow as tf

from deconv import geometry
from deconv import preprocessing
from deconv import selection


@dataclasses.dataclass
class Window:
    """Where a signal lives in a layer's maps.

    Attributes:
      offsets: `(N, 2)` int32 top-left `(y, x)` of each example's window (may be negative).
      size: static `(height, width)` of the windows.
      map_size: `(height, width)` of the layer's maps (scalar tensors).
      source: `(N,)` int32: the row of the forward tensors each example reads (several
        examples may share one image).
    """
    offsets: tf.Tensor
    size: tuple
    map_size: tuple
    source: tf.Tensor

    def _axis(self, axis):
        """Returns `(positions (N, n) in the map, whether each lies inside it)` along an axis."""
        positions = self.offsets[:, axis:axis + 1] + tf.range(self.size[axis])[None]
        return positions, (positions >= 0) & (positions < self.map_size[axis])

    def mask(self, dtype=tf.float32):
        """`(N, h, w, 1)`: 1 where the window lies inside the map, 0 over the padding."""
        _, rows = self._axis(0)
        _, columns = self._axis(1)
        inside = rows[:, :, None] & columns[:, None, :]
        return tf.cast(inside, dtype)[..., None]

    def crop(self, tensor):
        """Cuts each example's window out of its source row of a `(B, H, W, C)` tensor.

        Positions past the map's edge repeat the edge; they are masked wherever they matter.
        """
        rows, _ = self._axis(0)
        columns, _ = self._axis(1)
        rows = tf.clip_by_value(rows, 0, self.map_size[0] - 1)
        columns = tf.clip_by_value(columns, 0, self.map_size[1] - 1)
        shape = tf.stack([tf.shape(rows)[0], self.size[0], self.size[1]])
        indices = tf.stack([tf.broadcast_to(self.source[:, None, None], shape),
                            tf.broadcast_to(rows[:, :, None], shape),
                            tf.broadcast_to(columns[:, None, :], shape)], axis=-1)
        return tf.gather_nd(tensor, indices)

    def below(self, layer_geometry, map_size, pads):
        """The window that a windowed layer reads to produce this one.

        Args:
          layer_geometry: the layer's `Geometry`.
          map_size: `(height, width)` of the layer's input maps.
          pads: the padding before, per axis, that the layer applied.
        """
        extents = [(layer_geometry.kernel[a] - 1) * layer_geometry.dilation[a] + 1
                   for a in (0, 1)]
        size = tuple((self.size[a] - 1) * layer_geometry.strides[a] + extents[a] for a in (0, 1))
        offsets = self.offsets * tf.constant(layer_geometry.strides, tf.int32) - tf.stack(
            [tf.cast(pads[0], tf.int32), tf.cast(pads[1], tf.int32)])
        return Window(offsets, size, map_size, self.source)


def conv_transpose(signal, kernel, layer_geometry, below):
    """The transposed convolution of a windowed signal onto the window `below` (then masked)."""
    shape = tf.stack([tf.shape(signal)[0], below.size[0], below.size[1], tf.shape(kernel)[2]])
    out = tf.nn.conv2d_transpose(signal, tf.convert_to_tensor(kernel), shape,
                                 strides=(1, *layer_geometry.strides, 1), padding="VALID",
                                 dilations=(1, *layer_geometry.dilation, 1))
    return out * below.mask(out.dtype)


def unpool(signal, switches, layer_geometry, window, below, channels):
    """Scatters a windowed signal by its switches into the window `below` (then masked).

    Args:
      signal: `(N, h, w, C)` at `window`.
      switches: the pool's full switches `(N, H', W', C)`, indices into the whole pre-pool tensor
        `(N, H, W, C)` (batch included), as `tf.nn.max_pool_with_argmax` gives them.
      layer_geometry: the pool's `Geometry`.
      window, below: the windows of the pooled and of the pre-pool signal.
      channels: C.
    """
    flat = window.crop(switches)
    height, width = tf.cast(below.map_size[0], tf.int64), tf.cast(below.map_size[1], tf.int64)
    c = flat % channels
    x = (flat // channels) % width
    y = (flat // (channels * width)) % height
    local_y = y - tf.cast(below.offsets[:, 0], tf.int64)[:, None, None, None]
    local_x = x - tf.cast(below.offsets[:, 1], tf.int64)[:, None, None, None]
    batch = tf.range(tf.shape(flat, out_type=tf.int64)[0])[:, None, None, None]
    local = ((batch * below.size[0] + local_y) * below.size[1] + local_x) * channels + c
    # Pooled positions past the map's edge carry no signal: point them at a valid slot.
    inside = tf.cast(window.mask(tf.int64), tf.bool)
    local = tf.where(inside, local, batch * below.size[0] * below.size[1] * channels)
    zeros = tf.zeros(tf.stack([tf.shape(signal)[0], below.size[0], below.size[1], channels]),
                     signal.dtype)
    out = tf.raw_ops.MaxPoolGradWithArgmax(
        input=zeros, grad=signal * window.mask(signal.dtype), argmax=local,
        ksize=(1, *layer_geometry.kernel, 1), strides=(1, *layer_geometry.strides, 1),
        padding="VALID", include_batch_in_index=True)
    return out * below.mask(out.dtype)


def place(signal, window, image_size):
    """Returns the full `(N, H, W, C)` image holding each example's windowed signal."""
    rows = tf.range(image_size[0])[None] - window.offsets[:, :1]
    columns = tf.range(image_size[1])[None] - window.offsets[:, 1:]
    inside_rows = (rows >= 0) & (rows < window.size[0])
    inside_columns = (columns >= 0) & (columns < window.size[1])
    out = tf.gather(signal, tf.clip_by_value(rows, 0, window.size[0] - 1), axis=1, batch_dims=1)
    out = tf.gather(out, tf.clip_by_value(columns, 0, window.size[1] - 1), axis=2, batch_dims=1)
    inside = inside_rows[:, :, None] & inside_columns[:, None, :]
    return out * tf.cast(inside, out.dtype)[..., None]


def pixel_window_size(steps, index):
    """The static `(height, width)` of the pixel window of an activation of `steps[index]`."""
    size = (1, 1)
    for step in reversed(steps[:index + 1]):
        layer_geometry = step.rule.geometry(step.layer)
        if layer_geometry is not None:
            size = tuple((size[a] - 1) * layer_geometry.strides[a]
                         + (layer_geometry.kernel[a] - 1) * layer_geometry.dilation[a] + 1
                         for a in (0, 1))
    return size


class WindowedProjection:
    """`(images, features, positions) -> (reconstructions, values, positions)`, like the full
    projection graph of mode "activation", reversing inside each activation's window.

    Args:
      steps: the chain, up to and including the target layer.
      forward: a forward model (switches recorded) outputting the target layer and the keys of
        `reverse.window_inputs`.
      mode: the preprocessing mode.
      rule: the ReLU reverse rule.
      one_image: if True, `images` holds one image and every selection is made in it (one
        forward pass for them all).
    """

    def __init__(self, steps, forward, mode, rule, one_image=False):
        self.steps, self.forward, self.rule, self.one_image = steps, forward, rule, one_image
        self.adjoint = preprocessing.PreprocessAdjoint(mode)

    def __call__(self, images, features, positions):
        tensors = self.forward(images, training=False)
        image_size = (tf.shape(images)[1], tf.shape(images)[2])
        return self.reverse(tensors, features, positions, image_size)

    def reverse(self, tensors, features, positions, image_size):
        """The reverse part alone, from the forward model's outputs."""
        activations = tensors[self.steps[-1].name]
        count = tf.shape(features)[0]
        if self.one_image:
            activations = tf.repeat(activations, count, axis=0)
            source = tf.zeros([count], tf.int32)
        else:
            source = tf.range(count)
        _, values, found = selection.one_per_image(activations, features, positions)
        sizes = geometry.input_sizes(self.steps, image_size)
        channels = tf.shape(activations)[3]
        signal = (tf.one_hot(features, channels, dtype=activations.dtype)
                  * values[:, None])[:, None, None, :]
        window = Window(found, (1, 1), sizes[-1], source)
        for index in range(len(self.steps) - 1, -1, -1):
            step = self.steps[index]
            signal, window = step.rule.reverse_window(step, signal, window, tensors, self.rule,
                                                      sizes, index)
        return self.adjoint(place(signal, window, image_size)), values, found
