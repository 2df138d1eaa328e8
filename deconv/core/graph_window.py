"""The reverse pass of one activation inside its receptive field, on any graph of layers.

As on chains (`deconv.core.window`), an activation's signal is zero outside its receptive
field at every tensor on the way down, so each step can be reversed on a window of its maps.
On a graph a tensor may be reached from the activation by several paths (a residual block's
shortcut and its convolutions; the branches of a concatenation): its window is the union of
theirs. Each path reads its input at `scale * p + lo` to `scale * p + hi` for an activation at
`p` (`deconv.core.geometry.graph_spans`; paths that meet scale alike), so the union is a box of
a static size whose offset is affine in `p`; cut to lie inside the maps, it holds every
position any path writes there. Each step's rule writes where it produces
(`LayerRule.reverse_in_window`), and the signal moves onto the input's window (one gather;
none where the two are the same window, as at pointwise steps).

Where a window grows past `limit` of its maps' area, or meets a step without a windowed rule
(global pools, upsampling, a layer reversed by its gradient that is not pointwise), the tensor
is reversed over whole maps, and so is everything below it: the windowed part ends at those
tensors (the plan's `boundary`), whose signals are placed into whole maps and handed to one
deconv model with a signal at each (`deconv.core.build.build_deconv`).
"""
import dataclasses

import tensorflow as tf

from deconv.core import geometry
from deconv.core import preprocessing as preprocessing_lib
from deconv.core import selection
from deconv.core.build import signal_names
from deconv.core.graph import INPUT_KEY
from deconv.core.rules.base import WindowContext
from deconv.core.window import Window
from deconv.core.window import gather_for_each
from deconv.core.window import place
from deconv.core.window import rewindow


@dataclasses.dataclass(frozen=True)
class Plan:
    """Which tensors of a layer's reverse are windowed, for images of one size.

    Attributes:
      target: the key of the projected layer.
      image_size: `(height, width)` of the images (static).
      spans: `{key: (row Span, column Span)}` of each windowed tensor.
      sizes: `{key: (height, width)}` of every map on the path.
      steps: the names of the steps reversed in windows, from the target down.
      boundary: the tensors where the windowed part hands over to whole maps (empty when the
        window reaches the pixels).
    """
    target: str
    image_size: tuple
    spans: dict
    sizes: dict
    steps: tuple
    boundary: tuple

    def window_size(self, key):
        """The static `(height, width)` of `key`'s window."""
        return window_size(self.spans[key], self.sizes[key])


def window_size(span, size):
    """The size of a window of `span` in maps of `size`: the union's extent, at most the maps."""
    return tuple(min(span[a].hi - span[a].lo, size[a]) for a in (0, 1))


def _consumers(path_steps):
    readers = {}
    for step in path_steps:
        for key in step.inputs:
            readers.setdefault(key, []).append(step.name)
    return readers


def _map_sizes(path, image_size):
    """`{key: (height, width)}` of the maps on the path: from the geometry, else (past a layer
    of unknown geometry) as the model states them, if it does."""
    sizes = geometry.graph_sizes(path, image_size, INPUT_KEY)
    for step in path:
        shape = step.shape
        if sizes[step.name] is None and len(shape) == 4 and None not in shape[1:3]:
            sizes[step.name] = tuple(shape[1:3])
    return sizes


def plan(steps, target, image_size, limit):
    """Plans the windowed reverse of an activation of `target` in images of `image_size`.

    A tensor is windowed if its producing step has a windowed rule (or it is the input), every
    step on the path that reads it is reversed in windows, and its window covers at most
    `limit` of its maps' area.

    Returns:
      A `Plan`, or None where the target itself cannot start in a window.
    """
    needed = geometry.ancestors(steps, target)
    path = [step for step in steps if step.name in needed]
    sizes = _map_sizes(path, image_size)
    spans = geometry.graph_spans(path, target, sizes)
    readers = _consumers(path)
    windowed = set()
    for step in [*reversed(path), None]:
        key = INPUT_KEY if step is None else step.name
        span, size = spans.get(key, geometry.WHOLE), sizes.get(key)
        if span == geometry.WHOLE or size is None or min(size) < 1:
            continue
        if step is not None and not step.rule.windows(step):
            continue
        if key != target:
            height, width = window_size(span, size)
            if (not all(name in windowed for name in readers.get(key, ()))
                    or height * width > limit * size[0] * size[1]):
                continue
        windowed.add(key)
    if target not in windowed:
        return None
    names = tuple(step.name for step in reversed(path) if step.name in windowed)
    boundary = tuple(key for key in [INPUT_KEY, *(step.name for step in path)]
                     if key not in windowed and any(name in windowed
                                                    for name in readers.get(key, ())))
    return Plan(target, tuple(image_size), {key: spans[key] for key in windowed},
                {key: sizes[key] for key in needed if sizes.get(key) is not None}, names,
                boundary)


