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

import numpy as np
import tensorflow as tf

from deconv import limits
from deconv.analysis import maximization_batches as batches
from deconv.analysis import maximization_objectives as objectives
from deconv.analysis import maximization_steps as steps
from deconv.analysis.maximization_batches import Maximization  # noqa: F401 (the public name)
from deconv.core import compiled
from deconv.errors import DeconvError

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


def round_sizes(init_size, rounds, factor):
    """Returns the image side of each round: `init_size`, then each the last times `factor`,
    rounded down as the PyTorch tool does (56, 67, 80, 96, ... for 1.2), and at least one pixel
    more than the last when `factor` > 1."""
    sizes = [int(init_size)]
    for _ in range(rounds - 1):
        grown = int(sizes[-1] * factor)
        sizes.append(max(grown, sizes[-1] + 1) if factor > 1 else grown)
    return sizes


def random_start(keys, size, seed):
    """Returns the random start of each image, `(N, size, size, 3)` in [0, 255]: drawn from a
    generator seeded by `(seed, *key)`, a key being a map id (or a list, see
    `maximization_objectives.Targets.keys`), so a map starts alike whichever maps run beside
    it."""
    return np.stack([np.random.default_rng([seed, *np.atleast_1d(key).tolist()]).uniform(
        *START_RANGE, (size, size, 3)) for key in keys]).astype(np.float32)


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


class _AdamStep:
    """One Adam ascent step on every image at once; images stay in [0, 1]. With `copies` > 1,
    the diversity term (weighted by `weight`) pushes each target's copies apart."""

    def __init__(self, objective, copies=1, weight=0.0):
        self.objective, self.copies, self.weight = objective, copies, weight
        self.unit = tf.constant(PIXEL_STD, tf.float32)

    def __call__(self, images, first, second, step, selection, lr):
        with tf.GradientTape() as tape:
            tape.watch(images)
            values, grams = self.objective(images, selection)
            # The images are independent, so the sum's gradient is each image's own.
            total = objectives.ascent(values, grams, self.copies, self.weight)
        gradient = tape.gradient(total, images)
        beta1, beta2, epsilon = _ADAM
        first = beta1 * first + (1 - beta1) * gradient
        second = beta2 * second + (1 - beta2) * tf.square(gradient)
        mean = first / (1 - beta1 ** step)
        scale = tf.sqrt(second / (1 - beta2 ** step)) + epsilon
        images = tf.clip_by_value(images + lr * self.unit * mean / scale, 0.0, 1.0)
        return images, first, second, values


