"""Class-wise top feature maps: which maps of a layer each class of images lights up most.

For a folder of class sub-folders, in one streaming pass: for each image, the maps with the
largest mean activation (its top maps); for each class, the maps that are most often among its
images' top maps (FeatureMapVisualizer's method). Ties go to the map with the larger mean
activation over the class's images, then to the lower id.

With those maps, `class_scores` scores every image for each class: the sum of the mean
activations of the class's maps (plotted by `deconv.analysis.class_plot`).
"""
import dataclasses
import json
import os

import numpy as np
import tensorflow as tf

from deconv import limits
from deconv.core import compiled
from deconv.core import names
from deconv.core import selection
from deconv.errors import DeconvError
from deconv.io import images as image_files
from deconv.io import streaming
from deconv.io import words


@dataclasses.dataclass
class ClassFolder:
    """The images of a folder of class sub-folders.

    Attributes:
      paths: the image paths, sorted (so grouped by class).
      labels: `(N,)` int, the index in `classes` of each path's class; -1 for an image directly
        in the root folder, which belongs to no class.
      classes: the class names (the sub-folders holding images, sorted); an image deeper down
        belongs to its top-level sub-folder.
      ignored: `{extension: count}` of files of other types, left out.
    """
    paths: list
    labels: np.ndarray
    classes: list
    ignored: dict

    @property
    def outside(self):
        """The images directly in the root folder, in no class."""
        return [path for path, label in zip(self.paths, self.labels) if label < 0]


def scan_classes(root, extensions=None):
    """Finds the images of `root`'s class sub-folders (see `ClassFolder`).

    Args:
      root: the folder.
      extensions: the extensions to read (`deconv.io.images.parse_extensions`); None: every type
        Pillow reads.

    Raises:
      DeconvError: a missing or unreadable folder, no images, or no class sub-folder with images.
    """
    extensions = extensions or image_files.parse_extensions(None)
    paths, ignored = image_files.scan_folder(root, extensions)
    parts = [os.path.relpath(path, root).split(os.sep) for path in paths]
    classes = sorted({part[0] for part in parts if len(part) > 1})
    if not classes:
        raise DeconvError(f"{root!r} has images but no class sub-folders: put each class's images "
                          f"in its own sub-folder, e.g. {os.path.join(root, 'cats', 'a.jpg')}.")
    index = {name: number for number, name in enumerate(classes)}
    labels = np.array([index[part[0]] if len(part) > 1 else -1 for part in parts], np.int64)
    return ClassFolder(paths, labels, classes, ignored)


class _MeanActivations:
    """uint8 images -> the mean activation of every map, `(n, C)`."""

    def __init__(self, activations):
        self.activations = activations

    def __call__(self, pixels):
        maps = selection.as_maps(self.activations(tf.cast(pixels, tf.float32)))  # logits: 1x1
        return tf.reduce_mean(maps, axis=[1, 2])


def check_image_size(net, layer, size):
    """Raises DeconvError if images of `size` x `size` are outside their range or too small to
    reach `layer`."""
    limits.check("size", size)
    net.check_image_size(layer, size)


def means_fn(net, layer):
    """A compiled function: uint8 images -> the mean activation of each map of `layer`, `(n, C)`."""
    return tf.function(_MeanActivations(net.activations_graph(layer)),
                       input_signature=[compiled.PIXELS])


@dataclasses.dataclass
class ClassMaps:
    """The class-wise top maps of one layer.

    Attributes:
      layer: the layer's Keras name.
      classes: the class names.
      maps: `{class: [map ids]}`, most recurrent first; only maps that were among the top maps
        of at least one of the class's images, at most `per_class`.
      counts: `(classes, C)` int, how many of each class's images had each map among their top.
      mean_activation: `(classes, C)`: each map's mean activation, averaged over the class.
      images: `(classes,)` the images read per class.
      per_image, per_class: the settings.
      skipped: `[(path, reason)]` unreadable files; `outside`: images in no class folder;
      ignored: `{extension: count}` files of other types.
    """
    layer: str
    classes: list
    maps: dict
    counts: np.ndarray
    mean_activation: np.ndarray
    images: np.ndarray
    per_image: int
    per_class: int
    skipped: list
    outside: list
    ignored: dict


