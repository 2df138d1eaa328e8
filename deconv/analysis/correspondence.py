"""Correspondence: does occluding the same object part in different images change a layer's
features in the same way? Against occluding random places of the same size.

For a part p and the images i that show it: `eps_i = f(x_i) - f(x_i occluded at p)` at each
layer (its whole output, flattened). Signs are compared between every pair of images:
`Delta = mean over pairs i < j of H(sign eps_i, sign eps_j) / D`, the Hamming distance between
the sign vectors as a fraction of their length D (the paper's sum over pairs, normalised so that
0 means the same change everywhere and values are comparable across layers). The baseline
occludes each image at a random place with a box of the size of its part's box, over several
random trials. A change smaller than `tolerance` times the layer's largest activation in that
image counts as none (sign 0).

Reference: Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks", ECCV 2014
(arXiv 1311.2901), section 5 and table 1.
"""
import dataclasses
import itertools
import json
import os

import keras
import numpy as np

from deconv.analysis import features as features_lib
from deconv.analysis import occlusion
from deconv.core import checks
from deconv.core import names
from deconv.core.deconvnet import Deconvnet
from deconv.errors import DeconvError
from deconv.io import images as image_files


@dataclasses.dataclass
class Correspondence:
    """Per part and layer, the normalised Hamming distance of every pair of images.

    Attributes:
      layers: the layers' names in the model.
      parts: the part names, in order.
      images: `{part: [image indices]}`, the images that show it.
      boxes: `{part: (n, 4)}` its boxes `(top, left, bottom, right)` in those images.
      pairs: `{part: {layer: (P,)}}` `H / D` for each pair `i < j` of its images.
      random_boxes: `{part: (T, n, 4)}` the random boxes of each trial.
      random_pairs: `{part: {layer: (T, P)}}` the same for the random boxes.
    """
    layers: list
    parts: list
    images: dict
    boxes: dict
    pairs: dict
    random_boxes: dict
    random_pairs: dict

    def delta(self, part, layer):
        """`(Delta, its standard deviation over the pairs)` of a part."""
        values = self.pairs[part][layer]
        return float(values.mean()), float(values.std())

    def random_delta(self, part, layer):
        """`(Delta of the random boxes, its standard deviation over the trials)`."""
        per_trial = self.random_pairs[part][layer].mean(axis=1)
        return float(per_trial.mean()), float(per_trial.std())


