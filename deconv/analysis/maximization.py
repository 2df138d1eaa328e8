"""Activation maximization: the image that a feature map responds to most, found by gradient
ascent from noise, growing from a small image to a large one.

The method of Erhan et al. (2009), "Visualizing higher-layer features of a deep network", as the
PyTorch VGG16 tools run it: start from a small gray image with faint noise (56x56), take Adam
steps that raise the mean of the chosen map (by default of a conv map before its ReLU: the
"pre-ReLU mean"), enlarge the image by a factor (1.2) with a light blur, and repeat for a number
of rounds. Structure found while the image is small becomes large patterns later; the blur keeps
high frequencies from taking over. Many maps are optimised together, one image per map in one
batch: the images do not interact, so each result is the one it would be alone.
"""
import dataclasses
import math
import os

import keras
import numpy as np
import tensorflow as tf

from deconv import limits
from deconv.core import compiled
from deconv.core import map_ids
from deconv.core import preprocessing
from deconv.core import chain_rules
from deconv.core import graph
from deconv.core import selection
from deconv.errors import DeconvError
from deconv.io import outputs
from deconv.io import render

# The random start of the PyTorch tool: a uniform gray in [150, 180] of [0, 255].
START_RANGE = (150.0, 180.0)
# The step's unit per channel: the standard deviation of ImageNet pixels, so that `lr` means
# what it means in the PyTorch tool, which runs Adam on standardised pixels.
PIXEL_STD = (0.229, 0.224, 0.225)
# The largest image a schedule may reach (VGG's memory grows with its area).
MAX_SIZE = 2048
# The range of each `Schedule` setting: (lowest, highest, integer).
RANGES = {"init_size": (1, MAX_SIZE, True), "steps": (1, 10_000, True),
          "rounds": (1, 1000, True), "factor": (1, 4, False), "lr": (0, 10, False),
          "blur": (0, 10, False), "seed": (0, limits.MAX_SEED, True),
          "batch_size": (0, 4096, True)}
_ADAM = (0.9, 0.999, 1e-8)
_SPEC = compiled.IMAGES  # images in [0, 1] here
_IDS = tf.TensorSpec([None], tf.int32)


@dataclasses.dataclass(frozen=True)
class Schedule:
    """How the images grow: a random start of `init_size` pixels; `rounds` rounds of `steps` Adam
    steps of `lr` (in standard deviations of ImageNet pixels: 0.1 is about 6 of 255); between
    rounds, enlarged by `factor` and blurred by a Gaussian of `blur` pixels; the starts seeded by
    `seed`; `batch_size` maps at a time (None or 0: all together)."""
    init_size: int = 56
    steps: int = 20
    rounds: int = 12
    factor: float = 1.2
    lr: float = 0.1
    blur: float = 0.5
    seed: int = 0
    batch_size: int = None

    @property
    def sizes(self):
        """The image side of each round (`round_sizes`)."""
        return round_sizes(self.init_size, self.rounds, self.factor)


@dataclasses.dataclass
class Maximization:
    """What `ActivationMaximizer.run` found, one entry per feature map.

    Attributes:
      images: `(N, S, S, 3)` float32 RGB in [0, 255], `S` the last round's size.
      features: `(N,)` the maps.
      start_values: `(N,)` the objective on the random start (at the first round's size).
      values: `(N,)` the objective on the final images.
      sizes: the image side of each round.
      objective: what was raised: `"pre-ReLU mean"` or `"mean activation"`.
    """
    images: np.ndarray
    features: np.ndarray
    start_values: np.ndarray
    values: np.ndarray
    sizes: list
    objective: str


def round_sizes(init_size, rounds, factor):
    """Returns the image side of each round: `init_size`, then each the last times `factor`,
    rounded down as the PyTorch tool does (56, 67, 80, 96, ... for 1.2), and at least one pixel
    more than the last when `factor` > 1."""
    sizes = [int(init_size)]
    for _ in range(rounds - 1):
        grown = int(sizes[-1] * factor)
        sizes.append(max(grown, sizes[-1] + 1) if factor > 1 else grown)
    return sizes


