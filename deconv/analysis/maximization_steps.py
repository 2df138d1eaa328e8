"""Feature visualization with a parameterised image: Lucid's decorrelated Fourier images under
its robustness transformations, or MACO's phase-only images seen through random crops with
noise. Many targets are optimised together, one compiled Adam step for the whole batch.

References: Olah, Mordvintsev & Schubert, "Feature Visualization", Distill (2017); Fel et al.,
"Unlocking Feature Visualization for Deeper Networks with MAgnitude Constrained Optimization",
NeurIPS 2023 (arXiv 2306.06805).
"""
import dataclasses

import numpy as np
import tensorflow as tf

from deconv import limits
from deconv.analysis import maximization_batches as batches
from deconv.analysis import maximization_objectives as objectives
from deconv.analysis import maximization_params as params
from deconv.analysis import maximization_transforms as transforms
from deconv.errors import DeconvError

PARAMS = ("fourier", "maco")
# Each parameterisation's default steps, Adam step size and transformations.
DEFAULTS = {"fourier": dict(steps=512, lr=0.05, transforms=transforms.Robustness()),
            "maco": dict(steps=256, lr=0.5, transforms=transforms.Crops())}
MAX_STEPS = 100_000
_ADAM = (0.9, 0.999, 1e-8)
_SCALAR = tf.TensorSpec([], tf.float32)


@dataclasses.dataclass(frozen=True)
class Optimization:
    """How a Fourier or MACO visualization is optimised.

    Attributes:
      param: "fourier" or "maco".
      steps: Adam steps (None: 512 for Fourier, 256 for MACO).
      lr: Adam's step size (None: 0.05 for Fourier's coefficients, 0.5 for MACO's phases).
      size: the image's side in pixels.
      seed: seeds the random starts and the transformations: the same seed gives the same
        images on one machine.
      batch_size: targets per batch (None or 0: all together).
      transforms: a `maximization_transforms.Robustness` (Fourier) or `Crops` (MACO), "default"
        for the parameterisation's own, or None for none (the network sees the image as it is).
      decay: the Fourier coefficients' `1 / f ** decay` scaling.
    """
    param: str = "fourier"
    steps: int = None
    lr: float = None
    size: int = 224
    seed: int = 0
    batch_size: int = None
    transforms: object = "default"
    decay: float = 1.0

    def resolved(self):
        """This optimisation with the parameterisation's defaults filled in.

        Raises:
          DeconvError: an unknown parameterisation or a setting out of range.
        """
        if self.param not in PARAMS:
            raise DeconvError(f"Unknown param {self.param!r}. Valid: pixel, {', '.join(PARAMS)}.")
        own = DEFAULTS[self.param]
        done = dataclasses.replace(
            self, steps=own["steps"] if self.steps is None else self.steps,
            lr=own["lr"] if self.lr is None else self.lr,
            transforms=own["transforms"] if self.transforms == "default" else self.transforms)
        done.check()
        return done

    def check(self):
        for name, low, high in (("steps", 1, MAX_STEPS), ("size", 8, 2048),
                                ("seed", 0, limits.MAX_SEED), ("batch_size", 0, 4096)):
            value = getattr(self, name)
            if not (name == "batch_size" and value is None):
                limits.check(name, value, bounds=(low, high))
        limits.check("lr", self.lr, bounds=(1e-6, 100), integer=False)
        limits.check("decay", self.decay, bounds=(0, 4), integer=False)
        wanted = type(DEFAULTS[self.param]["transforms"])
        if self.transforms is not None:
            if not isinstance(self.transforms, wanted):
                raise DeconvError(f"The {self.param} images take transforms of type "
                                  f"{wanted.__name__} (or None); received {self.transforms!r}.")
            self.transforms.check()


class _Step:
    """One Adam step of every image's variables: images, their transformation, the objective
    (and the diversity term), the gradient. Returns the new variables and moments, each
    image's value and, for MACO, the absolute gradient on the image (its transparency)."""

    def __init__(self, maker, objective, settings, copies, weight):
        self.maker, self.objective, self.settings = maker, objective, settings
        self.copies, self.weight = copies, weight

    def _seen(self, images, matrices, selection, step, seed):
        """What the network sees, the selection of each of them, and how many per image."""
        chosen = self.settings.transforms
        if chosen is None:
            return images, selection, 1
        if isinstance(chosen, transforms.Robustness):
            count = tf.shape(images)[0]
            seen = transforms.sample(images, tf.tile(matrices[None], [count, 1, 1]),
                                     chosen.side(self.settings.size), fill=chosen.fill)
            return seen, selection, 1
        crops = chosen.count
        sources = tf.repeat(tf.range(tf.shape(images)[0]), crops)
        seen = transforms.sample(images, tf.tile(matrices, [tf.shape(images)[0], 1, 1]),
                                 self.settings.size, sources)
        # One noise per crop and step, alike for every image: an image's own noise does not
        # depend on the others beside it.
        seed = tf.stack([seed, tf.cast(step, tf.int64)])
        shape = tf.concat([[crops], tf.shape(seen)[1:]], 0)
        noise = (tf.random.stateless_normal(shape, seed, stddev=chosen.noise)
                 + tf.random.stateless_uniform(shape, seed + 1, -chosen.noise / 2,
                                               chosen.noise / 2))
        seen += tf.tile(noise, [tf.shape(images)[0], 1, 1, 1])
        return seen, tf.repeat(selection, crops, axis=0), crops

    def __call__(self, variables, first, second, step, selection, matrices, lr, seed):
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(variables)
            images = self.maker.images(variables)
            seen, chosen, per_image = self._seen(images, matrices, selection, step, seed)
            values, grams = self.objective(seen, chosen)
            values = tf.reduce_mean(tf.reshape(values, [-1, per_image]), axis=1)
            if grams is not None and per_image > 1:
                size = tf.shape(grams)[1]
                grams = tf.reduce_mean(tf.reshape(grams, [-1, per_image, size, size]), axis=1)
            total = objectives.ascent(values, grams, self.copies, self.weight)
        gradient, on_images = tape.gradient(total, [variables, images])
        del tape
        beta1, beta2, epsilon = _ADAM
        first = beta1 * first + (1 - beta1) * gradient
        second = beta2 * second + (1 - beta2) * tf.square(gradient)
        mean = first / (1 - beta1 ** step)
        scale = tf.sqrt(second / (1 - beta2 ** step)) + epsilon
        variables = variables + lr * mean / scale
        return variables, first, second, values, tf.reduce_sum(tf.abs(on_images), axis=3)


