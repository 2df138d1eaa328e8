"""Occlusion sensitivity: what happens to a feature map and to the class scores as a gray
square slides over the image.

For every position of the square, in batches: (a) the total activation of one feature map (by
default the strongest map of the unoccluded image); with a classifier, (b) the probability of
the correct (or, unknown, the top) class and (c) the most probable class.

Reference: Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks", ECCV 2014
(arXiv 1311.2901), section 4.2 and figure 7.
"""
import dataclasses

import numpy as np
import tensorflow as tf

from deconv import limits
from deconv.analysis import features as features_lib
from deconv.core import checks
from deconv.core import compiled
from deconv.core import names
from deconv.core import selection
from deconv.core import preprocessing as preprocessing_lib
from deconv.errors import DeconvError
from deconv.io import outputs
from deconv.io import render
from deconv.models import classes as class_names_lib

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
    checks.integer("The occluder's size", size)
    checks.integer("The occluder's stride", stride)
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
        maps = selection.as_maps(self.activations(images))  # logits: 1x1 maps
        return tf.reduce_sum(maps[..., self.feature], axis=[1, 2])


class _Probabilities:
    """RGB images -> class probabilities, the classifier's preprocessing inside (compiled)."""

    def __init__(self, classifier, preprocessing):
        self.classifier = classifier
        self.preprocess = preprocessing_lib.Preprocess(preprocessing)

    def __call__(self, images):
        return self.classifier(self.preprocess(images), training=False)




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
    return tf.function(_MapTotal(net.activations_graph(name), feature),
                       input_signature=[compiled.IMAGES])


def _class_scorer(result, image, classifier, target, preprocessing):
    """Sets the class part's target and baseline in `result`; returns its compiled scorer."""
    scorer = tf.function(_Probabilities(classifier, preprocessing),
                         input_signature=[compiled.IMAGES])
    probabilities = scorer(image[None]).numpy()[0]
    result.target = int(probabilities.argmax()) if target is None else int(target)
    if not 0 <= result.target < len(probabilities):
        raise DeconvError(f"Class {target} is out of range: the classifier has "
                          f"{len(probabilities)} classes.")
    result.target_baseline = float(probabilities[result.target])
    return scorer


@dataclasses.dataclass(frozen=True)
class Occluder:
    """The square slid over the image: its side and step in pixels, and its colour (see
    `fill_color`)."""
    size: int = 50
    stride: int = 8
    fill: str = "gray"


def occlude(net, layer, image, *, feature=None, feature_part=True, classifier=None,
            target=None, occluder=Occluder(), batch_size=16, classifier_preprocessing=None,
            progress=None):
    """Slides an occluder over `image` and scores every position.

    Args:
      net, layer: the `Deconvnet` and the layer whose map is watched (default: its last conv
        layer).
      image: RGB `(H, W, 3)` in [0, 255].
      feature: the map to watch (default: the map with the largest activation in the
        unoccluded image).
      feature_part: whether to watch the map (the feature part); False: the class part alone
        (a classifier needed; `layer` and `feature` unused).
      classifier: a Keras model from preprocessed images to class probabilities (e.g.
        `deconv.models.loading.load_classifier`), or None. `target`: the correct class
        (default: the top class of the unoccluded image).
      occluder: an `Occluder`: the square's side, step and colour.
      batch_size: occluded images per forward batch.
      classifier_preprocessing: the name of the classifier's input preprocessing (see
        `deconv.core.preprocessing.SCHEMES`); default: `net`'s.
      progress: called with the number of positions done after each batch.

    Returns:
      An `Occlusion`.
    """
    features_lib.require_net(net, "occlude")
    if not feature_part and classifier is None:
        raise DeconvError("occlude needs a feature map to watch (feature_part) or a classifier.")
    limits.check("batch_size", batch_size)
    image = np.asarray(image, np.float32)
    tops, lefts = grid(image.shape[:2], occluder.size, occluder.stride)
    batch_size = min(batch_size, len(tops) * len(lefts))  # no batch larger than the positions
    limits.check_batch_pixels(batch_size, *image.shape[:2])
    color = fill_color(occluder.fill, image)
    result = Occlusion(tops, lefts, occluder.size)
    shape = (len(tops), len(lefts))
    if classifier_preprocessing is None:
        classifier_preprocessing = net.preprocessing.name
    classifier_preprocessing = preprocessing_lib.get(classifier_preprocessing).name
    if feature_part:
        layer = net.conv_layers[-1] if layer is None else layer
        features = _feature_scorer(result, image, net, layer, feature)
        result.feature_total = np.zeros(shape, np.float32)
    if classifier is not None:
        classes = _class_scorer(result, image, classifier, target, classifier_preprocessing)
        result.target_probability = np.zeros(shape, np.float32)
        result.top_class = np.zeros(shape, np.int32)
        result.top_probability = np.zeros(shape, np.float32)
    done = 0
    for chunk, batch in _occluded(image, tops, lefts, occluder.size, color, batch_size):
        where = tuple(np.array(axis) for axis in zip(*chunk))
        if feature_part:
            result.feature_total[where] = features(batch).numpy()
        if classifier is not None:
            _record_classes(result, where, classes(batch).numpy())
        done += len(chunk)
        if progress is not None:
            progress(done)
    return result


