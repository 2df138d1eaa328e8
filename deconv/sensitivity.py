"""Occlusion sensitivity: what happens to a feature map and to the class scores as a gray
square slides over the image.

For every position of the square, in batches: (a) the total activation of one feature map (by
default the strongest map of the unoccluded image); with a classifier, (b) the probability of
the correct (or, unknown, the top) class and (c) the most probable class.

Reference: Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks", ECCV 2014
(arXiv 1311.2901), section 4.2 and figure 7.
"""
import dataclasses
import json
import os

import numpy as np
import tensorflow as tf

from deconv import preprocessing
from deconv.errors import DeconvError

# The paper's gray: the ImageNet mean colour, which preprocessing maps to zero.
FILLS = {"gray": (123.68, 116.779, 103.939), "black": (0.0, 0.0, 0.0),
         "white": (255.0, 255.0, 255.0)}


def fill_color(fill, image):
    """Returns the RGB colour of the occluder: `gray` (the ImageNet mean), `black`, `white`,
    `mean` (the image's own mean colour), a value `128` or `r,g,b`."""
    if fill in FILLS:
        return np.array(FILLS[fill], np.float32)
    if fill == "mean":
        return np.asarray(image, np.float32).reshape(-1, 3).mean(axis=0)
    try:
        values = [float(v) for v in str(fill).split(",")]
    except ValueError:
        values = []
    if len(values) not in (1, 3) or not all(0 <= v <= 255 for v in values):
        raise DeconvError(f"Unknown fill {fill!r}: use gray, black, white, mean, a value in "
                          f"[0, 255] or r,g,b.")
    return np.array(values * (3 // len(values)), np.float32)


def grid(image_size, size, stride):
    """Returns `(tops, lefts)`: the square's positions, every `stride` pixels, the last flush
    with the image's far edge so every pixel is covered."""
    if size < 1 or stride < 1:
        raise DeconvError(f"size and stride must be at least 1; received {size} and {stride}.")
    if size > min(image_size):
        raise DeconvError(f"The occluder ({size} px) is larger than the image "
                          f"({image_size[0]}x{image_size[1]}).")
    axes = []
    for length in image_size:
        starts = list(range(0, length - size + 1, stride))
        if starts[-1] != length - size:
            starts.append(length - size)
        axes.append(np.array(starts))
    return axes[0], axes[1]


@dataclasses.dataclass
class Occlusion:
    """Scores for every position of the occluder, `(rows, columns)` arrays.

    Attributes:
      tops, lefts: the square's positions (pixels); `size`: its side.
      layer, feature: the feature map watched (None without one).
      feature_baseline: its total activation on the unoccluded image.
      feature_total: its total activation with the square at each position.
      target: the class watched (None without a classifier); `target_baseline`: its
        probability on the unoccluded image; `target_probability`: with the square.
      top_class, top_probability: the most probable class with the square, and its probability.
    """
    tops: np.ndarray
    lefts: np.ndarray
    size: int
    layer: str = None
    feature: int = None
    feature_baseline: float = None
    feature_total: np.ndarray = None
    target: int = None
    target_baseline: float = None
    target_probability: np.ndarray = None
    top_class: np.ndarray = None
    top_probability: np.ndarray = None


def _occluded(image, tops, lefts, size, color, batch_size):
    """Yields `(indices, images)`: batches of the image with the square pasted in."""
    positions = [(r, c) for r in range(len(tops)) for c in range(len(lefts))]
    for start in range(0, len(positions), batch_size):
        chunk = positions[start:start + batch_size]
        batch = np.repeat(image[None].astype(np.float32), len(chunk), axis=0)
        for i, (r, c) in enumerate(chunk):
            batch[i, tops[r]:tops[r] + size, lefts[c]:lefts[c] + size] = color
        yield chunk, batch


class _MapTotal:
    """Images -> the total activation of one map, per image (compiled)."""

    def __init__(self, activations, feature):
        self.activations, self.feature = activations, feature

    def __call__(self, images):
        return tf.reduce_sum(self.activations(images)[..., self.feature], axis=[1, 2])


class _Probabilities:
    """RGB images -> class probabilities, the classifier's preprocessing inside (compiled)."""

    def __init__(self, classifier, mode):
        self.classifier, self.preprocess = classifier, preprocessing.Preprocess(mode)

    def __call__(self, images):
        return self.classifier(self.preprocess(images), training=False)


_SPEC = [tf.TensorSpec([None, None, None, 3], tf.float32)]


def _feature_scorer(result, image, net, layer, feature):
    """Sets the feature part's baseline in `result`; returns its compiled scorer."""
    name = net.resolve(layer)
    baseline = net.activations(image[None], name)[0]
    if feature is None:
        feature = int(baseline.max(axis=(0, 1)).argmax())
    elif not 0 <= feature < baseline.shape[-1]:
        raise DeconvError(f"Feature {feature} is out of range for layer {layer!r}, which has "
                          f"{baseline.shape[-1]} feature maps.")
    result.layer, result.feature = name, int(feature)
    result.feature_baseline = float(baseline[..., feature].sum())
    return tf.function(_MapTotal(net.activations_graph(name), feature), input_signature=_SPEC)


def _class_scorer(result, image, classifier, target, mode):
    """Sets the class part's target and baseline in `result`; returns its compiled scorer."""
    scorer = tf.function(_Probabilities(classifier, mode), input_signature=_SPEC)
    probabilities = scorer(image[None]).numpy()[0]
    result.target = int(probabilities.argmax()) if target is None else int(target)
    if not 0 <= result.target < len(probabilities):
        raise DeconvError(f"Class {target} is out of range: the classifier has "
                          f"{len(probabilities)} classes.")
    result.target_baseline = float(probabilities[result.target])
    return scorer


def occlude(image, net=None, layer=None, feature=None, classifier=None, target=None, size=50,
            stride=8, fill="gray", batch_size=16, classifier_preprocessing=None,
            progress=None):
    """Slides an occluder over `image` and scores every position.

    Args:
      image: RGB `(H, W, 3)` in [0, 255].
      net, layer, feature: the `Deconvnet`, the layer (default: its last conv layer) and the
        map to watch (default: the map with the largest activation in the unoccluded image).
        Without `net`, no feature part.
      classifier: a Keras model from preprocessed images to class probabilities (e.g.
        `deconv.models.load_classifier`), or None. `target`: the correct class (default: the
        top class of the unoccluded image).
      size, stride: the square's side and step, in pixels. `fill`: see `fill_color`.
      batch_size: occluded images per forward batch.
      classifier_preprocessing: the classifier's input preprocessing mode (see
        `deconv.preprocessing.MODES`); default: `net`'s, or `caffe` (that of
        `deconv.models.load_classifier`'s VGGs) without `net`.
      progress: called with the number of positions done after each batch.

    Returns:
      An `Occlusion`.
    """
    if net is None and classifier is None:
        raise DeconvError("occlude needs a feature map to watch (net, layer) or a classifier.")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise DeconvError(f"batch_size must be an integer of at least 1; received {batch_size!r}.")
    image = np.asarray(image, np.float32)
    tops, lefts = grid(image.shape[:2], size, stride)
    color = fill_color(fill, image)
    result = Occlusion(tops, lefts, size)
    shape = (len(tops), len(lefts))
    if classifier_preprocessing is None:
        classifier_preprocessing = net.preprocessing.name if net is not None else "caffe"
    classifier_preprocessing = preprocessing.get(classifier_preprocessing).name
    if net is not None:
        layer = net.conv_layers[-1] if layer is None else layer
        features = _feature_scorer(result, image, net, layer, feature)
        result.feature_total = np.zeros(shape, np.float32)
    if classifier is not None:
        classes = _class_scorer(result, image, classifier, target, classifier_preprocessing)
        result.target_probability = np.zeros(shape, np.float32)
        result.top_class = np.zeros(shape, np.int32)
        result.top_probability = np.zeros(shape, np.float32)
    done = 0
    for chunk, batch in _occluded(image, tops, lefts, size, color, batch_size):
        where = tuple(np.array(axis) for axis in zip(*chunk))
        if net is not None:
            result.feature_total[where] = features(batch).numpy()
        if classifier is not None:
            probabilities = classes(batch).numpy()
            result.target_probability[where] = probabilities[:, result.target]
            result.top_class[where] = probabilities.argmax(axis=1)
            result.top_probability[where] = probabilities.max(axis=1)
        done += len(chunk)
        if progress is not None:
            progress(done)
    return result


def to_pixels(values, result, image_size):
    """Spreads a `(rows, columns)` score array over the image: each pixel takes the score of the
    position whose square's centre is nearest (for overlays)."""
    centres_y = result.tops + result.size / 2
    centres_x = result.lefts + result.size / 2
    rows = np.abs(np.arange(image_size[0])[:, None] + 0.5 - centres_y[None]).argmin(axis=1)
    columns = np.abs(np.arange(image_size[1])[:, None] + 0.5 - centres_x[None]).argmin(axis=1)
    return values[rows[:, None], columns[None, :]]


def imagenet_classes():
    """Returns the 1,000 ImageNet classes `[wordnet id, short name, all names]`, in index order
    (shipped with the package: Keras fetches its class index at run time, which fails offline)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data",
                        "imagenet_classes.json")
    with open(path, encoding="utf-8") as stream:
        return json.load(stream)["classes"]


def class_name(class_names, index, unknown=None):
    """The name of class `index`, or `unknown` without names."""
    return class_names[index] if class_names and 0 <= index < len(class_names) else unknown


def summary(result, class_names=None, **extra):
    """Returns a JSON-ready summary of an `Occlusion` (the arrays go to .npy files)."""
    def name(c):
        return class_name(class_names, c)

    content = {**extra, "size": result.size, "tops": result.tops.tolist(),
               "lefts": result.lefts.tolist()}
    if result.feature_total is not None:
        content["feature"] = {
            "layer": result.layer, "map": result.feature, "unoccluded": result.feature_baseline,
            "min": float(result.feature_total.min()), "max": float(result.feature_total.max())}
    if result.target_probability is not None:
        ids, counts = np.unique(result.top_class, return_counts=True)
        content["classes"] = {
            "target": result.target, "target_name": name(result.target),
            "unoccluded_probability": result.target_baseline,
            "lowest_probability": float(result.target_probability.min()),
            "top_classes": [{"class": int(c), "name": name(int(c)), "positions": int(n)}
                            for c, n in sorted(zip(ids, counts), key=lambda p: -p[1])]}
    return content
