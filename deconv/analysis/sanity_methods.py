"""The saliency maps a sanity check compares: for one unit per image (a class logit, or one
activation of a layer's map), five methods, each a signed map over the pixels `(N, H, W)`.

- `deconvnet`: the deconvnet projection (Zeiler & Fergus 2014), as `Deconvnet.project` draws it
  (seeded with the unit's value), divided by that value's magnitude; summed over the colours.
- `guided`: the same with guided backpropagation's rule (Springenberg et al. 2015).
- `gradient`: the unit's gradient with respect to the RGB pixels (Simonyan et al. 2014).
- `gradient_x_input`: the gradient with respect to the model's input times that input
  (Shrikumar et al. 2016), i.e. the pixel gradient times the pixels less the preprocessing's mean.
- `occlusion`: `deconv.occlude`'s square slid over the image; the unit's drop at each position,
  spread over the pixels (Zeiler & Fergus 2014, section 4.2).

Every map is batched and compiled: one call per method for all images (occlusion: one batched
pass per image), with the model's current weights (a randomised model's, in a sanity check).
"""
import dataclasses

import numpy as np
import tensorflow as tf

from deconv.analysis import occlusion
from deconv.core import checks
from deconv.core import compiled
from deconv.core.deconvnet import Deconvnet
from deconv.core.rules.linear import LogitsRule
from deconv.errors import DeconvError

METHODS = ("deconvnet", "guided", "gradient", "gradient_x_input", "occlusion")


@dataclasses.dataclass(frozen=True)
class Method:
    """A saliency method of one's own: `compute(explainer, images, target)` returns maps
    `(N, H, W)` or `(N, H, W, 3)` (summed over the colours)."""
    name: str
    compute: object


@dataclasses.dataclass(frozen=True)
class Target:
    """The unit explained in each image.

    Attributes:
      layer: the layer's Keras name; `logits`: whether it is a softmax classifier's (the unit
        is a class logit).
      features: `(N,)` the class, or the map, per image.
      positions: `(N, 2)` `(y, x)` in the maps (zeros for logits).
      flat: `(N,)` the unit's index in the layer's output flattened per image.
    """
    layer: str
    logits: bool
    features: np.ndarray
    positions: np.ndarray
    flat: np.ndarray


def is_logits(net, layer):
    """Whether `layer` is a softmax classifier's output, projected from its logits."""
    return isinstance(net.step(layer).rule, LogitsRule)


def logits_layer(net):
    """The classifier's softmax layer (the last, if several), whose class logits are explained
    when no layer is given.

    Raises:
      DeconvError: the model has no softmax classifier.
    """
    found = [name for name in net.layer_names if is_logits(net, name)]
    if not found:
        raise DeconvError("The model has no softmax classifier: give --layer (a layer with "
                          "maps), or --include_top for an application's classifier.")
    return found[-1]


def _per_image(values, count, what):
    values = np.atleast_1d(np.asarray(values))
    if values.shape == (1,):
        values = np.repeat(values, count)
    if values.shape != (count,):
        raise DeconvError(f"{what}: give one for all images or one per image ({count}); "
                          f"received {values.size}.")
    return values