def _record_classes(result, where, probabilities):
    result.target_probability[where] = probabilities[:, result.target]
    result.top_class[where] = probabilities.argmax(axis=1)
    result.top_probability[where] = probabilities.max(axis=1)


def to_pixels(values, result, image_size):
    """Spreads a `(rows, columns)` score array over the image: each pixel takes the score of the
    position whose square's centre is nearest (for overlays)."""
    centres_y = result.tops + result.size / 2
    centres_x = result.lefts + result.size / 2
    rows = np.abs(np.arange(image_size[0])[:, None] + 0.5 - centres_y[None]).argmin(axis=1)
    columns = np.abs(np.arange(image_size[1])[:, None] + 0.5 - centres_x[None]).argmin(axis=1)
    return values[rows[:, None], columns[None, :]]


def summary(result, class_names=None, **extra):
    """Returns a JSON-ready summary of an `Occlusion` (the arrays go to .npy files)."""
    def name(c):
        return class_names_lib.class_name(class_names, c)

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


def _save(out, kind, picture, array):
    outputs.write_png(f"{out}_{kind}.png", picture)
    outputs.write_npy(f"{out}_{kind}.npy", array)
    return f"{out}_{kind}.png"


def _write_class_maps(out, image, result, class_names):
    def name(c):
        return class_names_lib.class_name(class_names, c, f"class {c}")

    heat = to_pixels(result.target_probability, result, image.shape[:2])
    picture = render.with_colour_bar(render.overlay(image, heat, low=0.0, high=1.0), 0.0, 1.0,
                                     f"p({name(result.target)}), unoccluded "
                                     f"{result.target_baseline:.3f}")
    written = {"probability": _save(out, "probability", picture, result.target_probability)}
    classes = to_pixels(result.top_class, result, image.shape[:2])
    written["top_class"] = _save(out, "top_class", render.top_class_map(image, classes, name),
                                 result.top_class)
    outputs.write_npy(f"{out}_top_probability.npy", result.top_probability)
    return written


def files(out, classes=True):
    """The paths `write(out, ...)` may write (with `classes`: the class part's too)."""
    kinds = ["feature"] + (["probability", "top_class"] if classes else [])
    return [f"{out}.json", f"{out}_top_probability.npy"] + [
        f"{out}_{kind}{ext}" for kind in kinds for ext in (".png", ".npy")]


def write(out, image, result, described, class_names=None):
    """Writes an `Occlusion`'s pictures, arrays and summary, atomically.

    Files: `{out}_feature.png` (the watched map's total activation as a heat map over the image,
    with a colour bar), and with a classifier `{out}_probability.png` and `{out}_top_class.png`;
    the score arrays as `.npy`; `{out}.json`, the `summary` with the dict `described` first.

    Args:
      out: the path prefix of every file.
      image: the RGB uint8 image occluded.
      result: the `Occlusion`.
      class_names: class names for the pictures and the summary, or None.

    Returns:
      `{kind: path}` of the pictures written, the summary's under "summary".
    """
    written = {}
    if result.feature_total is not None:
        heat = to_pixels(result.feature_total, result, image.shape[:2])
        low, high = float(result.feature_total.min()), float(result.feature_total.max())
        picture = render.with_colour_bar(render.overlay(image, heat), low, high,
                                         f"{names.short(result.layer)} map {result.feature}: "
                                         f"total activation (unoccluded "
                                         f"{result.feature_baseline:.4g})")
        written["feature"] = _save(out, "feature", picture, result.feature_total)
    if result.target_probability is not None:
        written.update(_write_class_maps(out, image, result, class_names))
    outputs.write_json(f"{out}.json", summary(result, class_names, **described, files=written))
    return {**written, "summary": f"{out}.json"}
