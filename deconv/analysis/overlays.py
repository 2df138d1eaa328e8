"""Activation overlays: feature maps upsampled to the image and laid over it as heat maps.

Three views: one image with its most activated maps, one tile per map; one map over many
images; the sum of several maps over many images. A map is upsampled bilinearly with each cell
at its true centre in pixels: the centre of its receptive field (`cell_centres`, from
`deconv.core.geometry`), `stride * j + (stride - 1) / 2` for a VGG layer of total stride `stride`.
Pixels beyond the first or last centre take that cell's value. Where pooling drops leftover
pixels (an image side that is not a multiple of the stride) the cells do not stretch over them,
so every cell stays over the pixels it saw; for a side that is a multiple of the stride (224 at
VGG's pool5) this is the half-pixel resize of `tf.image.resize`.
"""
import dataclasses

import numpy as np
import tensorflow as tf

from deconv.analysis import class_maps as class_maps_lib
from deconv.core import compiled
from deconv.core import geometry
from deconv.core import map_ids
from deconv.core import names
from deconv.errors import DeconvError
from deconv.io import render
from deconv.io import streaming

SCALES = ("each", "shared")


def _interpolation(size_in, size_out, centres=None):
    """The `(size_out, size_in)` matrix of 1-D linear interpolation from cells whose centres
    (increasing, in output pixels) are `centres`; default: half-pixel centres spread over the
    output. Outside the first and last centre, the nearest cell's value."""
    if centres is None:
        centres = (np.arange(size_in) + 0.5) * size_out / size_in - 0.5
    centres = np.asarray(centres, np.float64)
    if centres.shape != (size_in,):
        raise ValueError(f"{size_in} cells need {size_in} centres; received {centres.shape}.")
    matrix = np.zeros((size_out, size_in), np.float64)
    source = np.interp(np.arange(size_out), centres, np.arange(size_in))
    low = np.floor(source).astype(int)
    high = np.minimum(low + 1, size_in - 1)
    weight = source - low
    matrix[np.arange(size_out), low] += 1 - weight
    matrix[np.arange(size_out), high] += weight
    return matrix


def cell_centres(net, layer, image_size):
    """Returns `(rows, columns)`: the centre, in pixels, of each cell of `layer`'s maps for an
    image of `image_size` = `(H, W)`, along each axis: the centre of its receptive field
    (unclipped), e.g. `16 * j + 7.5` at VGG's conv5 layers."""
    name = net.resolve(layer)
    height, width = net.map_size(name, image_size)
    sizes = geometry.graph_sizes(net.steps, image_size)
    box = geometry.graph_window(net.steps, name, np.arange(height), np.arange(width), sizes,
                                np.maximum, np.minimum)  # every cell at once
    if box == geometry.WHOLE:  # every cell sees the whole image: spread them evenly
        return ((np.arange(height) + 0.5) * image_size[0] / height - 0.5,
                (np.arange(width) + 0.5) * image_size[1] / width - 0.5)
    top, left, bottom, right = box
    return (top + bottom - 1) / 2.0, (left + right - 1) / 2.0


def upsample(maps, size, centres=None):
    """Resizes maps `(..., h, w)` to `size` = `(H, W)`, bilinearly (a linear map, so the sum of
    upsampled maps is the upsampled sum). Returns float64 `(..., H, W)`.

    Args:
      maps: `(..., h, w)`.
      size: `(H, W)`.
      centres: `(rows, columns)`, the cells' centres in pixels (`cell_centres`); default:
        half-pixel centres spread over the whole image, as `tf.image.resize`.
    """
    maps = np.asarray(maps, np.float64)
    row_centres, column_centres = centres if centres is not None else (None, None)
    rows = _interpolation(maps.shape[-2], size[0], row_centres)
    columns = _interpolation(maps.shape[-1], size[1], column_centres)
    return np.einsum("yh,...hw,xw->...yx", rows, maps, columns)


def to_image(net, layer, maps, size):
    """Upsamples maps `(..., h, w)` of `layer` to an image of `size` = `(H, W)`, each cell at
    its true centre (`cell_centres`). Returns float64 `(..., H, W)`."""
    return upsample(maps, size, cell_centres(net, layer, tuple(size)))


def _checked(features, count, layer):
    return map_ids.parse(np.atleast_1d(features).tolist(), count, layer, "feature")


@dataclasses.dataclass
class TopMaps:
    """One image's chosen maps, strongest (by mean activation) first.

    Attributes:
      features: `(k,)` map ids; `means`, `maxima`: `(k,)` their mean and largest activation.
      maps: `(k, h, w)` the maps; `heats`: `(k, H, W)` upsampled to the image.
    """
    features: np.ndarray
    means: np.ndarray
    maxima: np.ndarray
    maps: np.ndarray
    heats: np.ndarray


def maps_layer(net, layer):
    """The Keras name of `layer`, a layer with maps to draw over the image.

    Raises:
      DeconvError: an unknown layer, or a classifier's logits (one number per class: no map).
    """
    name = net.resolve(layer)
    if name == net.logits:
        raise DeconvError(f"{names.short(name)!r} holds a classifier's logits, one number per "
                          f"class, with no map to draw over the image: overlays take a layer "
                          f"with maps (e.g. {names.short(net.layer_names[-2])}).")
    return name


