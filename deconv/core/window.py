"""The reverse pass of one activation, computed only inside its receptive field.

A single activation's reconstruction is zero outside its receptive field, and so is the signal
at every layer on the way down: it lives in a window that grows from 1x1 at the layer to the
receptive field at the pixels. Computing each reverse step on that window alone gives the same
numbers as the full reverse pass (the tests check both against the oracle) at the cost of the
window's area instead of the image's: for conv3_4 at 224x224 about 5 % of it.

Window sizes are the same for every example (they depend on kernels, strides and the map
sizes); their positions differ. Each reverse step writes with 'valid' padding (a transposed
convolution, or unpooling by the switches translated to window coordinates) onto a box that
may reach past the maps, into the padding; the signal is then moved into the next window, a
box cut to lie inside the maps, so windows never grow beyond the image.
"""
import dataclasses

import tensorflow as tf

from deconv.core import geometry
from deconv.core import preprocessing as preprocessing_lib
from deconv.core import selection
from deconv.core.reverse_plan import WHOLE_MAPS
from deconv.core.reverse_plan import ReversePlan
from deconv.core.rules.base import WindowContext


@dataclasses.dataclass
class Window:
    """Where a signal lives in a layer's maps: a box per example, inside the maps.

    Attributes:
      offsets: `(N, 2)` int32 top-left `(y, x)` of each example's box.
      size: `(height, width)` of the boxes, the same for every example (scalar tensors).
      map_size: `(height, width)` of the layer's maps (scalar tensors).
      source: `(N,)` int32: the row of the forward tensors each example reads (several
        examples may share one image).
    """
    offsets: tf.Tensor
    size: tuple
    map_size: tuple
    source: tf.Tensor

    def _positions(self, axis):
        return self.offsets[:, axis:axis + 1] + tf.range(self.size[axis])[None]

    def crop(self, tensor):
        """Cuts each example's window out of its source row of a `(B, H, W, C)` tensor."""
        rows, columns = self._positions(0), self._positions(1)
        shape = tf.stack([tf.shape(rows)[0], self.size[0], self.size[1]])
        indices = tf.stack([tf.broadcast_to(self.source[:, None, None], shape),
                            tf.broadcast_to(rows[:, :, None], shape),
                            tf.broadcast_to(columns[:, None, :], shape)], axis=-1)
        return tf.gather_nd(tensor, indices)

    def produced(self, layer_geometry, map_size, pads):
        """Where a 'valid' transposed step of a windowed layer writes in its input's maps
        (it may reach past them, into the padding).

        Args:
          layer_geometry: the layer's `Geometry`.
          map_size: `(height, width)` of the layer's input maps.
          pads: the padding before, per axis, that the layer applied.
        """
        size = geometry.grown(self.size, layer_geometry)
        offsets = self.offsets * tf.constant(layer_geometry.strides, tf.int32) - tf.stack(
            [tf.cast(pads[0], tf.int32), tf.cast(pads[1], tf.int32)])
        return Window(offsets, size, map_size, self.source)

    def moved(self, shift, map_size):
        """This window in the coordinates of maps of `map_size` where position `p` here is
        `p + shift` (`shift` per axis, ints): the input of a padding or a cropping."""
        return Window(self.offsets + tf.constant(shift, tf.int32)[None], self.size, map_size,
                      self.source)

    def inside(self):
        """This window moved and cut to lie inside its maps, still holding every position it
        covers there."""
        inside = tuple(_minimum(self.size[a], self.map_size[a]) for a in (0, 1))
        limits = tf.stack([self.map_size[0] - inside[0], self.map_size[1] - inside[1]])
        clamped = tf.clip_by_value(self.offsets, 0, limits[None])
        return Window(clamped, inside, self.map_size, self.source)


def whole_window(source, map_size):
    """The window of a whole map of `map_size`, for selections reading rows `source`."""
    return Window(tf.zeros([tf.shape(source)[0], 2], tf.int32), tuple(map_size),
                  tuple(map_size), source)


def _minimum(a, b):
    return min(a, b) if isinstance(a, int) and isinstance(b, int) else tf.minimum(a, b)


