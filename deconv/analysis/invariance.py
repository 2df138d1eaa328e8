"""Invariance curves: how far a layer's feature vector moves as an image is translated, rescaled
or rotated by growing amounts, and, with a classifier, how the true class's probability holds.

For each image x and amount a: the normalised Euclidean distance
`||f(x) - f(T_a x)|| / ||f(x)||` between the layer's feature vectors (its whole output,
flattened) of the original and the transformed image; with a classifier, `p(class | T_a x)`.

Reference: Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks", ECCV 2014
(arXiv 1311.2901), section 4.2 and figure 5.
"""
import dataclasses

import keras
import numpy as np

from deconv.analysis import features as features_lib
from deconv.analysis import occlusion
from deconv.core import checks
from deconv.core import names
from deconv.errors import DeconvError

KINDS = ("translate", "scale", "rotate")
# The paper's ranges (figure 5): vertical shifts of -60 to 60 pixels, scales 1 to 1.8, rotations
# all the way round.
DEFAULT_AMOUNTS = {"translate": tuple(range(-60, 61, 10)),
                   "scale": tuple(round(1 + 0.1 * i, 1) for i in range(9)),
                   "rotate": tuple(range(0, 360, 10))}
UNITS = {"translate": "pixels", "scale": "ratio", "rotate": "degrees"}
AXES = ("vertical", "horizontal")
# Fills that continue the image instead of painting a colour (Keras's affine fill modes).
EDGE_FILLS = ("reflect", "wrap", "nearest")


@dataclasses.dataclass(frozen=True)
class Transform:
    """What is done to the images.

    Attributes:
      kind: `"translate"` (pixels; down or right for positive amounts), `"scale"` (a zoom about
        the centre: 2 doubles the size) or `"rotate"` (degrees, counter-clockwise about the
        centre).
      amounts: the amounts, in order; None: the paper's range (`DEFAULT_AMOUNTS`).
      fill: what fills the places no pixel moves to: a colour as the occluder's
        (`gray`, the ImageNet mean, `black`, `white`, `mean`, `r,g,b`), or `reflect`, `wrap`
        (circular: a translation by whole pixels is then a circular shift) or `nearest`.
      axis: a translation's direction: `"vertical"` (the paper's) or `"horizontal"`.
    """
    kind: str = "translate"
    amounts: tuple = None
    fill: str = "gray"
    axis: str = "vertical"

    def checked(self):
        """Returns the transform with its amounts, checked; raises DeconvError."""
        if self.kind not in KINDS:
            raise DeconvError(f"Unknown transform {self.kind!r}. Valid: {', '.join(KINDS)}.")
        if self.axis not in AXES:
            raise DeconvError(f"Unknown axis {self.axis!r}. Valid: {', '.join(AXES)}.")
        amounts = DEFAULT_AMOUNTS[self.kind] if self.amounts is None else self.amounts
        amounts = tuple(float(a) for a in np.atleast_1d(np.asarray(amounts, np.float64)))
        if not amounts or not all(np.isfinite(amounts)):
            raise DeconvError(f"The {self.kind} amounts must be finite numbers; received "
                              f"{self.amounts!r}.")
        if self.kind == "scale" and min(amounts) <= 0:
            raise DeconvError(f"Scales must be positive ratios (1: unchanged); received "
                              f"{min(amounts):g}.")
        if self.fill not in EDGE_FILLS:
            occlusion.fill_color(self.fill, np.zeros((1, 1, 3)))
        return dataclasses.replace(self, amounts=amounts)


def _matrix(transform, amount, height, width):
    """Keras's affine transform (output pixel -> input pixel) of one amount."""
    cy, cx = (height - 1) / 2, (width - 1) / 2
    if transform.kind == "translate":
        dy, dx = (amount, 0.0) if transform.axis == "vertical" else (0.0, amount)
        return [1.0, 0.0, -dx, 0.0, 1.0, -dy, 0.0, 0.0]
    if transform.kind == "scale":
        k = 1.0 / amount
        return [k, 0.0, cx * (1 - k), 0.0, k, cy * (1 - k), 0.0, 0.0]
    cos, sin = np.cos(np.deg2rad(amount)), np.sin(np.deg2rad(amount))
    return [cos, -sin, cx - cos * cx + sin * cy, sin, cos, cy - sin * cx - cos * cy, 0.0, 0.0]


def _shift(image, amount, axis, fill, colour):
    """A whole-pixel translation along `axis` (0: down, 1: right), exact: pixels are copied."""
    if fill == "wrap":
        return np.roll(image, amount, axis=axis)
    size, step = image.shape[axis], abs(amount)
    if fill in EDGE_FILLS:
        widths = [(0, 0)] * 3
        widths[axis] = (step, 0) if amount > 0 else (0, step)
        padded = np.pad(image, widths, mode={"reflect": "symmetric", "nearest": "edge"}[fill])
        start = 0 if amount > 0 else step
        return np.take(padded, np.arange(start, start + size), axis=axis)
    out = np.broadcast_to(colour, image.shape).copy()
    kept = np.arange(max(0, -amount), min(size, size - amount))
    out.swapaxes(0, axis)[kept + amount] = image.swapaxes(0, axis)[kept]
    return out