def random_start(features, size, seed):
    """Returns the random start of each map, `(N, size, size, 3)` in [0, 255]: drawn from a
    generator seeded by `(seed, map)`, so a map starts alike whichever maps run beside it."""
    return np.stack([np.random.default_rng([seed, int(feature)]).uniform(
        *START_RANGE, (size, size, 3)) for feature in features]).astype(np.float32)


def gaussian_blur(images, sigma):
    """Blurs `(N, H, W, C)` images with a Gaussian of `sigma` pixels (reflected borders).

    The kernel reaches `ceil(3 * sigma)` pixels each way, clamped per axis to the side minus
    one (a reflected border must be smaller than the image): on a small image the Gaussian is
    truncated there and renormalised, and a side of one pixel is left as it is. So every
    `blur` works with every `init_size`.
    """
    if sigma <= 0:
        return images
    reach = max(1, math.ceil(3 * sigma))
    channels = images.shape[-1]
    for axis in (1, 2):
        radius = min(reach, images.shape[axis] - 1)
        if radius < 1:
            continue
        taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
        shape = [-1, 1, 1, 1] if axis == 1 else [1, -1, 1, 1]
        kernel = tf.tile(tf.reshape(tf.constant(taps / taps.sum(), tf.float32), shape),
                         [1, 1, channels, 1])
        padding = [[0, 0]] * 4
        padding[axis] = [radius, radius]
        images = tf.nn.depthwise_conv2d(tf.pad(images, padding, "REFLECT"), kernel,
                                        [1, 1, 1, 1], "VALID")
    return images


def enlarge(images, size, sigma):
    """Resizes `(N, H, W, 3)` images in [0, 1] to `size` (bicubic), blurs them, and clips."""
    resized = tf.image.resize(images, (size, size), method="bicubic")
    return tf.clip_by_value(gaussian_blur(resized, sigma), 0.0, 1.0)


class _PreRelu:
    """RGB images -> a Conv2D layer's output before its fused ReLU."""

    def __init__(self, below, layer):
        self.below, self.layer = below, layer

    def __call__(self, images):
        outputs = self.layer.convolution_op(self.below(images), self.layer.kernel)
        return outputs + self.layer.bias if self.layer.use_bias else outputs


class _Objective:
    """Images in [0, 1] and one map per image -> the mean of that map in that image, `(N,)`
    (a class's logit, for a classifier's logits: 1x1 maps). For a model of one input size (a
    classifier), each image is resized to it first (bilinear, differentiable), so the growing
    schedule works there too."""

    def __init__(self, maps, input_size=None):
        self.maps, self.input_size = maps, input_size

    def __call__(self, images, features):
        if self.input_size is not None:
            images = tf.image.resize(images, self.input_size, method="bilinear")
        activations = selection.as_maps(self.maps(images * 255.0))  # logits: 1x1 maps
        chosen = tf.gather(activations, features, axis=3, batch_dims=1)
        return tf.reduce_mean(chosen, axis=[1, 2])


class _AdamStep:
    """One Adam ascent step on every image at once; images stay in [0, 1]."""

    def __init__(self, objective):
        self.objective = objective
        self.unit = tf.constant(PIXEL_STD, tf.float32)

    def __call__(self, images, first, second, step, features, lr):
        with tf.GradientTape() as tape:
            tape.watch(images)
            values = self.objective(images, features)
            # The images are independent, so the sum's gradient is each image's own.
            total = tf.reduce_sum(values)
        gradient = tape.gradient(total, images)
        beta1, beta2, epsilon = _ADAM
        first = beta1 * first + (1 - beta1) * gradient
        second = beta2 * second + (1 - beta2) * tf.square(gradient)
        mean = first / (1 - beta1 ** step)
        scale = tf.sqrt(second / (1 - beta2 ** step)) + epsilon
        images = tf.clip_by_value(images + lr * self.unit * mean / scale, 0.0, 1.0)
        return images, first, second, values