def pays(steps, plan_, windowed):
    """Whether the windowed reverse of `plan_` is worth running (`windowed`: "auto" or True,
    always): only a window that holds a step with a spatial kernel (wider than 1x1) saves
    convolution work; one of pointwise steps alone (an EfficientNet block's add and 1x1
    projection, whose window stops at the squeeze-and-excitation gate) costs its gathers and a
    deconv model with several signals, and saves nothing. Measured side by side, batch 8 at
    224x224 (`benchmarks/graphs.py`, BENCHMARKS.md): EfficientNetB0's block3b_add windowed in
    such a plan took 1.5x its whole-map projection; windows through 3x3 kernels took 0.62x,
    0.93x and 0.85x at ResNet50's three stage outputs, 0.47x to 0.95x on EfficientNet-Lite0."""
    if windowed is True:
        return True
    by_name = {step.name: step for step in steps}
    return any(isinstance(by_name[name].geometry, geometry.Geometry)
               and max(by_name[name].geometry.kernel) > 1 for name in plan_.steps)


def window_needs(steps, plan_, relu_rule):
    """The keys of the forward tensors the windowed steps of `plan_` read."""
    by_name = {step.name: step for step in steps}
    keys = []
    for name in plan_.steps:
        step = by_name[name]
        keys.extend(key for key in step.rule.window_needs(step, relu_rule) if key not in keys)
    return keys


def _windows(plan_, found, sources):
    """`{key: Window}` of every tensor of the plan, one object per distinct window (so a
    pointwise step hands its window on without a gather)."""
    made, windows = {}, {}
    for key in [*plan_.spans, *plan_.boundary]:
        size = plan_.sizes[key]
        span = plan_.spans.get(key)
        inner = size if span is None else window_size(span, size)
        identity = ("whole", size) if inner == tuple(size) else (span, size)
        if identity not in made:
            if inner == tuple(size):
                offsets = tf.zeros([tf.shape(sources)[0], 2], tf.int32)
            else:
                offsets = tf.stack([tf.clip_by_value(span[a].scale * found[:, a] + span[a].lo, 0,
                                                     size[a] - inner[a]) for a in (0, 1)], axis=1)
            made[identity] = Window(offsets, inner, tuple(size), sources)
        windows[key] = made[identity]
    return windows


class GraphWindowedProjection:
    """`(images, sources, features, positions) -> (reconstructions, values, positions)`: the
    projection of the activation of map `features[i]` at `positions[i]` (its maximum where
    negative) in image `sources[i]`, reversed in windows as `plan_` says, then over whole maps.

    Args:
      steps: the model's steps.
      plan_: the `Plan` (its image size is the only one this projection serves).
      forward: a forward model (switches recorded) outputting the target, `window_needs` and
        the keys `full` reads.
      full: None when the window reaches the pixels, else `(deconv_model, keys, prepool_of)`:
        the deconv model of `plan_.boundary`, the forward tensors it reads and
        `{switches key: pre-pool key}` among them.
      preprocessing: the preprocessing's name. relu_rule: the ReLU rule.
    """

    def __init__(self, steps, plan_, forward, full, preprocessing, relu_rule):
        self.plan, self.forward, self.full = plan_, forward, full
        self.relu_rule = relu_rule
        by_name = {step.name: step for step in steps}
        self.steps = [by_name[name] for name in plan_.steps]
        self.adjoint = preprocessing_lib.PreprocessAdjoint(preprocessing)

    def __call__(self, images, sources, features, positions):
        tensors = self.forward(images, training=False)
        activations = tf.gather(tensors[self.plan.target], sources)
        _, values, found = selection.one_per_image(activations, features, positions)
        signal = (tf.one_hot(features, tf.shape(activations)[3], dtype=activations.dtype)
                  * values[:, None])[:, None, None, :]
        windows = _windows(self.plan, found, sources)
        signals = self.reverse(tensors, signal, windows)
        if self.full is None:
            return self.adjoint(place(signals[INPUT_KEY], windows[INPUT_KEY],
                                      self.plan.image_size)), values, found
        deconv_model, keys, prepool_of = self.full
        inputs = gather_for_each({key: tensors[key] for key in keys}, sources, prepool_of,
                                 tensors)
        names = signal_names(self.plan.boundary)
        inputs.update({names[key]: signals[key] for key in self.plan.boundary})
        return deconv_model(inputs, training=False), values, found

    def reverse(self, tensors, signal, windows):
        """The windowed steps, from the target down: `{key: signal}` at the input (windowed)
        or at each boundary tensor (whole maps)."""
        parts = {self.plan.target: [signal]}
        for step in self.steps:
            if step.name not in parts:
                continue
            signal = tf.add_n(parts.pop(step.name))
            context = WindowContext(tensors, windows[step.name],
                                    tuple(self.plan.sizes[key] for key in step.inputs),
                                    self.relu_rule)
            below = step.rule.reverse_in_window(step, signal, context)
            for key, out in zip(step.inputs, below):
                if out is None or key not in windows:
                    continue
                signal, produced = out
                if produced is not windows[key]:
                    signal = rewindow(signal, produced, windows[key])
                parts.setdefault(key, []).append(signal)
        return {key: tf.add_n(value) for key, value in parts.items()}