def rewindow(tensor, produced, below):
    """Moves a signal from window `produced` to window `below`: zeros where it has no values.

    One gather: each of `below`'s positions reads its position in `produced`.
    """
    rows = (below.offsets[:, :1] - produced.offsets[:, :1]) + tf.range(below.size[0])[None]
    columns = (below.offsets[:, 1:] - produced.offsets[:, 1:]) + tf.range(below.size[1])[None]
    inside = (((rows >= 0) & (rows < produced.size[0]))[:, :, None]
              & ((columns >= 0) & (columns < produced.size[1]))[:, None, :])
    shape = tf.stack([tf.shape(rows)[0], below.size[0], below.size[1]])
    indices = tf.stack([
        tf.broadcast_to(tf.range(tf.shape(rows)[0])[:, None, None], shape),
        tf.broadcast_to(tf.clip_by_value(rows, 0, produced.size[0] - 1)[:, :, None], shape),
        tf.broadcast_to(tf.clip_by_value(columns, 0, produced.size[1] - 1)[:, None, :], shape),
    ], axis=-1)
    return tf.gather_nd(tensor, indices) * tf.cast(inside, tensor.dtype)[..., None]


def conv_transpose(signal, kernel, layer_geometry, produced):
    """The transposed convolution of a windowed signal, onto the window `produced`
    (`Window.produced`)."""
    shape = tf.stack([tf.shape(signal)[0], produced.size[0], produced.size[1],
                      tf.shape(kernel)[2]])
    return tf.nn.conv2d_transpose(signal, tf.convert_to_tensor(kernel), shape,
                                  strides=(1, *layer_geometry.strides, 1), padding="VALID",
                                  dilations=(1, *layer_geometry.dilation, 1))


def depthwise_transpose(signal, kernel, layer_geometry, produced):
    """The transposed depthwise convolution of a windowed signal, onto the window
    `produced`."""
    shape = tf.stack([tf.shape(signal)[0], produced.size[0], produced.size[1],
                      tf.shape(kernel)[2]])
    return tf.nn.depthwise_conv2d_backprop_input(
        shape, tf.convert_to_tensor(kernel), signal, strides=(1, *layer_geometry.strides, 1),
        padding="VALID", dilations=(1, *layer_geometry.dilation, 1))