def top_per_image(means, per_image):
    """Returns `(ids (n, k), kept (n, k))`: each image's `per_image` maps with the largest mean
    (ties: lower id first); `kept` is False for a map whose mean is not above zero (not active)."""
    order = np.argsort(-means, axis=1, kind="stable")[:, :per_image]
    return order, np.take_along_axis(means, order, axis=1) > 0


def rank_maps(counts, mean_activation, per_class):
    """Returns each class's maps, most recurrent first (see the module's tie rule)."""
    ranked = []
    for count, mean in zip(counts, mean_activation):
        ids = np.flatnonzero(count)
        order = np.lexsort((ids, -mean[ids], -count[ids]))
        ranked.append([int(i) for i in ids[order][:per_class]])
    return ranked


COUNT_RANGE = (1, 65536)  # per_image, per_class: more than a layer's maps means all of them


def check_counts(per_image, per_class):
    """Raises DeconvError unless `per_image` and `per_class` are integers in `COUNT_RANGE`."""
    for name, value in (("per_image", per_image), ("per_class", per_class)):
        limits.check(name, value, bounds=COUNT_RANGE)


def class_maps(net, layer, root, *, per_image=25, per_class=25, reading=streaming.Reading(),
               extensions=None, progress=None):
    """Finds the class-wise top feature maps of `layer` over `root`'s class sub-folders.

    One streaming pass: each image is read, forwarded and reduced to its maps' means once.

    Args:
      net: a `deconv.Deconvnet`.
      layer: the layer's name, `conv5_4` or `block5_conv4` style.
      root: a folder of class sub-folders (`scan_classes`).
      per_image: how many top maps each image votes for (at most all the layer's maps).
      per_class: how many maps to keep per class (at most all).
      reading: how images are read and batched (`deconv.io.streaming.Reading`).
      extensions: the file types to read; None: every type Pillow reads.
      progress: called as `progress(done, total)` after each batch.

    Returns:
      A `ClassMaps`. Unreadable files are skipped and listed, with their reasons.
    """
    layer = net.resolve(layer)
    channels = net.feature_count(layer)
    check_counts(per_image, per_class)
    check_image_size(net, layer, reading.size)
    folder = scan_classes(root, extensions)
    counts = np.zeros((len(folder.classes), channels), np.int64)
    sums = np.zeros((len(folder.classes), channels), np.float64)
    images = np.zeros(len(folder.classes), np.int64)
    skipped = []
    inside = [number for number, label in enumerate(folder.labels) if label >= 0]
    paths = [folder.paths[number] for number in inside]
    labels = folder.labels[inside]
    for batch in streaming.stream(paths, means_fn(net, layer), reading, progress=progress):
        skipped += batch.skipped
        label, means = labels[batch.numbers[batch.good]], batch.outputs[batch.good]
        ids, kept = top_per_image(means, per_image)
        voters = np.repeat(label, ids.shape[1])[kept.ravel()]
        np.add.at(counts, (voters, ids.ravel()[kept.ravel()]), 1)
        np.add.at(sums, label, means)
        np.add.at(images, label, 1)
    mean_activation = sums / np.maximum(images, 1)[:, None]
    ranked = rank_maps(counts, mean_activation, per_class)
    return ClassMaps(layer, folder.classes, dict(zip(folder.classes, ranked)), counts,
                     mean_activation.astype(np.float32), images, per_image, per_class, skipped,
                     folder.outside, folder.ignored)


def details(result, **extra):
    """Returns a JSON-ready account of a `ClassMaps`: per class its maps with their counts,
    shares and mean activations; the files read, skipped and left out; `extra` first."""
    classes = {}
    for number, name in enumerate(result.classes):
        seen = max(int(result.images[number]), 1)
        classes[name] = {
            "images": int(result.images[number]),
            "maps": [{"map": m, "count": int(result.counts[number, m]),
                      "share": round(int(result.counts[number, m]) / seen, 4),
                      "mean_activation": float(result.mean_activation[number, m])}
                     for m in result.maps[name]]}
    reasons = words.reason_counts(result.skipped)
    return {**extra, "layer": names.short(result.layer), "per_image": result.per_image,
            "per_class": result.per_class, "classes": classes,
            "counts": {"read": int(result.images.sum()), "skipped": len(result.skipped),
                       "skipped_by_reason": reasons, "outside_class_folders": len(result.outside),
                       "ignored_by_extension": result.ignored},
            "skipped": [{"path": path, "reason": reason} for path, reason in result.skipped],
            "outside_class_folders": result.outside}