class FeatureVisualizer(batches.Maximizer):
    """Finds, for units of one layer (or classes), images that raise them, parameterised in
    Lucid's decorrelated Fourier basis or by MACO's phases (see `Optimization`).

    Args: those of `deconv.analysis.maximization_batches.Maximizer`.
    """

    def run(self, features, optimization=Optimization(), progress=None, *, copies=1,
            diversity_weight=objectives.DIVERSITY_WEIGHT, coefficients=None):
        """Raises each target from its own random start; `optimization.batch_size` targets
        (all by default) in one batch, through one compiled step.

        Args:
          features: unit ids (for objective "sum": the units summed, into one image).
          optimization: an `Optimization`.
          progress: called as `progress(done, total)` after each step.
          copies: images per target, pushed apart by the diversity term (`diversity_weight`).
          coefficients: a weighted sum's coefficients (default: 1 each).

        Returns:
          A `Maximization`; for MACO with transparency maps.

        Raises:
          DeconvError: a bad id or setting; the message names it and what is valid.
        """
        targets, settings = self.check(features, optimization, copies, coefficients)
        result = self.run_targets(
            targets, settings.batch_size, settings.steps, progress,
            lambda groups, tick: self._run_batch(targets, groups, settings, tick,
                                                 diversity_weight))
        result.sizes, result.param = [settings.size], settings.param
        return result

    def check(self, features, optimization=Optimization(), copies=1, coefficients=None):
        """Checks `run`'s arguments (before weights are loaded); returns the targets and the
        resolved `Optimization`.

        Raises:
          DeconvError: the first bad argument, with what is valid.
        """
        settings = optimization.resolved()
        targets = self.targets(features, copies, coefficients)
        seen = settings.size
        if isinstance(settings.transforms, transforms.Robustness):
            seen = settings.transforms.side(settings.size)
        self.net.check_image_size(self.layer, self.input_size or seen, "size")
        return targets, settings

    def _maker(self, settings):
        if settings.param == "fourier":
            return params.Fourier(settings.size, settings.decay)
        return params.Maco(settings.size)

    def _step(self, settings, copies, weight):
        def make():
            gram_maps = self.gram_maps() if copies > 1 else None
            objective = objectives.Objective(self.maps, self.kind, gram_maps)
            step = _Step(self._maker(settings), objective, settings, copies, weight)
            return tf.function(step, input_signature=[
                tf.TensorSpec(None, tf.float32), tf.TensorSpec(None, tf.float32),
                tf.TensorSpec(None, tf.float32), _SCALAR, objective.spec,
                tf.TensorSpec(None, tf.float32), _SCALAR, tf.TensorSpec([], tf.int64)])
        key = (settings.param, settings.size, settings.decay, settings.transforms)
        return self.compiled(("step", key, copies, weight if copies > 1 else 0.0), make)

    def _matrices(self, settings):
        chosen = settings.transforms
        if isinstance(chosen, transforms.Robustness):
            return chosen.draw(settings.seed, settings.steps, settings.size)
        if isinstance(chosen, transforms.Crops):
            return chosen.draw(settings.seed, settings.steps, settings.size, settings.size)
        return np.zeros((settings.steps, 2, 3), np.float32)

    def _run_batch(self, targets, groups, settings, tick, weight):
        selection = tf.constant(targets.selection(groups))
        maker = self._maker(settings)
        step_fn = self._step(settings, targets.copies, weight)
        variables = tf.constant(maker.start(targets.keys(groups), settings.seed))
        start = self._values(maker.images(variables), selection).numpy()
        first = second = tf.zeros_like(variables)
        transparency = 0.0
        lr = tf.constant(settings.lr, tf.float32)
        seed = tf.constant(settings.seed, tf.int64)
        for step, matrices in enumerate(self._matrices(settings), start=1):
            variables, first, second, _, on_images = step_fn(
                variables, first, second, tf.constant(step, tf.float32), selection,
                tf.constant(matrices), lr, seed)
            if settings.param == "maco":
                transparency = transparency + on_images.numpy()
            tick()
        images = maker.images(variables)
        values = self._values(images, selection).numpy()
        if settings.param == "maco":
            peak = transparency.max(axis=(1, 2), keepdims=True)
            transparency = (transparency / np.where(peak > 0, peak, 1)).astype(np.float32)
        else:
            transparency = None
        return (images.numpy() * 255.0).astype(np.float32), start, values, transparency
