"""`Deconvnet`: projects chosen activations of a CNN back to pixel space.

Reference: Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks", ECCV 2014
(arXiv 1311.2901), section 2.1.
"""
import dataclasses

import keras
import numpy as np
import tensorflow as tf

from deconv import checks
from deconv import geometry
from deconv import graphs
from deconv import layers as deconv_layers
from deconv import names
from deconv import preprocessing as preprocessing_lib
from deconv import reverse
from deconv import selection
from deconv import window as window_lib
from deconv.errors import DeconvError

MODES = ("activation", "maps")
# A window costs gathers besides its convolutions: it pays while it covers less than about this
# share of its maps, and hands over to the full reverse pass where it grows past it (VGG19 at
# 224x224, batch 8: conv5_4's reverse windowed down to pool3's output, 86 % of its maps, then
# full, was 0.72x the full reverse; windowed all the way, 1.07-1.12x).
WINDOW_AREA_LIMIT = 0.8
_IMAGES_SPEC = tf.TensorSpec([None, None, None, 3], tf.float32)


@dataclasses.dataclass
class Projection:
    """Projections with what was projected.

    Attributes:
      reconstructions: `(N, H, W, 3)` float32, RGB, aligned with the input pixels, unnormalised.
      values: `(N,)` the projected activation's value (mode "maps": the largest kept one).
      positions: `(N, 2)` its `(y, x)` in the layer's maps.
      features: `(N,)` its feature map (mode "maps": -1).
    """
    reconstructions: np.ndarray
    values: np.ndarray
    positions: np.ndarray
    features: np.ndarray


