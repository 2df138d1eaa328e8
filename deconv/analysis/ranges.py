"""Ranges of feature maps and activations, projected together (featuremap-InSights).

IMAGE mode: for one image and every conv layer, keep the strongest maps (ranked by their
maximum) and in each its strongest activations, project them together, and lay the layers out
in one grid. GIF mode: per layer, frames that project from the single strongest map to all maps,
in order of their maximum activation.
"""
import dataclasses

import numpy as np

from deconv.core import names
from deconv.io import outputs
from deconv.io import render


@dataclasses.dataclass
class LayerRange:
    """One layer's kept activations of one image, projected together.

    Attributes:
      layer: the layer's Keras name.
      reconstruction: `(H, W, 3)` float32, RGB, unnormalised.
      maps: how many maps were kept; `per_map`: how many activations in each.
      value: the largest kept activation.
    """
    layer: str
    reconstruction: np.ndarray
    maps: int
    per_map: int
    value: float


def layer_ranges(net, layers, image, *, maps=1, activations=1):
    """Projects, per layer, the kept activations of one image together.

    Args:
      net: the `Deconvnet`.
      layers: layer names; None: every conv layer.
      image: RGB `(H, W, 3)` in [0, 255].
      maps, activations: per layer, how many maps and how many activations in each (an integer
        >= 1 a count, a number in (0, 1) a fraction, rounded half up and at least 1, anything
        else 1; see `deconv.core.selection.count_of`).

    Returns:
      A list of `LayerRange`, in the order of `layers`.
    """
    image = np.asarray(image)
    results = []
    for layer in layers or net.conv_layers:
        kept_maps, per_map = net.range_counts(layer, image.shape[:2], maps, activations)
        projection = net.project_ranges(image[None], layer, maps, activations)
        results.append(LayerRange(net.resolve(layer), projection.reconstructions[0], kept_maps,
                                  per_map, float(projection.values[0])))
    return results


def ranges_grid(image, results, normalize="symmetric"):
    """One picture: the image, then each layer's reconstruction, labelled with its counts."""
    tiles = [render.label(np.asarray(image, np.uint8), "input")]
    for result in results:
        tiles.append(render.label(render.to_uint8(result.reconstruction, normalize),
                                  f"{names.short(result.layer)}: {result.maps} maps x "
                                  f"{result.per_map}"))
    return render.grid(tiles)


def write_ranges(out, image, results, described, normalize="symmetric"):
    """Writes `{out}.png` (`ranges_grid`) and `{out}.json` (the dict `described`, then per layer
    its counts and largest kept value), atomically; returns both paths."""
    outputs.write_png(f"{out}.png", ranges_grid(image, results, normalize))
    outputs.write_json(f"{out}.json", {**described, "layers": [
        {"layer": names.short(result.layer), "maps_kept": result.maps,
         "activations_per_map": result.per_map, "largest_kept_value": result.value}
        for result in results]})
    return [f"{out}.png", f"{out}.json"]


def frame_counts(channels, frames):
    """How many maps each GIF frame keeps: `min(frames, channels)` different counts from 1 to
    all `channels` (one frame: the strongest map alone). The strongest maps enter one by one,
    then the steps grow geometrically; with as many frames as maps, every count appears."""
    total = max(1, min(frames, channels))
    counts = [1]
    for left in range(total - 1, 0, -1):  # frames still to place, the last one included
        step = (channels / counts[-1]) ** (1 / left)  # geometric towards `channels`
        grown = max(counts[-1] + 1, round(counts[-1] * step))
        counts.append(min(grown, channels - left + 1))  # room for the frames after it
    return counts


def frame_masks(activations, frames):
    """`(F, C)` masks over one image's maps `(h, w, C)`: frame f keeps the `frame_counts[f]`
    maps with the largest maximum activation."""
    order = np.argsort(-activations.max(axis=(0, 1)), kind="stable")
    counts = frame_counts(activations.shape[-1], frames)
    masks = np.zeros((len(counts), activations.shape[-1]), np.float32)
    for row, count in enumerate(counts):
        masks[row, order[:count]] = 1
    return masks, counts


def layer_frames(net, layer, image, *, frames=24, normalize="symmetric", batch_size=8):
    """Returns the GIF frames of one layer: uint8 pictures, each labelled with its map count."""
    activations = net.activations(np.asarray(image)[None], layer)[0]
    masks, counts = frame_masks(activations, frames)
    reconstructions = net.project_frames(image, layer, masks, batch_size)
    channels = activations.shape[-1]
    return [render.label(render.to_uint8(reconstruction, normalize),
                         f"{names.short(net.resolve(layer))}: {count} of {channels} maps")
            for reconstruction, count in zip(reconstructions, counts)]


def write_gif(path, frames, duration_ms=300):
    """Writes frames as a looping GIF, atomically."""
    outputs.write_gif(path, frames, duration_ms)
