"""What every activation maximizer shares, whatever parameterises its images (pixels in
`maximization`, Fourier coefficients or phases in `maximization_steps`): the layer and its
objective, the targets checked and cut into batches, the progress count, and the result."""
import dataclasses

import numpy as np
import tensorflow as tf

from deconv.analysis import maximization_objectives as objectives
from deconv.core import compiled
from deconv.core import map_ids
from deconv.errors import DeconvError

SPEC = compiled.IMAGES  # images in [0, 1] here
# The most images one target may have (--diversity).
MAX_COPIES = 64


@dataclasses.dataclass
class Maximization:
    """What a maximizer found: `copies` images per target, target by target.

    Attributes:
      images: `(N, S, S, 3)` float32 RGB in [0, 255].
      features: `(T,)` the targets' maps (for a weighted sum: every unit in it).
      start_values: `(N,)` the objective on the random start (at the first size).
      values: `(N,)` the objective on the final images (as they are, no transforms).
      sizes: the image side of each round (one round for the Fourier and MACO images).
      objective: what was raised, in words (`"pre-ReLU mean"`, `"class logit"`, ...).
      copies: images per target (`--diversity`).
      param: how the images were parameterised: "pixel", "fourier" or "maco".
      kind: the objective's kind (`maximization_objectives.reduce`).
      transparency: MACO's `(N, S, S)` accumulated absolute gradient, scaled to [0, 1] per
        image, or None.
      similarity: with copies, each target's mean pairwise Gram similarity of its images
        (`maximization_objectives.diversity`, on the diversity layer), or None.
      coefficients: a weighted sum's coefficients, or None.
    """
    images: np.ndarray
    features: np.ndarray
    start_values: np.ndarray
    values: np.ndarray
    sizes: list
    objective: str
    copies: int = 1
    param: str = "pixel"
    kind: str = "mean"
    transparency: np.ndarray = None
    similarity: np.ndarray = None
    coefficients: tuple = None


class _Values:
    """An `Objective`'s values alone (no Gram matrices)."""

    def __init__(self, objective):
        self.objective = objective

    def __call__(self, images, selection):
        return self.objective(images, selection)[0]


class _Similarity:
    """Images in [0, 1] -> each group of `copies` images' mean pairwise Gram similarity."""

    def __init__(self, gram_maps):
        self.gram_maps = gram_maps

    def __call__(self, images, copies):
        grams = objectives.gram_matrices(self.gram_maps(images * 255.0))
        return objectives.diversity(grams, copies)


