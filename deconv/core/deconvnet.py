"""`Deconvnet`: projects chosen activations of a CNN back to pixel space.

The user-facing methods: they check what callers pass (`deconv.core.checks`), batch it, and run
the compiled graphs that a `GraphBuilder` builds once per layer.

Reference: Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks", ECCV 2014
(arXiv 1311.2901), section 2.1.
"""
import warnings

import keras
import numpy as np

from deconv.core import builder as builder_lib
from deconv.core import checks
from deconv.core import dependence
from deconv.core import geometry
from deconv.core import graph
from deconv.core import names
from deconv.core import preprocessing as preprocessing_lib
from deconv.core import projection as projection_lib
from deconv.core.projection import Projection
from deconv.core.rules.base import RELU_RULES
from deconv.core.rules.linear import LogitsRule
from deconv.core import selection
from deconv.core.shared_graphs import SharedGraphs
from deconv.errors import DeconvError


_CONVOLUTIONS = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D)


class Deconvnet(SharedGraphs):
    """A deconvnet attached to a Keras CNN: forward with switches, reverse with tied kernels.

    The forward model is the caller's own layers, called on a new input (the same variables,
    never copies; the caller's weights and outputs are untouched, though Keras records the new
    calls as extra inbound nodes of its layers), with each max-pool replaced by `ArgmaxPool` so
    its switches are recorded. Per target layer, a functional deconv model reverses the path to
    the pixels: unpool by the switches, rectify, transposed convolution with the forward kernel
    variable. Models are built once per layer and cached (`builder`, a `GraphBuilder`, the
    engine's own); a projection runs as one compiled graph per batch. The other rooms build on
    the models and graphs of `deconv.core.shared_graphs.SharedGraphs`'s methods.

    Args:
      model: a Keras model (functional, Sequential, nested) whose layers deconv can reverse:
        any but recurrent or stateful ones, attention with masks and layers with non-float
        outputs (see `deconv.core.rules.table`), e.g. from `deconv.load_model`.
      preprocessing: how RGB pixels in [0, 255] become the model's input: `"auto"` (the Keras
        application's own: `"caffe"` for VGG and ResNet, ...; `"none"` for a model of your own
        or one that preprocesses inside), or one of `deconv.core.preprocessing.SCHEMES`.
      relu_rule: how a ReLU is reversed: `"deconvnet"` (the paper) or `"guided"` (guided
        backprop). `rule=` is its deprecated old name (keyword only; warns).

    Raises:
      DeconvError: a model deconv cannot reverse (the message names the layers), or a bad option.
    """

    def __init__(self, model, preprocessing="auto", relu_rule="deconvnet", *, rule=None):
        if rule is not None:
            warnings.warn("Deconvnet(rule=...) is deprecated; pass relu_rule=... instead.",
                          DeprecationWarning, stacklevel=2)
            relu_rule = rule
        if relu_rule not in RELU_RULES:
            raise DeconvError(f"Unknown rule {relu_rule!r}. Valid: {', '.join(RELU_RULES)}.")
        self.model = model
        self.steps = graph.read_model(model)
        self.preprocessing = (preprocessing_lib.for_model(model) if preprocessing == "auto"
                              else preprocessing_lib.get(preprocessing))
        self.relu_rule = relu_rule
        self.input_shape = tuple(model.inputs[0].shape)
        self.builder = builder_lib.GraphBuilder(self.steps, self.preprocessing, relu_rule,
                                                self.input_shape[1:])
        self._steps = {step.name: step for step in self.steps}

    # Names and shapes.

    @property
    def layer_names(self):
        """The names of the layers whose outputs can be projected from, in model order: those
        with maps `(N, h, w, C)`, and a softmax classifier's logits."""
        return [step.name for step in self.steps
                if len(step.shape) == 4 or isinstance(step.rule, LogitsRule)]

    @property
    def logits(self):
        """The name of the softmax classifier's layer that ends the model (projected from its
        logits), or None: a model with it is a classifier."""
        found = [step.name for step in self.steps
                 if isinstance(step.rule, LogitsRule)]
        return found[-1] if found else None

    @property
    def conv_layers(self):
        """The names of the convolutional layers, in model order."""
        return [step.name for step in self.steps if type(step.layer) in _CONVOLUTIONS]

    def resolve(self, layer):
        """Returns the Keras name of `layer` (either spelling); raises DeconvError if unknown,
        or if it is a layer without maps (saying what it is)."""
        try:
            return names.resolve(layer, self.layer_names)
        except DeconvError:
            step = self._steps.get(layer if isinstance(layer, str) else None)
            if step is None:
                raise
        raise DeconvError(
            f"Layer {layer!r} ({type(step.layer).__name__}) has no maps: its output is "
            f"{projection_lib.shape_text(step.shape)}, not (N, h, w, C), and it is not a "
            f"softmax classifier's "
            f"logits. deconv projects from layers with maps (and logits); valid layers: "
            f"{', '.join(names.display_names(self.layer_names))}.")

    def check_projectable(self, layer):
        """Returns the Keras name of `layer` if it can be projected from; raises DeconvError if
        the way back to the pixels goes through a layer deconv cannot reverse (recurrent,
        stateful, non-float): only what a projection reverses is refused."""
        name = self.resolve(layer)
        needed = geometry.ancestors(self.steps, name)
        refused = [f"{step.name} ({step.refused})" for step in self.steps
                   if step.refused and step.name in needed]
        if refused:
            raise DeconvError(f"Layer {names.short(name)!r} cannot be projected: its way back "
                              f"to the pixels goes through {'; '.join(refused)}, which deconv "
                              f"cannot reverse. Layers that do not depend on them can be.")
        return name

    def projectable(self, layers):
        """The names of `layers` that `check_projectable` passes, in order."""
        refused = {step.name for step in self.steps if step.refused}
        return [name for name in map(self.resolve, layers)
                if not refused & geometry.ancestors(self.steps, name)]

    def step(self, layer):
        """The `deconv.core.graph.Step` whose output `layer` names."""
        return self._steps[self.resolve(layer)]

    def _index(self, layer):
        """The index among `steps` of `layer`'s step."""
        return self.steps.index(self.step(layer))

    def feature_count(self, layer):
        """Returns the number of feature maps of `layer` (classes, for logits)."""
        return int(self._steps[self.resolve(layer)].shape[-1])

    def map_size(self, layer, image_size):
        """Returns the `(height, width)` of `layer`'s maps for an image of `image_size`
        (`(1, 1)` for logits)."""
        name = self.resolve(layer)
        if len(self._steps[name].shape) != 4:
            return (1, 1)
        size = geometry.graph_sizes(self.steps, image_size)[name]
        if size is None:  # beyond a layer of unknown geometry: as Keras infers it
            size = graph.static_shapes(self.steps, (1, *image_size, 3))[name][1:3]
        return tuple(size)

    def check_image_size(self, layer, size, name="size"):
        """Raises DeconvError unless images of `size` (a side or `(height, width)`) reach
        `layer` and fit the model (a model with a classifier takes one size); `name` is what
        the caller calls the size in the message."""
        checks.image_size(self.steps, self.resolve(layer), size, name, self.input_shape)

    def uses_window(self, layer, image_size):
        """Whether projecting one activation of `layer` in images of `image_size` starts in its
        receptive-field window (`deconv.core.window`) rather than over the whole maps."""
        return self.builder.reverse_plan(self.resolve(layer), "auto", image_size).windowed

    def window_reaches_pixels(self, layer, image_size):
        """Whether projecting one activation of `layer` in images of `image_size` stays in its
        receptive-field window all the way to the pixels (rather than handing over to whole
        maps somewhere, or never starting in a window)."""
        name = self.resolve(layer)
        plan = self.builder.reverse_plan(name, "auto", image_size)
        if not plan.on_graph:
            return plan.reaches_pixels
        return not self.builder.window_plan(name, plan.image_size, plan.limit).boundary

    def image_dependence(self, layer):
        """What ties `layer`'s projections to the image under this net's rule: the max-pool
        switches on its paths to the pixels (all, some or none of them), the layers reversed by
        their gradient, and a plain verdict (`deconv.core.dependence.ImageDependence`)."""
        return dependence.image_dependence(self.steps, self.resolve(layer), self.relu_rule)

    # Checking what callers pass (see deconv.core.checks).

    def _check_images(self, images, layer):
        return checks.images(images, layer, self.steps, self.resolve(layer), self.input_shape)

    def _check_feature(self, feature, layer):
        return checks.features(feature, layer, self.feature_count(layer))

    def _check_positions(self, position, count, layer, image_size):
        return checks.positions(position, count, layer, image_size,
                                self.map_size(layer, image_size))

    # The public entry points.

    def activations(self, images, layer, batch_size=32):
        """Returns `layer`'s activations `(N, h, w, C)` for RGB `images` `(N, H, W, 3)` in [0, 255].

        Runs the plain forward model (no switches), `batch_size` images at a time.
        """
        name = self.resolve(layer)
        checks.batch_size(batch_size)
        images = self._check_images(images, layer)
        if not len(images):  # an empty batch (TensorFlow's CPU convolutions fail on one)
            shape = self.step(name).shape[1:-1] and self.map_size(name, images.shape[1:3])
            return np.zeros((0, *shape, self.feature_count(name)), np.float32)
        run = self.builder.activations_fn(name)
        return np.concatenate([part.numpy() for part in projection_lib.in_batches(
            len(images), batch_size, lambda i, j: run(images[i:j]))])

    def project_details(self, images, layer, feature, position=None, mode="activation",
                        batch_size=16, windowed="auto"):
        """Like `project`, returning a `Projection` with the values and positions projected."""
        name = self.check_projectable(layer)
        checks.batch_size(batch_size)
        if mode not in selection.MODES:
            raise DeconvError(f"Unknown mode {mode!r}. Valid: {', '.join(selection.MODES)}.")
        images = self._check_images(images, layer)
        features = self._check_feature(feature, layer)
        count = len(images)
        if not count:  # an empty batch (TensorFlow's CPU convolutions fail on one)
            return projection_lib.empty(images)
        if mode == "activation":
            if features.size == 1:
                features = np.full(count, features[0], np.int32)
            elif features.size != count:
                raise DeconvError(f"In mode 'activation', feature is one map id or one per image "
                                  f"({count}); received {features.size} ids.")
            positions = self._check_positions(position, count, layer, images.shape[1:3])
            selected = lambda i, j: (features[i:j], positions[i:j])  # noqa: E731
        else:
            if position is not None:
                raise DeconvError("position applies to mode 'activation' only; mode 'maps' keeps "
                                  "whole feature maps.")
            mask = np.zeros(self.feature_count(layer), np.float32)
            mask[features] = 1
            selected = lambda i, j: (mask,)  # noqa: E731
        run = self.builder.project_fn(name, mode, self.builder.reverse_plan(
            name, windowed, images.shape[1:3], mode))
        parts = projection_lib.in_batches(count, batch_size,
                                          lambda i, j: run(images[i:j], *selected(i, j)))
        return projection_lib.joined(
            parts, features if mode == "activation" else np.full(count, -1, np.int32))

    def project(self, images, layer, feature, position=None, mode="activation", batch_size=16,
                windowed="auto"):
        """Projects one activation (or whole maps) of `layer` per image back to pixel space.

        For each image, keeps only one activation of map `feature`, its maximum when `position`
        is None, else the one at `position`, with its own value; zeroes every other activation of
        the layer; and runs the deconv model down to the pixels. Images are projected
        `batch_size` at a time, each batch in one compiled call.

        Args:
          images: RGB `(N, H, W, 3)`, uint8 or float in [0, 255]; the model's preprocessing is
            applied inside.
          layer: the layer's name, `conv4_4` or `block4_conv4` style.
          feature: a feature-map id, or one per image. With `mode="maps"`: one id or a list of
            ids whose whole maps are kept and projected together.
          position: None (each map's maximum), `(y, x)` for every image, or `(N, 2)`; a row
            `(-1, -1)` means that image's maximum.
          mode: `"activation"` (one activation) or `"maps"` (whole feature maps).
          batch_size: images per compiled call.
          windowed: reverse inside each activation's receptive-field window
            (`deconv.core.window`: the same numbers, a fraction of the work); True: the window
            all the way to the pixels; False: the whole maps; "auto": the window while it covers
            at most `deconv.core.builder.WINDOW_AREA_LIMIT` of its maps, then the whole maps.

        Returns:
          float32 `(N, H, W, 3)`: RGB, aligned with the input pixels, unnormalised (see
          `deconv.to_uint8` for display).

        Raises:
          DeconvError: unknown layer or mode, feature out of range (the message gives the map
            count), position outside the maps, or images of the wrong shape, type or range.
        """
        return self.project_details(images, layer, feature, position, mode, batch_size,
                                    windowed).reconstructions

    def project_each(self, image, layer, features, positions=None, windowed="auto"):
        """Projects several activations of ONE image: one forward pass, one batched reverse.

        Args:
          image: RGB `(H, W, 3)` or `(1, H, W, 3)`, in [0, 255].
          layer: the layer's name.
          features: `(k,)` feature-map ids.
          positions: None (each map's maximum) or `(k, 2)` `(y, x)`; `(-1, -1)` for a maximum.

        Returns:
          A `Projection` with k reconstructions `(k, H, W, 3)`.
        """
        image = np.asarray(image)
        image = image[None] if image.ndim == 3 else image
        if image.ndim == 4 and len(image) != 1:
            raise DeconvError(f"project_each takes one image; received {len(image)}.")
        count = np.size(features)
        return self.project_groups(image, layer, np.zeros(count, np.int32), features, positions,
                                   windowed)

    def project_groups(self, images, layer, sources, features, positions=None,
                       windowed="auto"):
        """Projects activations of several images, each naming its image: one forward pass of
        the images, one batched reverse of every selection (pass 2 of a sweep or an atlas
        projects the winners of several images this way).

        Args:
          images: RGB `(B, H, W, 3)` in [0, 255].
          layer: the layer's name.
          sources: `(k,)` the image of each selection, a row of `images`.
          features: `(k,)` feature-map ids.
          positions: None (each map's maximum) or `(k, 2)` `(y, x)`; `(-1, -1)` for a maximum.
          windowed: as in `project`.

        Returns:
          A `Projection` with k reconstructions `(k, H, W, 3)`.
        """
        name = self.check_projectable(layer)
        images = self._check_images(images, layer)
        features = self._check_feature(features, layer)
        sources = checks.sources(sources, len(images), features.size)
        positions = self._check_positions(positions, len(features), layer, images.shape[1:3])
        if not len(features):
            return Projection(np.zeros((0, *images.shape[1:]), np.float32),
                              np.zeros(0, np.float32), np.zeros((0, 2), np.int32), features)
        reconstructions, values, found = self.builder.project_groups_fn(
            name, self.builder.reverse_plan(name, windowed, images.shape[1:3]))(
                images, sources, features, positions)
        return Projection(reconstructions.numpy(), values.numpy(), found.numpy(), features)

    def range_counts(self, layer, image_size, maps=1, activations=1):
        """Resolves featuremap-InSights count rules for `layer`: `(maps kept, activations kept
        per map)`. An integer >= 1 is a count, a number in (0, 1) a fraction (of the layer's
        maps; of a map's activations), anything else 1."""
        height, width = self.map_size(layer, image_size)
        return (selection.count_of(maps, self.feature_count(layer)),
                selection.count_of(activations, height * width))

    def project_ranges(self, images, layer, maps=1, activations=1, batch_size=16):
        """Projects ranges of maps and activations together (featuremap-InSights' IMAGE mode).

        For each image, keeps the `activations` strongest activations in each of its `maps`
        strongest maps (ranked by their maximum), with their values, and projects them all at
        once: the reconstruction of their joint activity.

        Args:
          images: RGB `(N, H, W, 3)` in [0, 255].
          layer: the layer's name.
          maps, activations: counts or fractions (see `range_counts`).
          batch_size: images per compiled call.

        Returns:
          A `Projection` (features -1; values and positions of each image's largest kept
          activation).
        """
        name = self.check_projectable(layer)
        checks.batch_size(batch_size)
        images = self._check_images(images, name)
        if not len(images):
            return projection_lib.empty(images)
        kept_maps, per_map = self.range_counts(name, images.shape[1:3], maps, activations)
        run = self.builder.project_fn(name, "ranges")
        parts = projection_lib.in_batches(len(images), batch_size,
                            lambda i, j: run(images[i:j], kept_maps, per_map))
        return projection_lib.joined(parts, np.full(len(images), -1, np.int32))

    def project_frames(self, image, layer, masks, batch_size=16):
        """Projects several sets of whole maps of ONE image: one forward pass, batched reverses.

        Args:
          image: RGB `(H, W, 3)` or `(1, H, W, 3)` in [0, 255].
          layer: the layer's name.
          masks: `(F, C)` 0/1: the maps kept in each of F frames.
          batch_size: frames per reverse call.

        Returns:
          float32 `(F, H, W, 3)` reconstructions.
        """
        name = self.check_projectable(layer)
        checks.batch_size(batch_size)
        image = np.asarray(image)
        image = self._check_images(image[None] if image.ndim == 3 else image, name)
        masks = np.asarray(masks, np.float32)
        if masks.ndim != 2 or masks.shape[1] != self.feature_count(name):
            raise DeconvError(f"masks must have shape (frames, {self.feature_count(name)}) for "
                              f"layer {layer!r}; received {masks.shape}.")
        run = self.builder.project_groups_fn(name, mode="frames")
        return np.concatenate([part[0].numpy() for part in projection_lib.in_batches(
            len(masks), batch_size, lambda i, j: run(image, np.zeros(j - i, np.int32),
                                                     masks[i:j]))])