class ActivationMaximizer:
    """Finds, for feature maps of one layer, the images that raise their mean most.

    Reference: Erhan, Bengio, Courville & Vincent, "Visualizing higher-layer features of a deep
    network" (2009); the multi-scale schedule of the PyTorch VGG16 filter visualizers.

    Args:
      net: a `deconv.Deconvnet` (its model and preprocessing are used; nothing is changed).
      layer: the layer, `conv4_3` or `block4_conv3` style.
      pre_relu: for a Conv2D layer with a fused ReLU, raise the map before the ReLU (as the
        PyTorch tools do, whose hooks sit on the conv): a map that is zero on the start still
        gets a gradient. False: raise the activation itself.
    """

    def __init__(self, net, layer, pre_relu=True):
        self.net = net
        self.layer = net.resolve(layer)
        self.count = net.feature_count(self.layer)
        step = net.step(self.layer)
        below = (preprocessing.Preprocess(net.preprocessing.name)
                 if step.input_key == graph.INPUT_KEY
                 else net.builder.activations_graph(step.input_key))
        fused = type(step.layer) is keras.layers.Conv2D and chain_rules.fused_relu(step.layer)
        separate = isinstance(step.rule, chain_rules.ReluRule)  # a ReLU layer: its input
        self.pre_relu = bool(pre_relu and (fused or separate))
        if self.pre_relu:
            maps = _PreRelu(below, step.layer) if fused else below
        else:
            maps = net.builder.activations_graph(self.layer)
        fixed = tuple(net.input_shape[1:3])
        self.input_size = None if None in fixed else fixed
        self.logits = len(step.shape) == 2
        objective = _Objective(maps, self.input_size)
        self._objective = tf.function(objective, input_signature=[_SPEC, _IDS])
        self._step = tf.function(_AdamStep(objective), input_signature=[
            _SPEC, _SPEC, _SPEC, tf.TensorSpec([], tf.float32), _IDS,
            tf.TensorSpec([], tf.float32)])

    @property
    def objective_name(self):
        """What is raised, in words."""
        return ("pre-ReLU mean" if self.pre_relu else "class logit" if self.logits
                else "mean activation")

    def objective(self, images, features):
        """Returns the objective `(N,)` of RGB images `(N, H, W, 3)` in [0, 255], one map each."""
        images = tf.convert_to_tensor(np.asarray(images, np.float32) / 255.0)
        return self._objective(images, tf.constant(features, tf.int32)).numpy()

    def run(self, features, schedule=Schedule(), progress=None):
        """Raises each map's mean from its own random start; all maps in one batch.

        Args:
          features: map ids.
          schedule: a `Schedule`: start size, steps, rounds, enlargement, step size, blur (on
            an image smaller than the blur's reach it is truncated, see `gaussian_blur`), seed
            (the same seed gives the same images) and maps per batch.
          progress: called as `progress(done, total)` after each step, counted in steps of
            the whole schedule.

        Returns:
          A `Maximization`.

        Raises:
          DeconvError: a bad id or setting; the message names it and what is valid.
        """
        features = self.check(features, schedule)
        sizes = schedule.sizes
        batch = schedule.batch_size or len(features)
        chunks = [features[i:i + batch] for i in range(0, len(features), batch)]
        total, done = len(chunks) * schedule.steps * schedule.rounds, [0]

        def tick():
            done[0] += 1
            if progress is not None:
                progress(done[0], total)

        parts = [self._run_batch(chunk, schedule, tick) for chunk in chunks]
        return Maximization(
            images=np.concatenate([p[0] for p in parts]), features=np.asarray(features),
            start_values=np.concatenate([p[1] for p in parts]),
            values=np.concatenate([p[2] for p in parts]), sizes=sizes,
            objective=self.objective_name)

    def _run_batch(self, features, schedule, tick):
        ids = tf.constant(features, tf.int32)
        sizes = schedule.sizes
        images = tf.constant(random_start(features, sizes[0], schedule.seed) / 255.0)
        start = self._objective(images, ids).numpy()
        lr = tf.constant(schedule.lr, tf.float32)
        for number, size in enumerate(sizes):
            if number:
                images = enlarge(images, size, schedule.blur)
            # Adam starts afresh each round: the pixels it tracked have moved.
            first = second = tf.zeros_like(images)
            for step in range(1, schedule.steps + 1):
                images, first, second, _ = self._step(images, first, second,
                                                      tf.constant(step, tf.float32), ids, lr)
                tick()
        values = self._objective(images, ids).numpy()
        return (images.numpy() * 255.0).astype(np.float32), start, values

    def check(self, features, schedule=Schedule()):
        """Checks `run`'s arguments (before weights are loaded); returns the map ids as a list.

        Raises:
          DeconvError: the first bad argument, with what is valid.
        """
        features = map_ids.parse(np.atleast_1d(features).tolist(), self.count, self.layer,
                                 "feature")
        s = schedule
        for name, (low, high, integer) in RANGES.items():
            value = getattr(s, name)
            if name == "batch_size" and value is None:
                continue
            problem = limits.problem(value, low, high, integer)
            if problem is None and name == "lr" and value <= 0:
                problem = f"must be a number above 0 (at most {high}); received {value!r}."
            if problem:
                raise DeconvError(f"{name} {problem}")
        if s.sizes[-1] > MAX_SIZE:
            raise DeconvError(f"The schedule (init_size {s.init_size}, rounds {s.rounds}, factor "
                              f"{s.factor}) ends at {s.sizes[-1]} pixels; at most {MAX_SIZE}: "
                              f"use fewer rounds or a smaller factor.")
        self.net.check_image_size(self.layer, self.input_size or s.init_size, "init_size")
        return features