def unpool(signal, switches, layer_geometry, window, produced, channels):
    """Scatters a windowed signal by its switches, onto the window `produced`.

    Args:
      signal: `(N, h, w, C)` at `window`.
      switches: the pool's full switches `(B, H', W', C)`, indices into the whole pre-pool
        tensor `(B, H, W, C)` (batch included), as `tf.nn.max_pool_with_argmax` gives them.
      layer_geometry: the pool's `Geometry`.
      window: the pooled signal's window; `produced`: `window.produced(...)`.
      channels: C.
    """
    flat = window.crop(switches)
    height = tf.cast(produced.map_size[0], tf.int64)
    width = tf.cast(produced.map_size[1], tf.int64)
    c = flat % channels
    x = (flat // channels) % width
    y = (flat // (channels * width)) % height
    rows, columns = tf.cast(produced.size[0], tf.int64), tf.cast(produced.size[1], tf.int64)
    local_y = y - tf.cast(produced.offsets[:, 0], tf.int64)[:, None, None, None]
    local_x = x - tf.cast(produced.offsets[:, 1], tf.int64)[:, None, None, None]
    batch = tf.range(tf.shape(flat, out_type=tf.int64)[0])[:, None, None, None]
    local = ((batch * rows + local_y) * columns + local_x) * channels + c
    zeros = tf.zeros(tf.stack([tf.shape(signal)[0], produced.size[0], produced.size[1],
                               channels]), signal.dtype)
    return tf.raw_ops.MaxPoolGradWithArgmax(
        input=zeros, grad=signal, argmax=local, ksize=(1, *layer_geometry.kernel, 1),
        strides=(1, *layer_geometry.strides, 1), padding="VALID", include_batch_in_index=True)


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


def chain_plan(steps, index, image_size, limit):
    """How the reverse of an activation of `steps[index]` should run on a chain, for images of
    `image_size` (static ints): in its window, handing over to whole maps where the window
    fills them.

    Going down, a window grows until it fills its maps; from there on its gathers cost more
    than the area they save. The handover is at the first layer whose output window covers more
    than `limit` of its maps' area.

    Returns:
      A `ReversePlan`: `window_until(i)` (step `i` and below over whole maps),
      `window_to_pixels()`, or `WHOLE_MAPS` where the window fills the layer's own maps.
    """
    sizes = geometry.input_sizes(steps[:index + 1], image_size)
    window = (1, 1)
    for i in range(index, -1, -1):
        height, width = sizes[i + 1]
        if window[0] * window[1] > limit * height * width:
            return WHOLE_MAPS if i == index else ReversePlan.window_until(i)
        layer_geometry = steps[i].geometry
        if layer_geometry is not None:
            window = tuple(min(side, sizes[i][a])
                           for a, side in enumerate(geometry.grown(window, layer_geometry)))
    return ReversePlan.window_to_pixels()


def pixel_window_size(steps, index):
    """The static `(height, width)` of the pixel window of an activation of `steps[index]`."""
    size = (1, 1)
    for step in reversed(steps[:index + 1]):
        layer_geometry = step.geometry
        if layer_geometry is not None:
            size = geometry.grown(size, layer_geometry)
    return size


def reverse_chain_step(step, signal, window, tensors, relu_rule, map_size):
    """One chain step reversed in the window: the step's rule writes onto where it produces
    (`LayerRule.reverse_in_window`), then the signal moves into that box cut to lie inside
    the maps (`Window.inside`). Returns `(signal, window)` at the step's input."""
    context = WindowContext(tensors, window, (map_size,), relu_rule)
    (signal, produced), = step.rule.reverse_in_window(step, signal, context)
    if produced is window:
        return signal, window
    below = produced.inside()
    return rewindow(signal, produced, below), below


class WindowedProjection:
    """`(images, features, positions) -> (reconstructions, values, positions)`, like the full
    projection graph of mode "activation", reversing inside each activation's window, then,
    optionally, over whole maps from the layer where the window has grown to fill them.

    Args:
      steps: the chain, up to and including the target layer.
      forward: a forward model (switches recorded) outputting the target layer, the keys of
        `build.window_inputs` and those of `lower`.
      preprocessing: the preprocessing's name.
      relu_rule: the ReLU rule.
      groups: if True, the call is `(images, sources, features, positions)`: selection `i` is
        made in image `sources[i]` (several selections of one image share its forward pass);
        else selection `i` is made in image `i`.
      lower: None (windowed down to the pixels), or `(index, deconv_model, keys, prepool_of)`:
        steps `index` and below are reversed by `deconv_model` (the deconv model of
        `steps[index]`, reading the forward tensors `keys`; `prepool_of` maps its switches'
        keys to their pre-pool tensors' keys, to move copies of an image's switches).
    """

    def __init__(self, steps, forward, preprocessing, relu_rule, groups=False, lower=None):
        self.steps, self.forward, self.relu_rule = steps, forward, relu_rule
        self.groups = groups
        self.adjoint = preprocessing_lib.PreprocessAdjoint(preprocessing)
        self.lower = lower

    def __call__(self, images, *selected):
        tensors = self.forward(images, training=False)
        image_size = (tf.shape(images)[1], tf.shape(images)[2])
        return self.reverse(tensors, *selected, image_size=image_size)

    def reverse(self, tensors, *selected, image_size):
        """The reverse part alone, from the forward model's outputs."""
        sources, features, positions = (selected if self.groups else
                                        (None, *selected))
        activations = tensors[self.steps[-1].name]
        if sources is None:
            sources = tf.range(tf.shape(features)[0])
        else:
            activations = tf.gather(activations, sources)
        _, values, found = selection.one_per_image(activations, features, positions)
        sizes = geometry.input_sizes(self.steps, image_size)
        channels = tf.shape(activations)[3]
        signal = (tf.one_hot(features, channels, dtype=activations.dtype)
                  * values[:, None])[:, None, None, :]
        window = Window(found, (1, 1), sizes[-1], sources)
        stop = -1 if self.lower is None else self.lower[0]
        for index in range(len(self.steps) - 1, stop, -1):
            signal, window = reverse_chain_step(self.steps[index], signal, window, tensors,
                                                self.relu_rule, sizes[index])
        if self.lower is None:
            return self.adjoint(place(signal, window, image_size)), values, found
        _, deconv_model, keys, prepool_of = self.lower
        inputs = {key: tensors[key] for key in keys}
        if self.groups:
            inputs = gather_for_each(inputs, sources, prepool_of, tensors)
        inputs["signal"] = place(signal, window, sizes[stop + 1])
        return deconv_model(inputs, training=False), values, found


def gather_for_each(tensors, sources, prepool_of, forward_tensors):
    """Row `sources[i]` of each forward tensor, for each selection `i`, moving each copy's
    switches (indices into the whole pre-pool batch) onto its own row.

    Args:
      tensors: `{key: (B, ...) tensor}` to gather.
      sources: `(k,)` int32 rows.
      prepool_of: `{switches key: pre-pool tensor key}` for the switches among `tensors`.
      forward_tensors: where the pre-pool tensors are found (for their sizes).
    """
    gathered = {key: tf.gather(value, sources) for key, value in tensors.items()}
    for key, prepool in prepool_of.items():
        if key in gathered:
            per_image = tf.reduce_prod(tf.shape(forward_tensors[prepool], out_type=tf.int64)[1:])
            rows = tf.range(tf.shape(sources, out_type=tf.int64)[0], dtype=tf.int64)
            offsets = (rows - tf.cast(sources, tf.int64)) * per_image
            gathered[key] += offsets[:, None, None, None]
    return gathered
