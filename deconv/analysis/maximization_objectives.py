"""What activation maximization raises, for every parameterisation (`maximization` for pixels,
`maximization_steps` for the Fourier and MACO images): a unit's map (its mean, or its centre
neuron), a class logit (a softmax classifier's pre-softmax value), or a weighted sum of a
layer's units; and the diversity term that pushes several images of one unit apart.

Every objective is batched: image `i` of a batch raises its own unit (`selection[i]`, a map
id), or its own weighted sum (`selection[i]`, one weight per unit of the layer).

Reference: Olah, Mordvintsev & Schubert, "Feature Visualization", Distill (2017): the
objectives and the diversity term (pairwise cosine similarity of the images' Gram matrices).
"""
import dataclasses

import keras
import numpy as np
import tensorflow as tf

from deconv.core import graph
from deconv.core import preprocessing
from deconv.core.rules.base import fused_relu
from deconv.core.rules.paper import ReluRule
from deconv.errors import DeconvError

# What is raised, by name: the kinds a user picks; a layer without maps (logits) always gets
# "logit" for one unit or "sum" for a weighted sum.
KINDS = ("mean", "centre", "sum")
# The diversity term's default weight: per target, the sum of its copies' values less this
# times their mean pairwise Gram similarity (in [0, 1] for non-negative activations) times
# their mean absolute value (see `ascent`).
DIVERSITY_WEIGHT = 5.0
IDS = tf.TensorSpec([None], tf.int32)
WEIGHTS = tf.TensorSpec([None, None], tf.float32)


class PreRelu:
    """RGB images -> a Conv2D layer's output before its fused ReLU."""

    def __init__(self, below, layer):
        self.below, self.layer = below, layer

    def __call__(self, images):
        outputs = self.layer.convolution_op(self.below(images), self.layer.kernel)
        return outputs + self.layer.bias if self.layer.use_bias else outputs


class Resized:
    """RGB images of any size -> `maps` of them resized to `size` (bilinear, differentiable): a
    classifier takes one size, and the growing schedule and the transforms change it."""

    def __init__(self, maps, size):
        self.maps, self.size = maps, size

    def __call__(self, images):
        return self.maps(tf.image.resize(images, self.size, method="bilinear"))


def layer_maps(net, layer, pre_relu=True):
    """Returns `(maps, pre_relu)`: `maps` takes RGB images in [0, 255] to `layer`'s output,
    before its ReLU where `pre_relu` asks and the layer has one (a Conv2D with a fused ReLU, or
    a ReLU layer: its input); the flag says whether that was so."""
    step = net.step(layer)
    fused = type(step.layer) is keras.layers.Conv2D and fused_relu(step.layer)
    separate = isinstance(step.rule, ReluRule)  # a ReLU layer: its input
    if not (pre_relu and (fused or separate)):
        return net.activations_graph(layer), False
    below = (preprocessing.Preprocess(net.preprocessing.name)
             if step.input_key == graph.INPUT_KEY
             else net.activations_graph(step.input_key))
    return (PreRelu(below, step.layer) if fused else below), True


def kind_of(net, layer, kind):
    """The objective's kind for `layer`: `kind` ("mean", "centre" or "sum") on a layer with
    maps; on logits, "logit" for one unit and "sum" for a weighted sum.

    Raises:
      DeconvError: an unknown kind.
    """
    if kind not in KINDS:
        raise DeconvError(f"Unknown objective {kind!r}. Valid: {', '.join(KINDS)}.")
    if len(net.step(layer).shape) != 4 and kind != "sum":
        return "logit"
    return kind


_NAMES = {"mean": ("mean activation", "pre-ReLU mean"),
          "centre": ("centre activation", "pre-ReLU centre neuron"),
          "sum": ("weighted sum of mean activations", "weighted sum of pre-ReLU means"),
          "logit": ("class logit", "class logit")}


def name_of(kind, pre_relu):
    """What is raised, in words (the manifest's and the grid's title)."""
    return _NAMES[kind][bool(pre_relu)]