def default_layers(model):
    """The paper's layers 5 and 7: the last conv layer and, in a classifier with two or more
    dense layers, the last hidden one (VGG's fc2)."""
    model = model.model if isinstance(model, Deconvnet) else model
    dense = [layer.name for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    return features_lib.default_layers(model)[-1:] + dense[-2:-1]


def _check_boxes(parts, count, size):
    """`(part names, {part: [image indices]}, {part: (n, 4) boxes})`, checked."""
    if not isinstance(parts, (list, tuple)) or len(parts) != count:
        raise DeconvError(f"parts must give one {{part: box}} dict per image ({count}); "
                          f"received {type(parts).__name__} of {len(parts)}.")
    names_, images, boxes = [], {}, {}
    height, width = size
    for number, found in enumerate(parts):
        for part, box in (found or {}).items():
            box = np.asarray(box)
            if box.shape != (4,) or not np.issubdtype(box.dtype, np.integer):
                raise DeconvError(f"Image {number}, part {part!r}: a box is four integers "
                                  f"[top, left, bottom, right]; received {box.tolist()!r}.")
            top, left, bottom, right = (int(v) for v in box)
            if not (0 <= top < bottom <= height and 0 <= left < right <= width):
                raise DeconvError(f"Image {number}, part {part!r}: box {box.tolist()} is empty or "
                                  f"outside the {height}x{width} image.")
            if part not in images:
                names_.append(part)
            images.setdefault(part, []).append(number)
            boxes.setdefault(part, []).append((top, left, bottom, right))
    lonely = [part for part in names_ if len(images[part]) < 2]
    if not names_ or lonely:
        raise DeconvError(f"Each part needs boxes in at least two images; "
                          f"{', '.join(lonely) or 'no part'} has fewer.")
    return names_, images, {part: np.array(b) for part, b in boxes.items()}


def _occluded(images, boxes, colour):
    out = np.array(images, np.float32, copy=True)
    for image, (top, left, bottom, right) in zip(out, boxes):
        image[top:bottom, left:right] = colour
    return out


def _signs(original, occluded, tolerance):
    """The signs of the change, each below `tolerance` times the largest |activation| zeroed."""
    change = original - occluded
    scale = np.abs(original).max(axis=1, keepdims=True)
    return np.where(np.abs(change) > tolerance * scale, np.sign(change), 0).astype(np.int8)


def pair_distances(signs):
    """`(P,)`: the normalised Hamming distance `H / D` of each pair `i < j` of sign vectors."""
    return np.array([np.mean(signs[i] != signs[j])
                     for i, j in itertools.combinations(range(len(signs)), 2)])


def random_boxes(boxes, size, trials, rng):
    """`(trials, n, 4)`: per trial, each box moved to a uniformly random place in the image."""
    height, width = size
    out = np.zeros((trials, *boxes.shape), int)
    for t in range(trials):
        for k, (top, left, bottom, right) in enumerate(boxes):
            y = rng.integers(0, height - (bottom - top) + 1)
            x = rng.integers(0, width - (right - left) + 1)
            out[t, k] = (y, x, y + bottom - top, x + right - left)
    return out


def part_correspondence(net, layers, images, *, parts, fill="gray", trials=10, seed=0,
                        tolerance=1e-6, batch_size=16, progress=None):
    """Measures how consistently occluding each part changes the features, against random
    boxes of the same sizes.

    Args:
      net: a `Deconvnet` of any Keras model with one image input (features come from a plain
        forward pass of its model, with its preprocessing).
      layers: a layer name or a list; None: `default_layers`.
      images: RGB `(N, H, W, 3)` in [0, 255].
      parts: one dict per image, `{part name: (top, left, bottom, right)}` in its pixels (a
        half-open box); a part is measured over the images that have it (at least two).
      fill: the occluder's colour, as `deconv.occlude`'s (`gray`: the ImageNet mean).
      trials: random boxes per image and part; `seed` makes them reproducible.
      tolerance: changes at most this fraction of the layer's largest activation count as 0.
      batch_size: images per forward batch.
      progress: called with the number of parts done.

    Returns:
      A `Correspondence`.
    """
    features_lib.require_net(net, "part_correspondence")
    features = features_lib.FeatureModel(net, default_layers(net) if layers is None else layers)
    images = features.check(images)
    part_names, members, boxes = _check_boxes(parts, len(images), images.shape[1:3])
    checks.integer("trials", trials)
    checks.batch_size(batch_size)
    if not 0 <= tolerance < 1:
        raise DeconvError(f"tolerance must be in [0, 1); received {tolerance!r}.")
    colour = occlusion.fill_color(fill, images)
    rng = np.random.default_rng(seed)
    originals = features(images, batch_size)
    result = Correspondence(features.layers, part_names, members, boxes, {}, {}, {})
    for done, part in enumerate(part_names, 1):
        chosen = images[members[part]]
        base = {layer: originals[layer][members[part]] for layer in features.layers}
        occluded = features(_occluded(chosen, boxes[part], colour), batch_size)
        result.pairs[part] = {layer: pair_distances(_signs(base[layer], occluded[layer],
                                                           tolerance))
                              for layer in features.layers}
        moved = random_boxes(boxes[part], images.shape[1:3], trials, rng)
        found = features(np.concatenate([_occluded(chosen, trial, colour) for trial in moved]),
                         batch_size)
        result.random_boxes[part] = moved
        result.random_pairs[part] = {layer: np.stack([pair_distances(_signs(
            base[layer], trial, tolerance)) for trial in np.split(found[layer], trials)])
            for layer in features.layers}
        if progress is not None:
            progress(done)
    return result


def table(result):
    """The result as a Markdown table, as the paper's table 1: a row per part, per layer its
    Delta (mean ± standard deviation over image pairs) beside the random boxes' (± over
    trials)."""
    header = ["part (images)"] + [f"{names.short(layer)} {kind}" for layer in result.layers
                                  for kind in ("Δ part", "Δ random")]
    rows = []
    for part in result.parts:
        cells = [f"{part} ({len(result.images[part])})"]
        for layer in result.layers:
            cells += ["{:.3f} ± {:.3f}".format(*result.delta(part, layer)),
                      "{:.3f} ± {:.3f}".format(*result.random_delta(part, layer))]
        rows.append(cells)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows]) + "\n"