def maximize_maps(net, layer, features, *, schedule=Schedule(), pre_relu=True, progress=None):
    """Activation maximization of maps `features` of `layer`: `ActivationMaximizer(net, layer,
    pre_relu).run(features, schedule, progress)`; returns a `Maximization`."""
    return ActivationMaximizer(net, layer, pre_relu).run(features, schedule, progress)


def _tile(picture, side):
    if not side:
        return render.upscale(picture, 128)
    from PIL import Image
    return np.asarray(Image.fromarray(picture).resize((side, side), Image.Resampling.BILINEAR))


def check_grid(count, schedule, tile=0):
    """Raises DeconvError if the grid `write` would draw for `count` maps (tiles of `tile`
    pixels, or the final size enlarged to at least 128) is too large a picture."""
    side = tile or max(schedule.sizes[-1], 128)
    limits.check_picture(count, side, "The grid of the maps (lower --tile, or give fewer --id)")


def files(out_dir, feat, features):
    """The paths `write` writes for maps `features` of layer `feat`."""
    return [os.path.join(out_dir, name) for name in (
        *(f"{feat}_{feature}.png" for feature in features), f"{feat}_grid.png", f"{feat}.json")]


def write(out_dir, feat, result, described, tile=0):
    """Writes a `Maximization`, atomically: `{feat}_{id}.png` per map, `{feat}_grid.png` (every
    map, labelled with its final objective; tiles resized to `tile` pixels, or with 0 enlarged
    to at least 128) and `{feat}.json` (`described`, then sizes and per map its objective at the
    start and the end). Returns `(map files, grid file, JSON file)`."""
    written, tiles = [], []
    pictures = result.images.round().clip(0, 255).astype("uint8")
    for feature, picture, value in zip(result.features, pictures, result.values):
        written.append(os.path.join(out_dir, f"{feat}_{feature}.png"))
        outputs.write_png(written[-1], picture)
        tiles.append(render.label(_tile(picture, tile), f"map {feature}: {value:.3g}"))
    grid = os.path.join(out_dir, f"{feat}_grid.png")
    outputs.write_png(grid, render.label(render.grid(tiles), f"{feat}: {result.objective}"))
    summary = os.path.join(out_dir, f"{feat}.json")
    outputs.write_json(summary, {
        **described, "sizes": result.sizes,
        "values": f"{result.objective} of the map, on the start and on the result",
        "maps": [{"map": int(feature), "start": float(start), "end": float(end),
                  "file": os.path.basename(path)}
                 for feature, start, end, path in zip(result.features, result.start_values,
                                                      result.values, written)],
        "grid": os.path.basename(grid)})
    return written, grid, summary