class Deconvnet:
    """A deconvnet attached to a Keras CNN: forward with switches, reverse with tied kernels.

    The forward model is the caller's own layers, called on a new input (the same variables,
    never copies; the caller's weights and outputs are untouched, though Keras records the new
    calls as extra inbound nodes of its layers), with each max-pool replaced by `ArgmaxPool` so
    its switches are recorded. Per target layer, a functional deconv model reverses the path to
    the pixels:
    unpool by the switches, rectify, transposed convolution with the forward kernel variable.
    Models are built once per layer and cached; the projection runs as one compiled graph.

    Args:
      model: a Keras model that is a chain of `Conv2D` (relu or linear), `MaxPooling2D`, `ReLU`,
        `Activation` and `Dropout` layers, e.g. from `deconv.load_model`.
      preprocessing: how RGB pixels in [0, 255] become the model's input: `"auto"` (`"caffe"`
        for our VGGs, `"none"` otherwise), or one of `deconv.preprocessing.MODES`.
      rule: how a ReLU is reversed: `"deconvnet"` (the paper) or `"guided"` (guided backprop).

    Raises:
      DeconvError: a model deconv cannot reverse (the message names the layers), or a bad option.
    """

    def __init__(self, model, preprocessing="auto", rule="deconvnet"):
        if rule not in deconv_layers.RULES:
            raise DeconvError(f"Unknown rule {rule!r}. Valid: {', '.join(deconv_layers.RULES)}.")
        self.model = model
        self.steps = reverse.chain_steps(model)
        self.preprocessing = (preprocessing_lib.for_model(model) if preprocessing == "auto"
                              else preprocessing_lib.get(preprocessing))
        self.rule = rule
        self._graphs = {}
        self._cache = {}

    # Names and shapes.

    @property
    def layer_names(self):
        """The Keras names of the layers that can be looked at, in model order."""
        return [step.name for step in self.steps]

    @property
    def conv_layers(self):
        """The Keras names of the convolutional layers, in model order."""
        return [step.name for step in self.steps if isinstance(step.layer, keras.layers.Conv2D)]

    def resolve(self, layer):
        """Returns the Keras name of `layer` (either spelling); raises DeconvError if unknown."""
        return names.resolve(layer, self.layer_names)

    def _index(self, layer):
        return self.layer_names.index(self.resolve(layer))

    def feature_count(self, layer):
        """Returns the number of feature maps of `layer`."""
        return int(self._graph(False)[1][self.resolve(layer)].shape[-1])

    def map_size(self, layer, image_size):
        """Returns the `(height, width)` of `layer`'s maps for an image of `image_size`."""
        return geometry.map_sizes(self.steps[:self._index(layer) + 1], image_size)[-1]

    # Models, built once and cached.

    def _graph(self, with_switches):
        if with_switches not in self._graphs:
            self._graphs[with_switches] = reverse.forward_graph(
                self.steps, self.preprocessing.name, with_switches)
        return self._graphs[with_switches]

    def _cached(self, key, build):
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    def deconv_inputs(self, layer):
        """The keys of the forward tensors that `layer`'s deconv model reads."""
        return reverse.deconv_inputs(self.steps, self._index(layer), self.rule)

    def forward_model(self, layer):
        """The forward model, with switches, from RGB images to `layer` and what its reverse
        needs."""
        name = self.resolve(layer)
        outputs = [name] + [key for key in self.deconv_inputs(name) if key != name]
        return self._cached(("forward", name), lambda: reverse.forward_model(
            self._graph(True), outputs, f"forward_switches_{name}"))

    def deconv_model(self, layer):
        """The functional deconv model from a signal at `layer` to RGB pixel space."""
        name = self.resolve(layer)
        return self._cached(("deconv", name), lambda: reverse.build_deconv(
            self.steps, self._index(name), self.preprocessing.name, self.rule,
            self._graph(True)[1]))

    def window_forward_model(self, layer, full_from=-1):
        """The forward model, with switches, outputting what the windowed reverse reads (and,
        with `full_from` >= 0, what the deconv model of `steps[full_from]` reads)."""
        name = self.resolve(layer)
        keys = reverse.window_inputs(self.steps, self._index(name), self.rule)
        if full_from >= 0:
            keys += [key for key in reverse.deconv_inputs(self.steps, full_from, self.rule)
                     if key not in keys]
        outputs = [name] + [key for key in keys if key != name]
        return self._cached(("window_forward", name, full_from), lambda: reverse.forward_model(
            self._graph(True), outputs, f"forward_window_{name}"))

    def window_plan(self, layer, image_size):
        """Where projecting one activation of `layer` in images of `image_size` leaves its
        receptive-field window (`deconv.window`) for the full reverse pass: the index of the
        first step reversed over whole maps; -1 for the window all the way down; the layer's
        own index for no window."""
        return window_lib.full_from(self.steps, self._index(layer), tuple(image_size),
                                    WINDOW_AREA_LIMIT)

    def uses_window(self, layer, image_size):
        """Whether projecting one activation of `layer` in images of `image_size` starts in its
        receptive-field window (`deconv.window`) rather than over the whole maps."""
        return self.window_plan(layer, image_size) < self._index(layer)

    def activation_model(self, layers):
        """A plain forward model (Keras's own max-pooling, no switches) outputting `layers`."""
        resolved = tuple(self.resolve(layer) for layer in layers)
        return self._cached(("activations", resolved), lambda: reverse.forward_model(
            self._graph(False), resolved, "forward"))

    # Graph functions, to compile or export: one per layer (and mode), built on first use.

    def activations_graph(self, layer):
        """Returns `images (float, [0, 255]) -> activations`, uncompiled (see `serving`)."""
        name = self.resolve(layer)
        return graphs.Activations(self.activation_model([name]), name)

    def projection_graph(self, layer, mode="activation"):
        """Returns `(images, *selection) -> (reconstructions, values, positions)`, uncompiled.

        The selection is `(features (N,) int32, positions (N, 2) int32)`, `(-1, -1)` for a map's
        maximum, in mode "activation"; a channel mask `(C,)` float32 in mode "maps".
        """
        name = self.resolve(layer)
        return graphs.Project(self.forward_model(name), self.deconv_model(name), name,
                        self.deconv_inputs(name), mode)

    def windowed_graph(self, layer, one_image=False, full_from=-1):
        """Returns the windowed counterpart of `projection_graph(layer)` (mode "activation");
        with `one_image`, every selection is made in one image, forwarded once. Steps
        `full_from` and below (if >= 0) are reversed over whole maps (see `window_plan`)."""
        name = self.resolve(layer)
        index = self._index(name)
        if not -1 <= full_from < index:
            raise DeconvError(f"full_from must be -1 or a step below {name!r} (0 to "
                              f"{index - 1}); received {full_from}.")
        lower = None
        if full_from >= 0:
            keys = self.deconv_inputs(self.steps[full_from].name)
            prepool_of = {reverse.switches_key(step.name): step.input_key
                          for step in self.steps if reverse.switches_key(step.name) in keys}
            lower = (full_from, self.deconv_model(self.steps[full_from].name), keys, prepool_of)
        return window_lib.WindowedProjection(
            self.steps[:index + 1], self.window_forward_model(name, full_from),
            self.preprocessing.name, self.rule, one_image, lower)

    def _activations_fn(self, layer):
        return self._cached(("activations_fn", layer), lambda: tf.function(
            self.activations_graph(layer), input_signature=[_IMAGES_SPEC]))

    def _full_from(self, layer, windowed, image_size, mode="activation"):
        """`windowed` ("auto", True, False) as a `windowed_graph` hand-over step, or None for
        the full reverse pass (always, for whole maps: they have no window)."""
        if windowed not in ("auto", True, False):
            raise DeconvError(f"windowed must be 'auto', True or False; received {windowed!r}.")
        if mode != "activation":
            if windowed is True:
                raise DeconvError("windowed projection needs mode 'activation': whole maps have "
                                  "no window.")
            return None
        if windowed == "auto":
            full_from = self.window_plan(layer, image_size)
            return None if full_from >= self._index(layer) else full_from
        return -1 if windowed else None

    def _project_fn(self, layer, mode, full_from=None):
        specs = [_IMAGES_SPEC, *graphs.SELECTIONS[mode][1]]
        return self._cached(("project_fn", layer, mode, full_from), lambda: (
            graphs.CompileOnReuse(self.windowed_graph(layer, full_from=full_from)
                                  if full_from is not None
                                  else self.projection_graph(layer, mode), specs)))

    def _project_each_fn(self, layer, full_from=None, mode="activation"):
        specs = [_IMAGES_SPEC, *graphs.SELECTIONS[mode][1]]
        if full_from is not None:
            return self._cached(("project_each_fn", layer, full_from), lambda: (
                graphs.CompileOnReuse(self.windowed_graph(layer, one_image=True,
                                                          full_from=full_from), specs)))
        keys = self.deconv_inputs(layer)
        prepool_of = {reverse.switches_key(step.name): step.input_key for step in self.steps
                      if reverse.switches_key(step.name) in keys}
        return self._cached(("project_each_fn", layer, False, mode), lambda: (
            graphs.CompileOnReuse(graphs.ProjectEach(
                self.forward_model(layer), self.deconv_model(layer), layer, keys, prepool_of,
                graphs.SELECTIONS[mode][0]), specs)))

    # Checking what callers pass (see deconv.checks).

    def _check_images(self, images, layer):
        return checks.images(images, layer, self.steps, self._index(layer))

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
        run = self._activations_fn(name)
        return np.concatenate([run(images[i:i + batch_size]).numpy()
                               for i in range(0, len(images), batch_size)])

    def project_details(self, images, layer, feature, position=None, mode="activation",
                        batch_size=16, windowed="auto"):
        """Like `project`, returning a `Projection` with the values and positions projected."""
        name = self.resolve(layer)
        checks.batch_size(batch_size)
        if mode not in MODES:
            raise DeconvError(f"Unknown mode {mode!r}. Valid: {', '.join(MODES)}.")
        images = self._check_images(images, layer)
        features = self._check_feature(feature, layer)
        count = len(images)
        if mode == "activation":
            if features.size == 1:
                features = np.full(count, features[0], np.int32)
            elif features.size != count:
                raise DeconvError(f"In mode 'activation', feature is one map id or one per image "
                                  f"({count}); received {features.size} ids.")
            positions = self._check_positions(position, count, layer, images.shape[1:3])
            selectors = lambda i, j: (features[i:j], positions[i:j])  # noqa: E731
        else:
            if position is not None:
                raise DeconvError("position applies to mode 'activation' only; mode 'maps' keeps "
                                  "whole feature maps.")
            mask = np.zeros(self.feature_count(layer), np.float32)
            mask[features] = 1
            selectors = lambda i, j: (mask,)  # noqa: E731
        run = self._project_fn(name, mode, self._full_from(name, windowed, images.shape[1:3],
                                                           mode))
        parts = [run(images[i:i + batch_size], *selectors(i, i + batch_size))
                 for i in range(0, count, batch_size)]
        return _joined(parts, features if mode == "activation" else np.full(count, -1, np.int32))

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
          windowed: reverse inside each activation's receptive-field window (`deconv.window`:
            the same numbers, a fraction of the work); True: the window all the way to the
            pixels; False: the whole maps; "auto": the window while it covers at most
            `WINDOW_AREA_LIMIT` of its maps, then the whole maps.

        Returns:
          float32 `(N, H, W, 3)`: RGB, aligned with the input pixels, unnormalised (see
          `deconv.render.to_uint8` for display).

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
        name = self.resolve(layer)
        image = np.asarray(image)
        image = self._check_images(image[None] if image.ndim == 3 else image, layer)
        if len(image) != 1:
            raise DeconvError(f"project_each takes one image; received {len(image)}.")
        features = self._check_feature(features, layer)
        positions = self._check_positions(positions, len(features), layer, image.shape[1:3])
        reconstructions, values, found = self._project_each_fn(
            name, self._full_from(name, windowed, image.shape[1:3]))(image, features, positions)
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
        name = self.resolve(layer)
        checks.batch_size(batch_size)
        images = self._check_images(images, name)
        kept_maps, per_map = self.range_counts(name, images.shape[1:3], maps, activations)
        run = self._project_fn(name, "ranges")
        parts = [run(images[i:i + batch_size], kept_maps, per_map)
                 for i in range(0, len(images), batch_size)]
        return _joined(parts, np.full(len(images), -1, np.int32))

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
        name = self.resolve(layer)
        checks.batch_size(batch_size)
        image = np.asarray(image)
        image = self._check_images(image[None] if image.ndim == 3 else image, name)
        masks = np.asarray(masks, np.float32)
        if masks.ndim != 2 or masks.shape[1] != self.feature_count(name):
            raise DeconvError(f"masks must have shape (frames, {self.feature_count(name)}) for "
                              f"layer {layer!r}; received {masks.shape}.")
        run = self._project_each_fn(name, mode="frames")
        return np.concatenate([run(image, masks[i:i + batch_size])[0].numpy()
                               for i in range(0, len(masks), batch_size)])


def _joined(parts, features):
    """One `Projection` from the `(reconstructions, values, positions)` of several calls."""
    return Projection(*(np.concatenate([part[i].numpy() for part in parts]) for i in range(3)),
                      features)
