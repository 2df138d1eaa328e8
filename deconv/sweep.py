"""Dataset sweeps: the strongest activations across image folders, then their projections.

Pass 1 (`scan`) streams the images once through a plain forward model (Keras's own max-pooling,
no switches) that outputs every layer the sweeps need, and keeps a running top-k per sweep in
bounded memory. Pass 2 (`project_winners`) re-reads only the winning images and projects them in
one batched call, checking that each recomputed activation equals the one recorded in pass 1.

Reference: Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks", ECCV 2014
(arXiv 1311.2901), section 4: the top 9 activations of a feature map across a dataset.
"""
import dataclasses

from absl import logging
import numpy as np
import tensorflow as tf

from deconv import dataset
from deconv import images as image_files
from deconv import names
from deconv import geometry
from deconv.errors import DeconvError
from deconv.topk import RunningTopK

EACH_MAP = "all"  # a sweep's feature: the top-k of every map of the layer, one group per map


@dataclasses.dataclass(frozen=True)
class Sweep:
    """What one sweep looks for.

    Attributes:
      layer: the layer's Keras name (see `make_sweep`).
      feature: a map id; None for the strongest activations over all maps together; or
        `EACH_MAP` for a top-k of every map.
      top: how many activations to keep (per map, for `EACH_MAP`).
      per_image: how many of them may come from one image.
      mode: what pass 2 projects for each: `"activation"` (that activation alone) or `"maps"`
        (its whole feature map in that image).
    """
    layer: str
    feature: object = None
    top: int = 9
    per_image: int = 1
    mode: str = "activation"

    @property
    def label(self):
        """The sweep's name in file names: `conv4_4`, `conv4_4_350`, `conv4_4_all`; `_maps`
        is appended in mode "maps"."""
        layer = names.short(self.layer)
        label = layer if self.feature is None else f"{layer}_{self.feature}"
        return f"{label}_maps" if self.mode == "maps" else label


