"""How good a feature visualization is, measured by the tool itself:

1. the activation it reaches against the unit's strongest natural activation over an image
   folder (pass 1 of a sweep, `deconv.sweeps.scan`, finds that exactly): a ratio of 1 or more
   means no natural image drives the unit harder;
2. for a class, the rank and probability an independent classifier (the judge) gives it.

Natural exemplars stay beside synthetic images wherever they are shown: Borowski et al. (ICLR
2021) and Zimmermann et al. (NeurIPS 2021) found that people read a unit better from its
strongest natural images than from its visualization alone.
"""
import numpy as np
import tensorflow as tf

from deconv.io import streaming
from deconv.models import classes
from deconv.models import efficientnet_lite
from deconv.sweeps import scan as scan_lib
from deconv.sweeps import sweep as sweep_lib


def natural_top(net, layer, paths, reading, progress=None):
    """Every unit's strongest natural activation over `paths`: `(values (C,), read, skipped)`.

    Pass 1 of a sweep of every map of `layer` (the top-1 of each map, over every position of
    every image read as `reading` says); `progress(done)` counts images. Unreadable files are
    skipped (`skipped`: `(path, reason)` each).
    """
    sweep = sweep_lib.make_sweep(net, layer, sweep_lib.EACH_MAP, top=1)
    state = scan_lib.ScanState.fresh(net, [sweep])
    reading = reading.for_count(len(paths))
    for state in scan_lib.scan(net, paths, [sweep], state, reading):
        if progress is not None:
            progress(state.cursor)
    values = state.topks[0].values
    found = values[:, 0] if values.shape[1] else np.full(len(values), np.nan, np.float32)
    return found, state.read, list(state.skipped)


def as_saved(images):
    """RGB images in [0, 255] as their PNGs hold them: rounded to whole values."""
    return np.asarray(images, np.float32).round().clip(0, 255)


def reached(net, layer, images, features):
    """The strongest activation of each image's unit, `(N,)`: the maximum of map
    `features[i]` of `layer` over image `i` (RGB in [0, 255], as saved, `as_saved`), what the
    scan measures on natural images."""
    activations = net.activations(as_saved(images), layer, batch_size=8)
    chosen = activations[np.arange(len(images)), ..., np.asarray(features)]
    return chosen.reshape(len(images), -1).max(axis=1)


def unit_quality(reached_values, natural):
    """JSON-ready `{"activation", "natural_top1", "ratio"}` per image (`natural`: the unit's
    top-1 natural activation for each image, or None: only the activation)."""
    found = []
    for index, value in enumerate(reached_values):
        entry = {"activation": float(value)}
        if natural is not None:
            best = float(natural[index])
            entry.update(natural_top1=best, ratio=float(value / best) if best > 0 else None)
        found.append(entry)
    return found


class Judge:
    """An independent ImageNet classifier's verdict on class visualizations.

    Args:
      net: the classifier as a `deconv.Deconvnet` (its logits layer is its last).
      size: the side its images are resized to (bilinear, antialiased).
      name: its name, for the record.
    """

    def __init__(self, net, size, name):
        self.net, self.size, self.name = net, int(size), name
        self.layer = net.layer_names[-1]

    def probabilities(self, images):
        """`(N, classes)` softmax probabilities of RGB images in [0, 255] (as saved)."""
        resized = tf.image.resize(as_saved(images), (self.size, self.size),
                                  antialias=True).numpy()
        logits = self.net.activations(resized, self.layer, batch_size=8).astype(np.float64)
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)

    def verdict(self, images, classes, names=None):
        """JSON-ready `{"judge", "rank", "probability", "top5"}` per image: the rank (1 = the
        judge's first choice) and probability of `classes[i]`, and the judge's five first
        classes `[id, name, probability]`."""
        probabilities = self.probabilities(images)
        found = []
        for row, wanted in zip(probabilities, classes):
            order = np.argsort(-row, kind="stable")
            found.append({"judge": self.name,
                          "rank": int(np.nonzero(order == wanted)[0][0]) + 1,
                          "probability": float(row[wanted]),
                          "top5": [[int(c), names[c] if names else None, float(row[c])]
                                   for c in order[:5]]})
        return found


def hits(verdicts, within):
    """The share of verdicts whose class is among the judge's first `within`."""
    return float(np.mean([v["rank"] <= within for v in verdicts])) if verdicts else float("nan")


def reading_for(size, batch_size=16):
    """How `natural_top` reads a folder: stretched to `size` x `size`."""
    return streaming.Reading(size=size, batch_size=batch_size)


def measure(net, layer, result, natural=None, judge=None, names=None):
    """Each image's quality, JSON-ready, or None when nothing is measured: for units, the
    activation reached (and with `natural`, every unit's top-1 natural activation from
    `natural_top`, its ratio to it); for classes with a `judge`, its verdict."""
    if result.kind == "sum" or (natural is None and judge is None):
        return None
    targets = np.repeat(np.asarray(result.features), result.copies)
    if result.kind == "logit":
        if judge is None:
            return None
        return judge.verdict(result.images, targets, names)
    found = reached(net, layer, result.images, targets)
    return unit_quality(found, None if natural is None else natural[targets])


def class_names(net, layer):
    """The ImageNet class names of `layer`'s units if it is a classifier's 1,000 logits, else
    None."""
    if len(net.step(layer).shape) == 4 or net.feature_count(layer) != 1000:
        return None
    return [entry[1] for entry in classes.imagenet_classes()]


def judge_size(net, name):
    """The side a judge's images are resized to: its fixed input, else the resolution it was
    trained at (EfficientNet-Lite), else 224."""
    fixed = net.model.inputs[0].shape[1]
    if fixed:
        return int(fixed)
    found = efficientnet_lite.find(name)
    return found.resolution if found else 224