class ActivationMaximizer(batches.Maximizer):
    """Finds, for feature maps of one layer, the images that raise their mean most, by
    gradient ascent on pixels (the "pixel" parameterisation).

    Reference: Erhan, Bengio, Courville & Vincent, "Visualizing higher-layer features of a deep
    network" (2009); the multi-scale schedule of the PyTorch VGG16 filter visualizers.

    Args: those of `deconv.analysis.maximization_batches.Maximizer`.
    """

    def run(self, features, schedule=Schedule(), progress=None, *, copies=1,
            diversity_weight=objectives.DIVERSITY_WEIGHT, coefficients=None):
        """Raises each map's objective from its own random start; `schedule.batch_size` maps
        (all by default) in one batch.

        Args:
          features: map ids (for objective "sum": the units summed, into one image).
          schedule: a `Schedule`: start size, steps, rounds, enlargement, step size, blur (on
            an image smaller than the blur's reach it is truncated, see `gaussian_blur`), seed
            (the same seed gives the same images) and maps per batch.
          progress: called as `progress(done, total)` after each step, counted in steps of
            the whole schedule.
          copies: images per map, pushed apart by the diversity term (`diversity_weight`).
          coefficients: a weighted sum's coefficients (default: 1 each).

        Returns:
          A `Maximization`.

        Raises:
          DeconvError: a bad id or setting; the message names it and what is valid.
        """
        targets = self.check(features, schedule, copies, coefficients)
        result = self.run_targets(
            targets, schedule.batch_size, schedule.steps * schedule.rounds, progress,
            lambda groups, tick: self._run_batch(targets, groups, schedule, tick,
                                                 diversity_weight))
        result.sizes = schedule.sizes
        return result

    def _step(self, copies, weight):
        def make():
            objective = objectives.Objective(
                self.maps, self.kind, self.gram_maps() if copies > 1 else None)
            return tf.function(_AdamStep(objective, copies, weight), input_signature=[
                _SPEC, _SPEC, _SPEC, tf.TensorSpec([], tf.float32), objective.spec,
                tf.TensorSpec([], tf.float32)])
        return self.compiled(("step", copies, weight if copies > 1 else 0.0), make)

    def _run_batch(self, targets, groups, schedule, tick, weight):
        selection = tf.constant(targets.selection(groups))
        step_fn = self._step(targets.copies, weight)
        sizes = schedule.sizes
        images = tf.constant(random_start(targets.keys(groups), sizes[0], schedule.seed)
                             / 255.0)
        start = self._values(images, selection).numpy()
        lr = tf.constant(schedule.lr, tf.float32)
        for number, size in enumerate(sizes):
            if number:
                images = enlarge(images, size, schedule.blur)
            # Adam starts afresh each round: the pixels it tracked have moved.
            first = second = tf.zeros_like(images)
            for step in range(1, schedule.steps + 1):
                images, first, second, _ = step_fn(images, first, second,
                                                   tf.constant(step, tf.float32), selection, lr)
                tick()
        values = self._values(images, selection).numpy()
        return (images.numpy() * 255.0).astype(np.float32), start, values, None

    def check(self, features, schedule=Schedule(), copies=1, coefficients=None):
        """Checks `run`'s arguments (before weights are loaded); returns the
        `maximization_objectives.Targets`.

        Raises:
          DeconvError: the first bad argument, with what is valid.
        """
        targets = self.targets(features, copies, coefficients)
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
        return targets


def maximize_maps(net, layer, features, *, schedule=None, param=None, pre_relu=True,
                  objective="mean", coefficients=None, diversity=1,
                  diversity_weight=objectives.DIVERSITY_WEIGHT, diversity_layer=None,
                  progress=None):
    """Activation maximization of maps (or classes) `features` of `layer`; returns a
    `Maximization`.

    Args:
      schedule: how the images are made: a `Schedule` (pixels, the default) or a
        `maximization_steps.Optimization` (Fourier or MACO images).
      param: "pixel", "fourier" or "maco", the parameterisation's default schedule when
        `schedule` is None (else it must agree with it).
      pre_relu, objective, diversity_layer: see `maximization_batches.Maximizer`.
      coefficients: for objective "sum", one per unit (default 1 each): one image raises
        their weighted sum.
      diversity: images per target, pushed apart by the diversity term (`diversity_weight`
        times their mean pairwise Gram similarity, subtracted).
      progress: called as `progress(done, total)` after each step.

    Raises:
      DeconvError: a bad argument; the message names it and what is valid.
    """
    schedule = _schedule_for(schedule, param)
    if isinstance(schedule, Schedule):
        maximizer = ActivationMaximizer(net, layer, pre_relu, objective, diversity_layer)
    else:
        maximizer = steps.FeatureVisualizer(net, layer, pre_relu, objective, diversity_layer)
    return maximizer.run(features, schedule, progress, copies=diversity,
                         diversity_weight=diversity_weight, coefficients=coefficients)


PARAMS = ("pixel", *steps.PARAMS)


def _schedule_for(schedule, param):
    if param is not None and param not in PARAMS:
        raise DeconvError(f"Unknown param {param!r}. Valid: {', '.join(PARAMS)}.")
    if schedule is None:
        return Schedule() if param in (None, "pixel") else steps.Optimization(param)
    found = "pixel" if isinstance(schedule, Schedule) else getattr(schedule, "param", None)
    if not isinstance(schedule, (Schedule, steps.Optimization)):
        raise DeconvError(f"schedule must be a Schedule (pixels) or an Optimization (fourier, "
                          f"maco); received {schedule!r}.")
    if param is not None and param != found:
        raise DeconvError(f"param {param!r} disagrees with the schedule's ({found!r}).")
    return schedule