def make_sweep(net, layer, feature=None, top=9, per_image=1, mode="activation"):
    """Returns a checked `Sweep`: all bad input is reported here, before any image is read.

    Raises:
      DeconvError: unknown layer (listing the layers), feature out of range (giving the map
        count), `top` or `per_image` below 1, unknown mode.
    """
    if mode not in ("activation", "maps"):
        raise DeconvError(f"Unknown mode {mode!r}. Valid: activation, maps.")
    name = net.resolve(layer)
    count = net.feature_count(name)
    if feature is not None and feature != EACH_MAP:
        if isinstance(feature, bool) or not isinstance(feature, (int, np.integer)):
            raise DeconvError(f"A feature must be a map id, None or {EACH_MAP!r}; received "
                              f"{feature!r}.")
        if not 0 <= feature < count:
            raise DeconvError(f"Feature {feature} is out of range for layer {layer!r}, which has "
                              f"{count} feature maps (valid ids: 0 to {count - 1}).")
        feature = int(feature)
    for flag, value in (("top", top), ("per_image", per_image)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise DeconvError(f"{flag} must be an integer of at least 1; received {value!r}.")
    return Sweep(name, feature, int(top), int(per_image), mode)


def check_settings(net, sweeps, size, batch_size):
    """Raises DeconvError if `size` is too small for a sweep's layer, or a count is below 1."""
    if size < 1 or batch_size < 1:
        raise DeconvError(f"size and batch_size must be at least 1; received {size} and "
                          f"{batch_size}.")
    for sweep in sweeps:
        index = net.layer_names.index(sweep.layer)
        if min(net.map_size(sweep.layer, (size, size))) < 1:
            side = geometry.min_image_size(net.steps, index)
            raise DeconvError(f"--size {size} is too small for layer {sweep.layer!r}: it needs "
                              f"at least {side}.")


def groups(net, sweep):
    """Returns how many running top-k lists a sweep keeps: one, or one per map."""
    return net.feature_count(sweep.layer) if sweep.feature == EACH_MAP else 1


@dataclasses.dataclass
class ScanState:
    """Pass 1's progress: enough to resume a sweep where it stopped.

    Attributes:
      topks: one `RunningTopK` per sweep.
      cursor: how many paths have been consumed.
      read: how many of them were read.
      skipped: `(path, reason)` of each file that could not be read.
    """
    topks: list
    cursor: int = 0
    read: int = 0
    skipped: list = dataclasses.field(default_factory=list)

    @classmethod
    def fresh(cls, net, sweeps):
        return cls([RunningTopK(groups(net, sweep), sweep.top) for sweep in sweeps])


class _Candidates:
    """uint8 images -> per sweep, each image's best `(values, indices)`; see `candidates_fn`.

    A callable object, not a closure: see `deconv.deconvnet`'s note on retracing warnings.
    """

    def __init__(self, model, sweeps):
        self.model, self.sweeps = model, sweeps

    def __call__(self, images):
        activations = self.model(tf.cast(images, tf.float32), training=False)
        out = []
        for sweep in self.sweeps:
            acts = activations[sweep.layer]
            n = tf.shape(acts)[0]
            if sweep.feature == EACH_MAP:
                flat = tf.reshape(tf.transpose(acts, [3, 0, 1, 2]), [tf.shape(acts)[3], n, -1])
            elif sweep.feature is None:
                flat = tf.reshape(acts, [1, n, -1])
            else:
                flat = tf.reshape(acts[..., sweep.feature], [1, n, -1])
            values, indices = tf.math.top_k(flat, k=tf.minimum(sweep.per_image,
                                                               tf.shape(flat)[2]))
            out.append((tf.reshape(values, [tf.shape(flat)[0], -1]),
                        tf.reshape(indices, [tf.shape(flat)[0], -1])))
        return out


def candidates_fn(net, sweeps):
    """Returns a compiled function: uint8 images -> per sweep, each image's best candidates.

    One forward model outputs every layer the sweeps need, so one forward pass serves them all.
    For each sweep the result is `(values, indices)`, both `(groups, n * p)` with `p =
    per_image` (or fewer if the maps are smaller), image-major. Indices are flat positions
    `y * w + x` in the map, or `(y * w + x) * C + c` over all maps together.
    """
    model = net.activation_model(sorted({sweep.layer for sweep in sweeps}))
    return tf.function(_Candidates(model, sweeps), input_signature=[
        tf.TensorSpec([None, None, None, 3], tf.uint8)])


def scan(net, paths, sweeps, state, size, aspect="stretch", batch_size=16):
    """Pass 1: streams `paths[state.cursor:]` and updates `state` batch by batch.

    A generator: it yields `state` after each batch, so the caller can show progress and save
    checkpoints; unreadable files are logged and recorded in `state.skipped`.
    """
    if state.cursor >= len(paths):
        return
    run = candidates_fn(net, sweeps)
    for numbers, pixels, reasons in dataset.image_dataset(paths, size, aspect, batch_size,
                                                          state.cursor):
        numbers, reasons = numbers.numpy(), reasons.numpy()
        good = reasons == b""
        for number, reason in zip(numbers[~good], reasons[~good]):
            logging.warning("Skipping %s: %s", paths[number], reason.decode())
            state.skipped.append((paths[number], reason.decode()))
        for topk, (values, indices) in zip(state.topks, run(pixels)):
            values, indices = values.numpy(), indices.numpy()
            per_image = values.shape[1] // len(numbers)
            keep = np.repeat(good, per_image)
            image_numbers = np.broadcast_to(np.repeat(numbers, per_image), values.shape)
            topk.update(values[:, keep], image_numbers[:, keep], indices[:, keep])
        state.cursor = int(numbers[-1]) + 1
        state.read += int(good.sum())
        yield state


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


def _project_chunk(net, layer, views, chunk, size, aspect):
    """Projects one chunk of `(view number, winner)` items; returns reconstructions, pixels."""
    found = [winner for _, winner in chunk]
    pixels = _read_winners(found, size, aspect)
    reconstructions = np.zeros(pixels.shape, np.float32)
    values = np.zeros(len(chunk), np.float32)
    modes = np.array([views[v].mode for v, _ in chunk])
    single = np.flatnonzero(modes == "activation")
    if single.size:
        projection = net.project_details(
            pixels[single], layer, [found[i].feature for i in single],
            np.array([found[i].position for i in single]), batch_size=len(single))
        reconstructions[single], values[single] = projection.reconstructions, projection.values
    for feature in sorted({found[i].feature for i in np.flatnonzero(modes == "maps")}):
        items = [i for i in np.flatnonzero(modes == "maps") if found[i].feature == feature]
        projection = net.project_details(pixels[items], layer, feature, mode="maps",
                                         batch_size=len(items))
        reconstructions[items], values[items] = projection.reconstructions, projection.values
    for winner, value, mode in zip(found, values, modes):
        winner.projected_value = float(value)
        winner.box = geometry.receptive_field(net, layer, winner.position, (size, size))
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


def project_views(net, views, size, aspect="stretch", batch_size=16):
    """Pass 2: projects the winners of many views of one layer, `batch_size` per call.

    Winners of consecutive views share calls (a sweep of every map has hundreds of small
    views). Images are re-read, once per path within a call; each recomputed activation is
    checked against pass 1's value, and a warning names any that differ (the image changed on
    disk, or the model is not deterministic). Fills in each winner's boxes and values.

    Args:
      net: the `Deconvnet`.
      views: `(view, found)` pairs of one layer; `found` from `winners`.
      size, aspect: how images are read, as in pass 1.
      batch_size: projections per call.

    Yields:
      `(view, found, reconstructions, pixels)` as each view completes, in order:
      `(k, size, size, 3)` float32 and uint8.
    """
    layers = {view.layer for view, _ in views}
    if len(layers) > 1:
        raise ValueError(f"project_views takes views of one layer; received {sorted(layers)}.")
    items = [(number, winner) for number, (_, found) in enumerate(views) for winner in found]
    done = {number: [] for number in range(len(views))}
    view_list = [view for view, _ in views]
    next_view = 0
    for start in range(0, len(items), batch_size):
        chunk = items[start:start + batch_size]
        reconstructions, pixels = _project_chunk(net, view_list[0].layer, view_list, chunk, size,
                                                 aspect)
        for (number, _), reconstruction, image in zip(chunk, reconstructions, pixels):
            done[number].append((reconstruction, image))
        while next_view < len(views) and len(done[next_view]) == len(views[next_view][1]):
            results = done.pop(next_view)
            view, found = views[next_view]
            reconstructions = np.array([r for r, _ in results], np.float32)
            pixels = np.array([i for _, i in results], np.uint8)
            yield (view, found, reconstructions.reshape(-1, size, size, 3),
                   pixels.reshape(-1, size, size, 3))
            next_view += 1
    while next_view < len(views):  # views with no winners at all
        view, found = views[next_view]
        yield view, found, np.zeros((0, size, size, 3), np.float32), np.zeros((0, size, size, 3),
                                                                               np.uint8)
        next_view += 1
