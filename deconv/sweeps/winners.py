"""Pass 2 of a sweep: the winners of pass 1 re-read and projected, batched per layer, each
recomputed activation checked against the value pass 1 recorded."""
import dataclasses

from absl import logging
import numpy as np

from deconv.core.receptive_field import receptive_field
from deconv.errors import DeconvError
from deconv.io import images as image_files
from deconv.sweeps.sweep import EACH_MAP


@dataclasses.dataclass
class Winner:
    """One of a sweep's strongest activations, as found in pass 1 and projected in pass 2."""
    rank: int
    path: str
    feature: int
    position: tuple
    value: float
    box: tuple = None
    projected_value: float = None
    original_size: tuple = None
    box_original: list = None
    box_effective: tuple = None
    crop: str = None
    crop_box: tuple = None


def winners(net, sweep, topk, paths, size, group=0):
    """Returns the `Winner`s of one group of a sweep's top-k, best first."""
    height, width = net.map_size(sweep.layer, (size, size))
    count = net.feature_count(sweep.layer)
    found = []
    for rank, (value, image, index) in enumerate(zip(topk.values[group], topk.images[group],
                                                     topk.indices[group]), 1):
        if sweep.feature is None:
            index, feature = divmod(int(index), count)
        else:
            feature = group if sweep.feature == EACH_MAP else sweep.feature
        position = divmod(int(index), width)
        if position[0] >= height:  # only a state saved for another image size could do this
            raise DeconvError(f"Saved position {position} lies outside {sweep.label}'s "
                              f"{height}x{width} maps: start afresh with --restart.")
        found.append(Winner(rank, paths[image], int(feature), position, float(value)))
    return found


def _read_winners(found, size, aspect):
    pixels, cache = [], {}
    for winner in found:
        if winner.path not in cache:
            cache[winner.path] = image_files.read_image(winner.path, size, aspect)
        image, winner.original_size, reason = cache[winner.path]
        if reason is not None:
            raise DeconvError(f"{winner.path} could be read in pass 1 but not now: {reason}.")
        pixels.append(image)
    return np.stack(pixels)


def project_chunk(net, layer, views, chunk, size, aspect):
    """Projects one chunk of `(view number, winner)` items of `layer` (`views[number]` is each
    one's view), in one call per mode and map; sets each winner's boxes, size and recomputed
    value, and logs a warning for a value that differs from pass 1's.

    Returns:
      `(reconstructions, pixels)` in the chunk's order, `(n, size, size, 3)` float32 and uint8.
    """
    found = [winner for _, winner in chunk]
    pixels = _read_winners(found, size, aspect)
    reconstructions = np.zeros(pixels.shape, np.float32)
    values = np.zeros(len(chunk), np.float32)
    modes = np.array([views[v].mode for v, _ in chunk])
    single = np.flatnonzero(modes == "activation")
    if single.size:  # each image forwarded once, however many of its winners the chunk holds
        paths = list(dict.fromkeys(found[i].path for i in single))
        firsts = [next(i for i in single if found[i].path == path) for path in paths]
        projection = net.project_groups(
            pixels[firsts], layer, [paths.index(found[i].path) for i in single],
            [found[i].feature for i in single], np.array([found[i].position for i in single]))
        reconstructions[single], values[single] = projection.reconstructions, projection.values
    for feature in sorted({found[i].feature for i in np.flatnonzero(modes == "maps")}):
        items = [i for i in np.flatnonzero(modes == "maps") if found[i].feature == feature]
        projection = net.project_details(pixels[items], layer, feature, mode="maps",
                                         batch_size=len(items))
        reconstructions[items], values[items] = projection.reconstructions, projection.values
    for winner, value, mode in zip(found, values, modes):
        winner.projected_value = float(value)
        winner.box = receptive_field(net, layer, winner.position, (size, size))
        winner.box_original = image_files.to_original(winner.box, winner.original_size, size,
                                                      aspect)
        if not value_matches(mode, value, winner.value):
            logging.warning("%s: %s map %d at %s was %g in pass 1 but is %g now.", winner.path,
                            layer, winner.feature, winner.position, winner.value, value)
    return reconstructions, pixels


def value_matches(mode, projected, recorded):
    """Whether pass 2's value agrees with pass 1's. In mode "maps" pass 2 reports the largest
    value of the whole map, which bounds the recorded activation from above."""
    if mode == "activation":
        return bool(np.isclose(projected, recorded, rtol=1e-4, atol=1e-6))
    return projected >= recorded * (1 - 1e-4) - 1e-6


def project_views(net, views, reading):
    """Pass 2: projects the winners of many views of one layer, `batch_size` per call.

    Winners of consecutive views share calls (a sweep of every map has hundreds of small
    views). Images are re-read, once per path within a call; each recomputed activation is
    checked against pass 1's value, and a warning names any that differ (the image changed on
    disk, or the model is not deterministic). Fills in each winner's boxes and values.

    Args:
      net: the `Deconvnet`.
      views: `(view, found)` pairs of one layer; `found` from `winners`.
      reading: how images are read, as in pass 1 (a `deconv.io.streaming.Reading`); its
        `batch_size` is the number of projections per call.

    Yields:
      `(view, found, reconstructions, pixels)` as each view completes, in order:
      `(k, size, size, 3)` float32 and uint8.
    """
    layers = {view.layer for view, _ in views}
    if len(layers) > 1:
        raise ValueError(f"project_views takes views of one layer; received {sorted(layers)}.")
    shape = (reading.size, reading.size, 3)
    items = [(number, winner) for number, (_, found) in enumerate(views) for winner in found]
    done = {number: [] for number in range(len(views))}
    view_list = [view for view, _ in views]
    next_view = 0
    for start in range(0, len(items), reading.batch_size):
        chunk = items[start:start + reading.batch_size]
        reconstructions, pixels = project_chunk(net, view_list[0].layer, view_list, chunk,
                                                reading.size, reading.aspect)
        for (number, _), reconstruction, image in zip(chunk, reconstructions, pixels):
            done[number].append((reconstruction, image))
        while next_view < len(views) and len(done[next_view]) == len(views[next_view][1]):
            results = done.pop(next_view)
            view, found = views[next_view]
            reconstructions = np.array([r for r, _ in results], np.float32)
            pixels = np.array([i for _, i in results], np.uint8)
            yield (view, found, reconstructions.reshape(-1, *shape),
                   pixels.reshape(-1, *shape))
            next_view += 1
    while next_view < len(views):  # views with no winners at all
        view, found = views[next_view]
        yield view, found, np.zeros((0, *shape), np.float32), np.zeros((0, *shape), np.uint8)
        next_view += 1