def top_maps(net, layer, image, *, top=16, features=None):
    """Finds one image's most activated maps (or the `features` given) and upsamples them.

    Args:
      net: a `deconv.Deconvnet`.
      layer: the layer's name.
      image: RGB `(H, W, 3)` in [0, 255].
      top: how many maps, ranked by mean activation (ties: lower id first).
      features: map ids to show instead, in this order.

    Returns:
      A `TopMaps`.
    """
    image = np.asarray(image)
    layer = maps_layer(net, layer)
    activations = net.activations(image[None], layer)[0]
    means = activations.mean(axis=(0, 1))
    if features is None:
        if isinstance(top, bool) or not isinstance(top, (int, np.integer)) or not (
                1 <= top <= len(means)):
            raise DeconvError(f"top must be an integer from 1 to {len(means)} (the maps of "
                              f"{names.short(net.resolve(layer))!r}); received {top!r}.")
        features = np.argsort(-means, kind="stable")[:top]
    else:
        features = _checked(features, len(means), net.resolve(layer))
    features = np.asarray(features, np.int64)
    maps = np.moveaxis(activations[..., features], -1, 0)
    return TopMaps(features, means[features], maps.max(axis=(1, 2)), maps,
                   to_image(net, layer, maps, image.shape[:2]))


def summed_maps(net, layer, images, features):
    """Returns the sum of maps `features` of `layer`, `(N, h, w)`, for RGB `images` `(N, H, W,
    3)` in [0, 255]."""
    features = _checked(features, net.feature_count(layer), maps_layer(net, layer))
    return net.activations(images, layer)[..., features].sum(axis=-1)


class _MapSum:
    """uint8 images -> the sum of maps `features` (int32 tensor), `(n, h, w)`."""

    def __init__(self, activations, features):
        self.activations, self.features = activations, features

    def __call__(self, pixels):
        activations = self.activations(tf.cast(pixels, tf.float32))
        return tf.reduce_sum(tf.gather(activations, self.features, axis=3), axis=3)


@dataclasses.dataclass
class FolderMaps:
    """The summed maps of every readable image of a stream.

    Attributes:
      numbers: `(n,)` indices into the paths streamed, of the images read.
      sums: `(n, h, w)` the summed maps, at the layer's resolution.
      skipped: `[(path, reason)]` the files that could not be read.
    """
    numbers: np.ndarray
    sums: np.ndarray
    skipped: list

    def order(self, strongest):
        """Positions into `numbers`/`sums`: as read, or by mean of the summed map, largest
        first (ties: the earlier image)."""
        if not strongest:
            return np.arange(len(self.numbers))
        return np.argsort(-self.sums.mean(axis=(1, 2)), kind="stable")


def map_sums(net, layer, paths, *, features, reading=streaming.Reading(), progress=None):
    """Streams `paths` once (tf.data) and keeps each image's sum of maps `features`.

    Memory holds one `(h, w)` map per image, not the images.

    Args:
      net, layer: the `deconv.Deconvnet` and the layer.
      paths: image files.
      features: map ids, summed.
      reading: how images are read and batched (`deconv.io.streaming.Reading`).
      progress: called as `progress(done, total)` after each batch.

    Returns:
      A `FolderMaps`.
    """
    layer = maps_layer(net, layer)
    features = _checked(features, net.feature_count(layer), layer)
    class_maps_lib.check_image_size(net, layer, reading.size)
    run = tf.function(_MapSum(net.activations_graph(layer),
                              tf.constant(list(features), tf.int32)),
                      input_signature=[compiled.PIXELS])
    numbers, sums, skipped = [], [], []
    for batch in streaming.stream(paths, run, reading, progress=progress):
        numbers.append(batch.numbers[batch.good])
        sums.append(batch.outputs[batch.good])
        skipped += batch.skipped
    return FolderMaps(np.concatenate(numbers), np.concatenate(sums), skipped)


def colour_range(heats, scale):
    """Returns the `(low, high)` of each heat map's colours: per map (`"each"`) or one range
    for all (`"shared"`); low is at most 0, so an inactive map stays dark."""
    if scale not in SCALES:
        raise DeconvError(f"Unknown scale {scale!r}; valid: {', '.join(SCALES)}.")
    heats = np.asarray(heats, np.float64)
    if scale == "shared":
        bounds = (min(0.0, float(heats.min())), float(heats.max()))
        return [bounds] * len(heats)
    return [(min(0.0, float(heat.min())), float(heat.max())) for heat in heats]


def overlay_grid(images, heats, captions, alpha=0.55, scale="each", title=None, first=None,
                 bounds=None):
    """Lays each image with its heat map over it out in a grid, each tile captioned.

    Args:
      images: uint8 `(N, H, W, 3)` (or one `(H, W, 3)` for all heats).
      heats: `(N, H, W)` at the images' size.
      captions: N strings.
      alpha: the heat's weight in the blend.
      scale: `"each"`: every tile spans the whole colour map; `"shared"`: one range for all,
        shown by a colour bar (with `title` above the grid).
      first: an uncoloured uint8 tile put first (e.g. the image itself), or None.
      bounds: with `"shared"`, the `(low, high)` of the colours; default: `colour_range`'s.

    Returns:
      uint8 `(H', W', 3)`.
    """
    images = np.asarray(images)
    if images.ndim == 3:
        images = np.broadcast_to(images, (len(heats), *images.shape))
    tiles = [] if first is None else [render.label(first, "input")]
    ranges = colour_range(heats, scale)
    if scale == "shared" and bounds is not None:
        ranges = [tuple(bounds)] * len(heats)
    for image, heat, caption, (low, high) in zip(images, heats, captions, ranges):
        tiles.append(render.label(render.overlay(image, heat, alpha, low, high), caption))
    picture = render.grid(tiles)
    if scale == "shared":
        return render.with_colour_bar(picture, *ranges[0], title or "activation")
    return render.label(picture, title) if title else picture