def choose_target(net, layer, images, feature=None, position=None):
    """The unit explained per image: for logits, class `feature` (default: each image's top
    class); for a layer with maps, map `feature` (default: each image's map with the largest
    activation) at `position` (default: that map's maximum in the image).

    Raises:
      DeconvError: an unknown layer, or a feature or position out of range.
    """
    name = net.resolve(layer)
    outputs = net.activations(images, name)
    count = len(images)
    if is_logits(net, name):
        if position is not None:
            raise DeconvError("position applies to a layer with maps, not to class logits.")
        classes = outputs.argmax(axis=1) if feature is None else _per_image(
            checks.features(feature, name, outputs.shape[1]), count, "feature")
        classes = classes.astype(np.int32)
        return Target(name, True, classes, np.zeros((count, 2), np.int32), classes)
    height, width, channels = outputs.shape[1:]
    maps = outputs.max(axis=(1, 2)).argmax(axis=1) if feature is None else _per_image(
        checks.features(feature, name, channels), count, "feature")
    maps = maps.astype(np.int32)
    chosen = outputs[np.arange(count), :, :, maps].reshape(count, -1)
    if position is None:
        strongest = chosen.argmax(axis=1)
        positions = np.stack([strongest // width, strongest % width], axis=1).astype(np.int32)
    else:
        positions = checks.positions(position, count, name, images.shape[1:3], (height, width))
        if (positions < 0).any():
            raise DeconvError("position (-1, -1) is not a fixed unit: give (y, x), or None for "
                              "each image's maximum.")
    flat = (positions[:, 0] * width + positions[:, 1]) * channels + maps
    return Target(name, False, maps, positions, flat.astype(np.int32))


class _Gradient:
    """`(images, flat) -> (pixel gradients, units)`: each image's unit `flat[i]` of the layer's
    flattened output, and its gradient with respect to the RGB pixels."""

    def __init__(self, activations):
        self.activations = activations

    def __call__(self, images, flat):
        with tf.GradientTape() as tape:
            tape.watch(images)
            outputs = tf.reshape(self.activations(images), [tf.shape(images)[0], -1])
            units = tf.gather(outputs, flat, batch_dims=1)
        return tape.gradient(units, images), units


class _Flat:
    """`images -> (N, units)`: the layer's output flattened per image."""

    def __init__(self, activations):
        self.activations = activations

    def __call__(self, images):
        return tf.reshape(self.activations(images), [tf.shape(images)[0], -1])


class _Units:
    """`images -> (N, units)`: the layer's output flattened, for `deconv.occlude` (which calls it
    as a classifier, `training=False`)."""

    def __init__(self, function):
        self.function = function

    def __call__(self, images, training=False):
        return self.function(images)


class Explainer:
    """Computes each method's maps for one layer of `net`'s model (its current weights).

    Args:
      net: a `deconv.Deconvnet` (either rule; the other rule's net is made on the same model).
      layer: the layer explained.
      occluder: the `deconv.Occluder` of the occlusion maps.
      batch_size: images per compiled call (occluded images per call).
    """

    def __init__(self, net, layer, occluder, batch_size=16):
        self.net, self.layer = net, net.resolve(layer)
        self.occluder, self.batch_size = occluder, batch_size
        self.nets = {net.relu_rule: net}
        other = "guided" if net.relu_rule == "deconvnet" else "deconvnet"
        self.nets[other] = net.cached(("sanity_net", other), lambda: Deconvnet(
            net.model, net.preprocessing, other))  # built once per net: its graphs too
        spec = net.preprocessing
        self.mean = np.array(spec.mean[::-1] if spec.bgr else spec.mean, np.float32)
        activations = net.activations_graph(self.layer)
        self.gradient_fn = net.cached(("sanity_gradient", self.layer), lambda: tf.function(
            _Gradient(activations), input_signature=[compiled.IMAGES,
                                                     tf.TensorSpec([None], tf.int32)]))
        self.units_fn = net.cached(("sanity_units", self.layer), lambda: tf.function(
            _Flat(activations), input_signature=[compiled.IMAGES]))

    def units(self, images, target):
        """The explained unit's value in each image, `(N,)`."""
        values = np.concatenate([self.units_fn(images[i:i + self.batch_size]).numpy()
                                 for i in range(0, len(images), self.batch_size)])
        return values[np.arange(len(images)), target.flat]

    def maps(self, method, images, target):
        """`method`'s maps `(N, H, W)` float32 for `images` (float32 RGB in [0, 255])."""
        if isinstance(method, Method):
            found = np.asarray(method.compute(self, images, target), np.float32)
            return found.sum(axis=-1) if found.ndim == 4 else found
        if method in ("deconvnet", "guided"):
            return self.projection(self.nets[method], images, target)
        if method in ("gradient", "gradient_x_input"):
            return self.gradients(images, target)[method]
        if method == "occlusion":
            return np.stack([self.occlusion(image, unit) for image, unit in
                             zip(images, target.flat)])
        raise DeconvError(f"Unknown method {method!r}. Valid: {', '.join(METHODS)}, or a "
                          f"deconv.analysis.sanity_methods.Method.")

    def projection(self, net, images, target):
        """A rule's projection of each image's unit, over its value's magnitude, summed over the
        colours (a zero unit projects nothing: a zero map)."""
        found = net.project_details(images, self.layer, target.features,
                                    None if target.logits else target.positions,
                                    batch_size=self.batch_size)
        magnitudes = np.abs(found.values.astype(np.float32))
        return found.reconstructions.sum(axis=-1) / np.where(
            magnitudes > 0, magnitudes, 1.0)[:, None, None]

    def gradients(self, images, target):
        """`{"gradient", "gradient_x_input"}` maps, from one compiled pass per batch."""
        parts = [self.gradient_fn(images[i:i + self.batch_size],
                                  target.flat[i:i + self.batch_size])[0].numpy()
                 for i in range(0, len(images), self.batch_size)]
        pixels = np.concatenate(parts)
        return {"gradient": pixels.sum(axis=-1),
                "gradient_x_input": (pixels * (images - self.mean)).sum(axis=-1)}

    def occlusion(self, image, unit):
        """The unit's drop with the occluder at each position, spread over the pixels."""
        found = occlusion.occlude(self.net, self.layer, image, feature_part=False,
                                  classifier=_Units(self.units_fn), target=int(unit),
                                  occluder=self.occluder, batch_size=self.batch_size,
                                  classifier_preprocessing="none")
        drop = found.target_baseline - found.target_probability
        return occlusion.to_pixels(drop, found, image.shape[:2]).astype(np.float32)