def summary(result, image_names, **extra):
    """Returns a `Correspondence` as a JSON-ready dict."""
    def part_summary(part):
        return {"images": [image_names[i] for i in result.images[part]],
                "boxes": result.boxes[part].tolist(),
                "random_boxes": result.random_boxes[part].tolist(),
                "layers": {names.short(layer): {
                    "delta": result.delta(part, layer)[0],
                    "delta_std_over_pairs": result.delta(part, layer)[1],
                    "pairs": result.pairs[part][layer].tolist(),
                    "random_delta": result.random_delta(part, layer)[0],
                    "random_delta_std_over_trials": result.random_delta(part, layer)[1],
                    "random_pairs": result.random_pairs[part][layer].tolist()}
                    for layer in result.layers}}

    return {**extra, "layers": [names.short(layer) for layer in result.layers],
            "keras_layers": result.layers,
            "parts": {part: part_summary(part) for part in result.parts}}


def from_original(box, original_size, size, aspect):
    """Maps a `(top, left, bottom, right)` box from an original image's pixels to the
    `size` x `size` image it is resized to (`deconv.io.images.read_image`; the inverse of
    `deconv.io.images.to_original`), rounded outwards and clipped to the resized image.

    Raises:
      DeconvError: an empty box, one outside the image, or outside what `aspect="crop"` keeps.
    """
    height, width = original_size
    top, left, bottom, right = box
    if not (0 <= top < bottom <= height and 0 <= left < right <= width):
        raise DeconvError(f"box {list(box)} is empty or outside the {height}x{width} image.")
    if aspect == "crop":
        scale = size / min(height, width)
        off_y = (max(size, round(height * scale)) - size) // 2
        off_x = (max(size, round(width * scale)) - size) // 2
        sy = sx = scale
    else:
        sy, sx, off_y, off_x = size / height, size / width, 0, 0
    mapped = [int(np.floor(top * sy)) - off_y, int(np.floor(left * sx)) - off_x,
              int(np.ceil(bottom * sy)) - off_y, int(np.ceil(right * sx)) - off_x]
    clipped = [min(max(value, 0), size) for value in mapped]
    if clipped[0] >= clipped[2] or clipped[1] >= clipped[3]:
        raise DeconvError(f"box {list(box)} lies outside the centre square that aspect crop "
                          f"keeps of the {height}x{width} image.")
    return clipped


def _load_parts(path):
    try:
        with open(path, encoding="utf-8") as stream:
            given = json.load(stream)
    except (OSError, ValueError) as error:
        raise DeconvError(f"Cannot read parts file {path}: {error}.") from None
    if not isinstance(given, dict) or not given or not all(
            isinstance(boxes, dict) for boxes in given.values()):
        raise DeconvError(f"Parts file {path} must be a JSON object {{image path: {{part: [top, "
                          f"left, bottom, right]}}}}.")
    return given


def read_parts(path, root, size, aspect="stretch"):
    """Reads a parts file `{image path: {part: [top, left, bottom, right]}}` (paths relative to
    `root`; boxes half-open, in the original image's pixels) and its images, resized as
    `deconv.io.images.read_image` does.

    Returns:
      `(image paths, pixels (N, size, size, 3) uint8, [{part: box in the resized image}])`.

    Raises:
      DeconvError: an unreadable file or image, or a bad box; the message names both.
    """
    paths, pixels, parts = [], [], []
    for name, boxes in _load_parts(path).items():
        image_path = os.path.join(root, name)
        image, original, reason = image_files.read_image(image_path, size, aspect)
        if reason is not None:
            raise DeconvError(f"Parts file {path} names {image_path}: {reason}.")
        mapped = {}
        for part, box in boxes.items():
            if not (isinstance(box, list) and len(box) == 4
                    and all(isinstance(v, int) and not isinstance(v, bool) for v in box)):
                raise DeconvError(f"Parts file {path}: {name}, part {part!r}: a box is [top, "
                                  f"left, bottom, right] in pixels; received {box!r}.")
            try:
                mapped[part] = from_original(box, original, size, aspect)
            except DeconvError as error:
                raise DeconvError(f"Parts file {path}: {name}, part {part!r}: {error}") from None
        paths.append(image_path)
        pixels.append(image)
        parts.append(mapped)
    return paths, np.stack(pixels), parts