def reduce(outputs, kind, selection):
    """One value per image from a layer's `outputs` (`(N, h, w, C)` maps or `(N, C)` units).

    Args:
      kind: "mean" (of map `selection[i]`), "centre" (map `selection[i]` at the centre:
        position `(h // 2, w // 2)`, the lower right of the middle four on even maps), "logit"
        (unit `selection[i]`) or "sum" (`sum_c selection[i, c] * mean of map c`).
      selection: `(N,)` int32 ids, or `(N, C)` float32 weights for "sum".
    """
    if kind == "mean":
        # One map gathered, then averaged: as the pixel method always did (bytes unchanged).
        chosen = tf.gather(outputs, selection, axis=3, batch_dims=1)
        return tf.reduce_mean(chosen, axis=[1, 2])
    if kind == "centre":
        shape = tf.shape(outputs)
        centre = outputs[:, shape[1] // 2, shape[2] // 2, :]
        return tf.gather(centre, selection, axis=1, batch_dims=1)
    if kind == "logit":
        return tf.gather(outputs, selection, axis=1, batch_dims=1)
    means = tf.reduce_mean(outputs, axis=[1, 2]) if outputs.shape.rank == 4 else outputs
    return tf.reduce_sum(means * selection, axis=1)


class Objective:
    """Images in [0, 1] and a selection -> `(values (N,), Gram matrices or None)`.

    Args:
      maps: RGB images in [0, 255] -> the objective layer's output (`layer_maps`).
      kind: see `reduce`.
      gram_maps: RGB images in [0, 255] -> the activations whose Gram matrices the diversity
        term compares, or None (no diversity); `"same"`: those of `maps`.
    """

    def __init__(self, maps, kind, gram_maps=None):
        self.maps, self.kind, self.gram_maps = maps, kind, gram_maps

    @property
    def spec(self):
        """The selection's `tf.TensorSpec`."""
        return WEIGHTS if self.kind == "sum" else IDS

    def __call__(self, images, selection):
        outputs = self.maps(images * 255.0)
        values = reduce(outputs, self.kind, selection)
        if self.gram_maps is None:
            return values, None
        features = outputs if self.gram_maps == "same" else self.gram_maps(images * 255.0)
        return values, gram_matrices(features)


def gram_matrices(activations):
    """`(N, h, w, C)` activations -> their Gram matrices `(N, C, C)`, each scaled to a unit
    Frobenius norm (so that the dot product of two is their cosine similarity)."""
    flat = tf.reshape(activations, [tf.shape(activations)[0], -1, tf.shape(activations)[-1]])
    grams = tf.matmul(flat, flat, transpose_a=True)
    norms = tf.sqrt(tf.reduce_sum(tf.square(grams), axis=[1, 2], keepdims=True))
    return grams / (norms + 1e-12)


def diversity(grams, copies):
    """The mean pairwise cosine similarity of the Gram matrices within each group of `copies`
    consecutive images (the copies of one unit), `(N / copies,)`; 0 for one copy. Lower is
    more diverse; the diversity term subtracts it (weighted) from the objective."""
    groups = tf.reshape(grams, [-1, copies, tf.shape(grams)[1] * tf.shape(grams)[2]])
    similarity = tf.matmul(groups, groups, transpose_b=True)  # (units, copies, copies)
    if copies < 2:
        return tf.zeros(tf.shape(groups)[:1])
    off_diagonal = tf.reduce_sum(similarity, axis=[1, 2]) - tf.linalg.trace(similarity)
    return off_diagonal / (copies * (copies - 1))


def diversity_layer(net, layer, chosen=None):
    """The layer whose Gram matrices the diversity term compares: `chosen`, else `layer` if it
    has maps, else the last layer with maps before it (a classifier's last feature maps).

    Raises:
      DeconvError: `chosen` (or the layer found) has no maps.
    """
    if chosen:
        name = net.resolve(chosen)
        if len(net.step(name).shape) != 4:
            raise DeconvError(f"The diversity layer {chosen!r} has no feature maps; give a "
                              f"layer with maps (N, h, w, C).")
        return name
    name = net.resolve(layer)
    if len(net.step(name).shape) == 4:
        return name
    names = net.layer_names
    earlier = [other for other in names[:names.index(name)] if len(net.step(other).shape) == 4]
    if not earlier:
        raise DeconvError(f"Layer {layer!r} has no layer with feature maps before it for the "
                          f"diversity term.")
    return earlier[-1]


def weights_matrix(count, units, coefficients):
    """The `(1, count)` weights of a weighted sum of `units` with `coefficients` (1 each when
    None).

    Raises:
      DeconvError: as many coefficients as units are needed, each finite.
    """
    coefficients = [1.0] * len(units) if coefficients is None else list(coefficients)
    if len(coefficients) != len(units):
        raise DeconvError(f"A weighted sum needs one coefficient per unit: {len(units)} units, "
                          f"{len(coefficients)} coefficients.")
    if not all(np.isfinite(float(c)) for c in coefficients):
        raise DeconvError(f"Coefficients must be finite numbers; received {coefficients}.")
    weights = np.zeros((1, count), np.float32)
    weights[0, list(units)] = coefficients
    return weights


@dataclasses.dataclass(frozen=True)
class Targets:
    """What each image of a maximization raises: one unit each (`kind` "mean", "centre" or
    "logit"), or one weighted sum of `features` ("sum"); each in `copies` images (several
    copies are pushed apart by the diversity term). Images are ordered target by target,
    the copies of one target together.

    Attributes:
      features: map ids (checked by the caller).
      kind: see `reduce`.
      count: how many units the layer has.
      copies: images per target.
      coefficients: a weighted sum's coefficients (None: 1 each).
    """
    features: tuple
    kind: str
    count: int
    copies: int = 1
    coefficients: tuple = None

    @property
    def groups(self):
        """The targets: one per feature, or the one weighted sum, as tuples of its units."""
        return [tuple(self.features)] if self.kind == "sum" else [(f,) for f in self.features]

    def selection(self, groups):
        """The selection of the images of `groups` (a slice of `self.groups`)."""
        if self.kind == "sum":
            weights = weights_matrix(self.count, self.features, self.coefficients)
            return np.repeat(weights, self.copies * len(groups), axis=0)
        return np.repeat(np.asarray([g[0] for g in groups], np.int32), self.copies)

    def keys(self, groups):
        """Each image's key for its random start: `[unit]` for the first copy of one unit (as
        the pixel method always seeded it), `[unit, copy]` for the others, and the units of a
        weighted sum after a marker."""
        keys = []
        for group in groups:
            base = list(group) if self.kind != "sum" else [1 << 30, *group]
            keys.extend(base if copy == 0 else [*base, copy] for copy in range(self.copies))
        return keys


def ascent(values, grams, copies, weight):
    """What a step raises: the sum of every image's value (the images are independent, so its
    gradient is each image's own), less, per target, `weight` times its diversity term times
    the mean absolute value of its copies (held constant): the weight means the same on any
    network, whatever the scale of its activations."""
    total = tf.reduce_sum(values)
    if grams is None or copies < 2:
        return total
    scale = tf.stop_gradient(tf.reduce_mean(tf.abs(tf.reshape(values, [-1, copies])), axis=1))
    return total - weight * tf.reduce_sum(scale * diversity(grams, copies))