def transformed(image, transform):
    """Returns `(A, H, W, 3)` float32: the image at each of the transform's amounts.

    Whole-pixel translations copy pixels (exact, whatever the fill); other amounts are sampled
    bilinearly with Keras's affine transform (amount 0, or a scale of 1, gives the image).
    """
    transform = transform.checked()
    image = np.asarray(image, np.float32)
    colour = None if transform.fill in EDGE_FILLS else occlusion.fill_color(transform.fill, image)
    out = np.zeros((len(transform.amounts), *image.shape), np.float32)
    sampled = []
    for number, amount in enumerate(transform.amounts):
        if transform.kind == "translate" and float(amount).is_integer():
            out[number] = _shift(image, int(amount), AXES.index(transform.axis), transform.fill,
                                 colour)
        else:
            sampled.append(number)
    if sampled:
        out[sampled] = _sample(image, transform, [transform.amounts[i] for i in sampled], colour)
    return out


def _sample(image, transform, amounts, colour):
    """The image at `amounts`, bilinearly, filled with `colour` or by the edge fill mode."""
    height, width = image.shape[:2]
    matrices = np.array([_matrix(transform, a, height, width) for a in amounts], np.float32)
    copies = np.repeat(image[None], len(matrices), axis=0)

    def move(pixels, mode):
        return keras.ops.convert_to_numpy(keras.ops.image.affine_transform(
            pixels, matrices, interpolation="bilinear", fill_mode=mode, fill_value=0))

    if colour is None:
        return move(copies, transform.fill)
    covered = move(np.ones_like(copies[..., :1]), "constant")
    return move(copies, "constant") + (1 - covered) * colour


@dataclasses.dataclass
class Invariance:
    """Distances and probabilities, `(images, amounts)` arrays.

    Attributes:
      transform: the checked `Transform` (its `amounts` are the columns).
      layers: the layers' names in the model.
      distances: `{layer: (N, A)}` `||f(x) - f(T x)|| / ||f(x)||` (NaN where `f(x)` is 0).
      raw_distances: `{layer: (N, A)}` `||f(x) - f(T x)||`; `norms`: `{layer: (N,)}` `||f(x)||`.
      pool: how maps became vectors (see `features.POOLS`).
      targets: `(N,)` the true classes (given, or each original's top class); None without a
        classifier. `original_probability`: `(N,)` their probability on the original images.
      probability: `(N, A)` the true class's probability; `top_class`: `(N, A)` the most
        probable class.
    """
    transform: Transform
    layers: list
    distances: dict
    raw_distances: dict
    norms: dict
    targets: np.ndarray = None
    original_probability: np.ndarray = None
    probability: np.ndarray = None
    top_class: np.ndarray = None
    pool: str = "none"


def _check_labels(labels, count, classes):
    labels = np.atleast_1d(np.asarray(labels))
    return checks.ids(labels, (count,), classes,
                      lambda _: f"labels must be one class id per image ({count}); received "
                                f"{labels.tolist()!r}.",
                      lambda bad: f"Class {bad} is out of range: the classifier has {classes} "
                                  f"classes (valid: 0 to {classes - 1}).").astype(labels.dtype)


def _feature_models(net, layers, classifier, classifier_preprocessing, pool):
    """`(net's FeatureModel or None, classifier's or None, layer names in order)`: a layer
    the net's model lacks but the classifier has (VGG's fc2) is read from the classifier, whose
    last output comes last."""
    layers = features_lib.default_layers(net) if layers is None else (
        [layers] if isinstance(layers, str) else list(layers))
    theirs = [layer for layer in layers if classifier is not None
              and features_lib.find_layer(net, layer) is None
              and features_lib.find_layer(classifier, layer) is not None]
    own = [layer for layer in layers if layer not in theirs]
    features = (features_lib.FeatureModel(net, own, pool=pool)
                if own or classifier is None else None)
    if classifier_preprocessing is None:
        classifier_preprocessing = net.preprocessing.name
    classes = None if classifier is None else features_lib.FeatureModel(
        classifier, [*theirs, classifier.layers[-1].name], classifier_preprocessing,
        "classifier", pool)
    resolved = [features.layers[own.index(layer)] if layer in own
                else classes.layers[theirs.index(layer)] for layer in layers]
    return features, classes, resolved