def load(path):
    """Reads a `{class: [map ids]}` JSON file (what `python -m deconv.classwise` writes).

    Raises:
      DeconvError: a missing or unreadable file, or content of another shape.
    """
    try:
        with open(path, encoding="utf-8") as stream:
            content = json.load(stream)
    except OSError as error:
        raise DeconvError(f"Cannot read class maps {path!r}: {error.strerror or error}.") from None
    except ValueError as error:
        raise DeconvError(f"Class maps {path!r} is not JSON: {error}.") from None
    if not isinstance(content, dict) or not any(content.values()) or not all(
            isinstance(ids, list) and all(isinstance(i, int) and not isinstance(i, bool)
                                          for i in ids) for ids in content.values()):
        raise DeconvError(f"Class maps {path!r} must be a JSON object {{class: [map ids]}} with "
                          f"integer ids, at least one in all (as python -m deconv.classwise "
                          f"writes).")
    return content


@dataclasses.dataclass
class ClassScores:
    """Each class's score in every image read.

    Attributes:
      layer: the layer's Keras name.
      series: the classes whose maps are scored (the keys of the class maps), in order.
      maps: `{series: [map ids]}`.
      paths: the images read, grouped by folder; `groups`: the folder (class) of each, `""` for
        an image directly in the root folder.
      scores: `(images, series)`: per image, the sum of the series' maps' mean activations.
      skipped: `[(path, reason)]` files that could not be read.
    """
    layer: str
    series: list
    maps: dict
    paths: list
    groups: list
    scores: np.ndarray
    skipped: list


def check_maps(maps, count, layer, source="the class maps"):
    """Raises DeconvError if a class of `maps` names a map id outside `[0, count)`."""
    for name, ids in maps.items():
        bad = [i for i in ids if not 0 <= i < count]
        if bad:
            raise DeconvError(f"Class {name!r} of {source} names map {bad[0]}, out of range for "
                              f"layer {names.short(layer)!r}, which has {count} feature maps "
                              f"(0 to {count - 1}): were the maps made for another layer?")


def indicator(maps, series, count):
    """Returns the `(count, len(series))` 0/1 matrix whose column s marks series s's maps."""
    matrix = np.zeros((count, len(series)), np.float64)
    for column, name in enumerate(series):
        matrix[maps[name], column] = 1
    return matrix


def class_scores(net, layer, root, *, maps, reading=streaming.Reading(), extensions=None,
                 progress=None):
    """Scores every image of `root` (class sub-folders) with each class's maps, in one pass.

    Args:
      net, layer: the `deconv.Deconvnet` and the layer the maps belong to.
      root: a folder of class sub-folders (images directly in it are scored too).
      maps: `{class: [map ids]}`, e.g. from `deconv.analysis.class_maps.load`.
      reading, extensions, progress: see `class_maps`.

    Returns:
      A `ClassScores`.

    Raises:
      DeconvError: a map id out of range for `layer` (the message names the class).
    """
    layer = net.resolve(layer)
    count = net.feature_count(layer)
    check_maps(maps, count, layer)
    series = list(maps)
    weights = indicator(maps, series, count)
    folder = scan_classes(root, extensions)
    check_image_size(net, layer, reading.size)
    kept, scores, skipped = [], [], []
    for batch in streaming.stream(folder.paths, means_fn(net, layer), reading,
                                  progress=progress):
        kept += batch.numbers[batch.good].tolist()
        scores.append(batch.outputs[batch.good].astype(np.float64) @ weights)
        skipped += batch.skipped
    groups = [folder.classes[folder.labels[n]] if folder.labels[n] >= 0 else "" for n in kept]
    return ClassScores(layer, series, maps, [folder.paths[n] for n in kept], groups,
                       np.concatenate(scores) if scores else np.zeros((0, len(series))), skipped)