class Maximizer:
    """The layer, its objective and the targets; subclasses make the images (`_run_batch`).

    Args:
      net: a `deconv.Deconvnet` (its model and preprocessing are used; nothing is changed).
      layer: the layer, `conv4_3` or `block4_conv3` style; logits (`predictions`) too.
      pre_relu: for a Conv2D layer with a fused ReLU (or a ReLU layer), raise the map before
        the ReLU: a map that is zero on the start still gets a gradient. False: raise the
        activation itself.
      objective: "mean" (of a unit's map), "centre" (its centre neuron) or "sum" (a weighted sum
        of units); on logits, one class's logit unless "sum".
      diversity_layer: the layer whose Gram matrices the diversity term compares (default: the
        objective's layer, or for logits the last layer with maps before them).
    """

    def __init__(self, net, layer, pre_relu=True, objective="mean", diversity_layer=None):
        self.net = net
        self.layer = net.resolve(layer)
        self.count = net.feature_count(self.layer)
        self.kind = objectives.kind_of(net, self.layer, objective)
        self.maps, self.pre_relu = objectives.layer_maps(net, self.layer, pre_relu)
        fixed = tuple(net.input_shape[1:3])
        # A model of one input size (a classifier) sees each image resized to it.
        self.input_size = None if None in fixed else fixed
        if self.input_size is not None:
            self.maps = objectives.Resized(self.maps, self.input_size)
        self.diversity_layer = objectives.diversity_layer(net, self.layer, diversity_layer)
        plain = objectives.Objective(self.maps, self.kind)
        self._values = tf.function(_Values(plain), input_signature=[SPEC, plain.spec])
        self._compiled = {}

    @property
    def objective_name(self):
        """What is raised, in words."""
        return objectives.name_of(self.kind, self.pre_relu)

    def gram_maps(self):
        """Images in [0, 255] -> the diversity layer's activations ("same": the objective's)."""
        if self.diversity_layer == self.layer and len(self.net.step(self.layer).shape) == 4:
            return "same"
        return self.net.activations_graph(self.diversity_layer)

    def compiled(self, key, make):
        """A compiled function made once per `key` by `make()`."""
        if key not in self._compiled:
            self._compiled[key] = make()
        return self._compiled[key]

    def objective(self, images, selection):
        """Returns the objective `(N,)` of RGB images `(N, H, W, 3)` in [0, 255]: one unit each
        (ids), or for "sum" one row of weights each."""
        images = tf.convert_to_tensor(np.asarray(images, np.float32) / 255.0)
        dtype = tf.float32 if self.kind == "sum" else tf.int32
        return self._values(images, tf.constant(selection, dtype)).numpy()

    def similarity(self, images, copies):
        """Each group of `copies` consecutive RGB images' (in [0, 255]) mean pairwise Gram
        similarity on the diversity layer, `(N / copies,)`."""
        gram_maps = self.gram_maps()
        run = self.compiled(("similarity", copies), lambda: _Similarity(
            self.maps if gram_maps == "same" else gram_maps))
        images = tf.convert_to_tensor(np.asarray(images, np.float32) / 255.0)
        return run(images, copies).numpy()

    def targets(self, features, copies=1, coefficients=None):
        """The checked `objectives.Targets` of map ids `features`.

        Raises:
          DeconvError: a bad id, copy count or coefficient.
        """
        features = map_ids.parse(np.atleast_1d(features).tolist(), self.count, self.layer,
                                 "feature")
        if isinstance(copies, bool) or not isinstance(copies, (int, np.integer)) or not (
                1 <= copies <= MAX_COPIES):
            raise DeconvError(f"diversity must be an integer from 1 to {MAX_COPIES} (images per "
                              f"unit); received {copies!r}.")
        if self.kind == "sum":
            objectives.weights_matrix(self.count, features, coefficients)
        elif coefficients is not None:
            raise DeconvError("Coefficients are for a weighted sum (objective 'sum') only.")
        return objectives.Targets(tuple(features), self.kind, self.count, int(copies),
                                  None if coefficients is None else tuple(coefficients))

    def run_targets(self, targets, batch_size, steps_per_batch, progress, run_batch):
        """Runs `run_batch(groups, tick)` on the targets `batch_size` at a time (None or 0:
        all together) and joins what it returns, `(images, start values, values,
        transparency or None)`, into a `Maximization` (less its sizes and param)."""
        groups = targets.groups
        batch = batch_size or len(groups)
        chunks = [groups[i:i + batch] for i in range(0, len(groups), batch)]
        total, done = len(chunks) * steps_per_batch, [0]

        def tick():
            done[0] += 1
            if progress is not None:
                progress(done[0], total)

        parts = [run_batch(chunk, tick) for chunk in chunks]
        images = np.concatenate([p[0] for p in parts])
        similarity = (np.concatenate([self.similarity(p[0], targets.copies) for p in parts])
                      if targets.copies > 1 else None)
        transparency = (None if parts[0][3] is None
                        else np.concatenate([p[3] for p in parts]))
        return Maximization(
            images=images, features=np.asarray(targets.features),
            start_values=np.concatenate([p[1] for p in parts]),
            values=np.concatenate([p[2] for p in parts]), sizes=[], objective=self.objective_name,
            copies=targets.copies, kind=self.kind, transparency=transparency,
            similarity=similarity, coefficients=targets.coefficients)
