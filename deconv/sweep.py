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
    """
    layer: str
    feature: object = None
    top: int = 9
    per_image: int = 1

    @property
    def label(self):
        """The sweep's name in file names: `conv4_4`, `conv4_4_350`, `conv4_4_all`."""
        layer = names.paper_name(self.layer) or self.layer
        return layer if self.feature is None else f"{layer}_{self.feature}"


def make_sweep(net, layer, feature=None, top=9, per_image=1):
    """Returns a checked `Sweep`: all bad input is reported here, before any image is read.

    Raises:
      DeconvError: unknown layer (listing the layers), feature out of range (giving the map
        count), `top` or `per_image` below 1.
    """
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
    return Sweep(name, feature, int(top), int(per_image))


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


def candidates_fn(net, sweeps):
    """Returns a compiled function: uint8 images -> per sweep, each image's best candidates.

    For each sweep the result is `(values, indices)`, both `(groups, n * p)` with `p =
    per_image` (or fewer if the maps are smaller), image-major. Indices are flat positions
    `y * w + x` in the map, or `(y * w + x) * C + c` over all maps together.
    """
    layers = sorted({sweep.layer for sweep in sweeps})
    model = net.activation_model(layers)

    def candidates(images):
        activations = model(tf.cast(images, tf.float32), training=False)
        out = []
        for sweep in sweeps:
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

    return tf.function(candidates, input_signature=[
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
        assert position[0] < height
        found.append(Winner(rank, paths[image], int(feature), position, float(value)))
    return found


def project_winners(net, sweep, found, size, aspect="stretch", batch_size=16):
    """Pass 2: re-reads the winners' images, projects them in batched calls, fills in boxes.

    Each recomputed activation is checked against pass 1's value; a warning names any that
    differ (the image changed on disk, or the model is not deterministic).

    Returns:
      `(reconstructions, pixels)`: `(k, size, size, 3)` float32 and uint8, in `found`'s order.
    """
    pixels = []
    for winner in found:
        image, winner.original_size, reason = image_files.read_image(winner.path, size, aspect)
        if reason is not None:
            raise DeconvError(f"{winner.path} could be read in pass 1 but not now: {reason}.")
        pixels.append(image)
    pixels = np.stack(pixels)
    projection = net.project_details(pixels, sweep.layer, [w.feature for w in found],
                                     np.array([w.position for w in found]),
                                     batch_size=max(batch_size, len(found)))
    for winner, value in zip(found, projection.values):
        winner.projected_value = float(value)
        winner.box = geometry.receptive_field(net, sweep.layer, winner.position, (size, size))
        winner.box_original = image_files.to_original(winner.box, winner.original_size, size,
                                                      aspect)
        if not np.isclose(value, winner.value, rtol=1e-4, atol=1e-6):
            logging.warning("%s: %s map %d at %s was %g in pass 1 but is %g now.", winner.path,
                            sweep.label, winner.feature, winner.position, winner.value, value)
    return projection.reconstructions, pixels