def invariance_curves(net, layers, images, *, transform=Transform(), classifier=None,
                      labels=None, pool="none", classifier_preprocessing=None, batch_size=16,
                      progress=None):
    """Measures how each layer's feature vector and the true class's probability change as
    `images` are transformed by growing amounts.

    Args:
      net: a `Deconvnet` of any Keras model with one image input (features come from a plain
        forward pass of its model, with its preprocessing, so global pooling, dense layers and
        branches are fine).
      layers: a layer name or a list; None: the first and the last convolutional layer. With a
        classifier, a layer the net's model lacks is read from the classifier (VGG's `fc2`, the
        paper's layer 7).
      images: RGB `(N, H, W, 3)` in [0, 255].
      transform: a `Transform` (kind, amounts, fill, axis).
      classifier: a Keras model from preprocessed images to class probabilities (e.g.
        `deconv.models.loading.load_classifier`), or None; `labels`: the true class of each
        image (default: each original image's top class).
      pool: `"none"`: a layer's whole output is its feature vector (the paper's); `"max"` or
        `"mean"`: each map's maximum or mean over its positions (see `features.POOLS`).
      classifier_preprocessing: the classifier's input preprocessing (default: the net's).
      batch_size: transformed images per forward batch.
      progress: called with the number of images done.

    Returns:
      An `Invariance`.
    """
    features_lib.require_net(net, "invariance_curves")
    features, classes, names_ = _feature_models(net, layers, classifier,
                                                classifier_preprocessing, pool)
    images = (features or classes).check(images)
    if features is not None and classes is not None:
        classes.check(images[:1])
    transform = transform.checked()
    checks.batch_size(batch_size)
    if classes is not None and labels is not None:
        labels = _check_labels(labels, len(images), int(np.prod(classifier.output_shape[1:])))
    shape = (len(images), len(transform.amounts))
    result = Invariance(transform, names_, _zeros(names_, shape), _zeros(names_, shape),
                        _zeros(names_, len(images)), pool=pool)
    if classes is not None:
        result.targets = np.zeros(len(images), int)
        result.original_probability = np.zeros(len(images), np.float32)
        result.probability, result.top_class = np.zeros(shape, np.float32), np.zeros(shape, int)
    for number, image in enumerate(images):
        _one_image(result, number, image, (features, classes), batch_size,
                   None if labels is None else labels[number])
        if progress is not None:
            progress(number + 1)
    return result


def _vectors(models, images, batch_size):
    """`{layer: (n, D)}` from the model's and the classifier's `FeatureModel`s."""
    found = {}
    for model in models:
        if model is not None:
            found.update(model(images, batch_size))
    return found


def _one_image(result, number, image, models, batch_size, label):
    """Fills one image's row, a batch of transformed images at a time (a low layer's vectors
    are large: conv1_2 of a 224x224 image holds 3.2 million values)."""
    original = _vectors(models, image[None], batch_size)
    classes = models[1]
    if classes is not None:
        probabilities = original[classes.layers[-1]][0]
        result.targets[number] = target = (int(probabilities.argmax()) if label is None
                                           else int(label))
        result.original_probability[number] = probabilities[target]
    for layer in result.layers:
        result.norms[layer][number] = np.sqrt(_squares(original[layer]))[0]
    moved = transformed(image, result.transform)
    for start in range(0, len(moved), batch_size):
        found = _vectors(models, moved[start:start + batch_size], batch_size)
        where = (number, slice(start, start + batch_size))
        for layer in result.layers:
            result.raw_distances[layer][where] = np.sqrt(_squares(found[layer]
                                                                  - original[layer]))
        if classes is not None:
            probabilities = found[classes.layers[-1]]
            result.probability[where] = probabilities[:, result.targets[number]]
            result.top_class[where] = probabilities.argmax(axis=1)
    for layer in result.layers:
        norm = result.norms[layer][number]
        result.distances[layer][number] = (result.raw_distances[layer][number] / norm
                                           if norm > 0 else np.nan)


def _squares(vectors):
    """Each row's sum of squares, accumulated in float64."""
    return np.einsum("ij,ij->i", vectors, vectors, dtype=np.float64)


def _zeros(layers, shape):
    return {layer: np.zeros(shape, np.float32) for layer in layers}


def summary(result, image_names, class_names=None, **extra):
    """Returns an `Invariance` as a JSON-ready dict (NaN distances become null)."""
    def listed(array):
        return [[None if np.isnan(v) else round(float(v), 6) for v in row] for row in array]

    content = {**extra, "pool": result.pool,
               "transform": {**dataclasses.asdict(result.transform),
                             "unit": UNITS[result.transform.kind]},
               "images": list(image_names),
               "layers": {names.short(layer): {"distance": listed(result.distances[layer]),
                                  "raw_distance": listed(result.raw_distances[layer]),
                                  "norm": [float(v) for v in result.norms[layer]]}
                          for layer in result.layers}}
    if result.targets is not None:
        content["classes"] = {
            "target": result.targets.tolist(),
            "target_name": [None if class_names is None else class_names[t]
                            for t in result.targets],
            "original_probability": [float(p) for p in result.original_probability],
            "probability": listed(result.probability), "top_class": result.top_class.tolist()}
    return content


def x_label(transform):
    """The plots' x-axis label, e.g. "vertical translation (pixels)"."""
    kind = {"translate": f"{transform.axis} translation", "scale": "scale",
            "rotate": "rotation"}[transform.kind]
    return f"{kind} ({UNITS[transform.kind]})"
