"""The live explorer's computations, with no web framework: images held by their hash, every
layer's activations computed once per image, map grids, projections with both ReLU rules, and
receptive fields. Thread-safe: the web app runs these methods in a pool of threads.

TensorFlow runs a traced graph from several threads at once, but building a layer's Keras
models and tracing its graphs touch shared caches (the `Deconvnet`'s): the
first calls of each graph (`CompileOnReuse` runs it eagerly once and traces it on its second
call) take one lock, later calls run side by side.

Reference: Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks", ECCV 2014
(arXiv 1311.2901), section 2.1 (projections) and figure 1 (a layer's maps).
"""
import collections
import dataclasses
import hashlib
import io
import math
import threading

import numpy as np
from PIL import Image
import tensorflow as tf

from deconv.core import compiled
from deconv.core import deconvnet
from deconv.core.rules.base import RELU_RULES
from deconv.core import names
from deconv.core import receptive_field as receptive_field_lib
from deconv.core import selection
from deconv.errors import DeconvError
from deconv.io import images as image_files
from deconv.io import tiles

NORMALISATIONS = ("layer", "map")  # a map grid's scale: the layer's maximum, or each map's own
WARM_CALLS = 2  # a graph's first call runs eagerly, its second traces it (CompileOnReuse)


def _check_rule(relu_rule):
    """Raises a one-line error unless `relu_rule` is a ReLU rule's name."""
    if relu_rule not in RELU_RULES:
        raise DeconvError(f"Unknown rule {relu_rule!r}. Valid: {', '.join(RELU_RULES)}.")


class Unknown(DeconvError):
    """Something the server does not hold (an image, a job): never made, or forgotten since."""


class UnknownImage(Unknown):
    """An image id the explorer does not hold (never uploaded, or evicted since)."""


class Busy(DeconvError):
    """Too much work is waiting: ask again later."""


class TooLarge(DeconvError):
    """An upload over a limit: too many bytes or pixels."""


@dataclasses.dataclass(frozen=True)
class Options:
    """What the explorer holds and accepts.

    Attributes:
      size: images are resized to `size` x `size` pixels (`aspect` says how).
      aspect: `"stretch"` or `"crop"` (see `deconv.io.images.read_image`).
      images: how many images (their pixels) are kept.
      activations: how many images' activations (every layer's) are kept.
      thumb: the largest side, in pixels, of a map in a layer's grid picture.
      max_bytes: the largest image file accepted.
      max_pixels: the most pixels an image file may have.
    """
    size: int = 224
    aspect: str = "stretch"
    images: int = 64
    activations: int = 4
    thumb: int = 48
    max_bytes: int = 20 << 20
    max_pixels: int = 50_000_000


@dataclasses.dataclass
class LiveProjection:
    """One projection: the reconstruction and what was projected.

    Attributes:
      reconstruction: `(H, W, 3)` float32, RGB, unnormalised (`deconv.to_uint8` shows it).
      value: the projected activation (mode "maps": the map's largest).
      position: its `(y, x)` in the layer's maps.
      box: its receptive field `(top, left, bottom, right)` in the image's pixels (None in
        mode "maps").
      box_effective: the smallest box holding 95 % of the projection's energy
        (`deconv.io.tiles.effective_box`; None for a projection that is zero).
    """
    reconstruction: np.ndarray
    value: float
    position: tuple
    box: tuple
    box_effective: tuple = None


@dataclasses.dataclass
class MapGrid:
    """A layer's feature maps for one image, as one grayscale picture of cells.

    Attributes:
      picture: uint8 `(rows * cell_h, columns * cell_w)`: map `u` in cell `divmod(u, columns)`.
      cell: `(cell_h, cell_w)`, the map's size or smaller (at most `Options.thumb`).
      columns: cells per row.
      strength: `(C,)` each map's largest activation.
      argmax: `(C, 2)` where it is, `(y, x)` in the maps.
    """
    picture: np.ndarray
    cell: tuple
    columns: int
    strength: np.ndarray
    argmax: np.ndarray


class _LRU:
    """A dict that keeps its `capacity` most recently used entries (not thread-safe alone)."""

    def __init__(self, capacity):
        self.capacity, self.entries = capacity, collections.OrderedDict()

    def get(self, key):
        if key not in self.entries:
            return None
        self.entries.move_to_end(key)
        return self.entries[key]

    def put(self, key, value):
        self.entries[key] = value
        self.entries.move_to_end(key)
        while len(self.entries) > self.capacity:
            self.entries.popitem(last=False)


class _EveryLayer:
    """Images -> every 4-D layer's activations, through one plain forward model."""

    def __init__(self, model):
        self.model = model

    def __call__(self, images):
        return self.model(images, training=False)


def png(pixels, compress_level=1):
    """A uint8 picture (`(H, W)` or `(H, W, 3)`) as PNG bytes (quick to write: level 1)."""
    stream = io.BytesIO()
    Image.fromarray(pixels).save(stream, format="PNG", compress_level=compress_level)
    return stream.getvalue()


def image_id(pixels):
    """An image's id: the SHA-256 of its size and pixels, 16 hex digits."""
    digest = hashlib.sha256(repr(pixels.shape).encode())
    digest.update(np.ascontiguousarray(pixels).tobytes())
    return digest.hexdigest()[:16]


class Explorer:
    """A `Deconvnet` served live: one set of graphs per ReLU rule, caches shared by every request.

    Args:
      net: the `Deconvnet`; a second one with the other ReLU rule is built on the same Keras
        model (the same variables).
      options: an `Options`.
    """

    def __init__(self, net, options=Options()):
        if options.aspect not in image_files.ASPECTS:
            raise DeconvError(f"Unknown aspect {options.aspect!r}. Valid: "
                              f"{', '.join(image_files.ASPECTS)}.")
        self.options = options
        self.nets = {relu_rule: net if net.relu_rule == relu_rule else deconvnet.Deconvnet(
            net.model, net.preprocessing.name, relu_rule) for relu_rule in RELU_RULES}
        self.net = net
        self.layers = [layer for layer in net.layer_names if len(net.step(layer).shape) == 4]
        if not self.layers:
            raise DeconvError("The model has no layer with feature maps to explore.")
        net.check_image_size(self.layers[-1], options.size, "the image size")
        self.image_size = (options.size, options.size)
        self._lock = threading.Lock()  # the caches and counters
        self._first_calls = threading.Lock()  # building and tracing graphs, one at a time
        self._calls = collections.Counter()
        self._images = _LRU(options.images)
        self._activations = _LRU(options.activations)
        self._every_layer = None
        self._preparing = set()  # (relu_rule, layer) whose graphs a `prepare` builds now

    # Images.

    def add_image(self, data):
        """Decodes an image file's bytes, resizes it, keeps it; returns `(id, original size)`.

        Raises:
          DeconvError: too many bytes or pixels, or not an image (the message says which).
        """
        limit = self.options.max_bytes
        if len(data) > limit:
            raise TooLarge(f"The file has {len(data):,} bytes, more than the {limit:,} "
                           f"allowed.")
        pixels, original, reason = image_files.decode_image(
            data, self.options.size, self.options.aspect, self.options.max_pixels)
        if reason is not None and reason.startswith(image_files.TOO_LARGE):
            raise TooLarge(f"The image is {reason}.")
        if reason is not None:
            raise DeconvError(f"Not a usable image: {reason}.")
        key = image_id(pixels)
        with self._lock:
            self._images.put(key, pixels)
        return key, original

    def image(self, key):
        """The pixels `(size, size, 3)` uint8 of image `key`."""
        with self._lock:
            pixels = self._images.get(key)
        if pixels is None:
            raise UnknownImage(f"Unknown image {key!r}: upload it again (the server keeps the "
                               f"{self.options.images} most recent images).")
        return pixels

    # Layers and maps.

    def layer(self, layer):
        """The Keras name of `layer` (either spelling), one with feature maps."""
        name = self.net.resolve(layer)
        if name not in self.layers:
            raise DeconvError(f"Layer {layer!r} has no feature maps to explore. Layers: "
                              f"{', '.join(names.short(n) for n in self.layers)}.")
        return name

    def activations(self, key, layer):
        """`layer`'s activations `(h, w, C)` for image `key`; every layer's are computed in one
        forward pass the first time the image is asked for, and kept."""
        layer = self.layer(layer)
        with self._lock:
            every = self._activations.get(key)
        if every is None:
            outputs = self.guarded(("every_layer",), self._forward_every_layer,
                                    self.image(key)[None].astype(np.float32))
            every = {name: tensor.numpy()[0] for name, tensor in outputs.items()}
            with self._lock:
                self._activations.put(key, every)
        return every[layer]

    def _forward_every_layer(self, images):
        if self._every_layer is None:
            model = self.net.activations_model(self.layers)
            self._every_layer = tf.function(_EveryLayer(model),
                                            input_signature=[compiled.IMAGES])
        return self._every_layer(images)

    def map_grid(self, key, layer, normalize="layer"):
        """Every map of `layer` for image `key`, as a `MapGrid` (grayscale, 0 at black)."""
        if normalize not in NORMALISATIONS:
            raise DeconvError(f"Unknown normalize {normalize!r}. Valid: "
                              f"{', '.join(NORMALISATIONS)}.")
        maps = self.activations(key, layer)
        height, width, count = maps.shape
        flat = maps.reshape(-1, count)
        strength, where = flat.max(axis=0), flat.argmax(axis=0)
        scale = np.full(count, strength.max()) if normalize == "layer" else strength
        cells = _to_gray(maps, scale)
        side = max(height, width)
        cell = (height, width)
        if side > self.options.thumb:
            factor = self.options.thumb / side
            cell = (max(1, round(height * factor)), max(1, round(width * factor)))
            cells = np.stack([np.asarray(Image.fromarray(cells[..., u]).resize(
                cell[::-1], Image.Resampling.BOX)) for u in range(count)], axis=-1)
        columns = min(count, 32)
        rows = math.ceil(count / columns)
        padded = np.zeros((*cell, rows * columns), np.uint8)
        padded[..., :count] = cells
        picture = padded.reshape(cell[0], cell[1], rows, columns).transpose(2, 0, 3, 1)
        return MapGrid(picture.reshape(rows * cell[0], columns * cell[1]), cell, columns,
                       strength, np.stack(np.unravel_index(where, (height, width)), axis=1))

    def one_map(self, key, layer, unit, normalize="layer"):
        """Map `unit` of `layer` for image `key` at its own size, grayscale uint8 `(h, w)`."""
        if normalize not in NORMALISATIONS:
            raise DeconvError(f"Unknown normalize {normalize!r}. Valid: "
                              f"{', '.join(NORMALISATIONS)}.")
        maps = self.activations(key, layer)
        unit = self.check_unit(layer, unit)
        scale = maps.max() if normalize == "layer" else maps[..., unit].max()
        return _to_gray(maps[..., unit:unit + 1], np.array([scale]))[..., 0]

    def check_unit(self, layer, unit):
        """Returns `unit` as an int; raises DeconvError unless it is a map of `layer`."""
        count = self.net.feature_count(layer)
        if not isinstance(unit, (int, np.integer)) or not 0 <= unit < count:
            raise DeconvError(f"Unit {unit!r} is out of range for layer "
                              f"{names.short(self.layer(layer))!r}, which has {count} maps: "
                              f"0 to {count - 1}.")
        return int(unit)

    # Projections.

    def project(self, key, layer, unit, position=None, relu_rule="deconvnet", mode="activation"):
        """Projects map `unit` of `layer` in image `key`: its strongest activation, the one at
        `position` `(y, x)`, or (mode "maps") the whole map; with `relu_rule`'s ReLU reverse.

        The same computation as `Deconvnet.project_details` (it is that call).

        Returns:
          A `LiveProjection`.
        """
        _check_rule(relu_rule)
        if mode not in selection.MODES:
            raise DeconvError(f"Unknown mode {mode!r}. Valid: activation, maps.")
        name, unit, image = self.layer(layer), self.check_unit(layer, unit), self.image(key)
        net = self.nets[relu_rule]
        found = self.guarded((relu_rule, name, mode), net.project_details, image[None], name,
                             unit, None if position is None else [position], mode)
        at = tuple(int(v) for v in found.positions[0])
        box = None
        if mode == "activation":
            box = tuple(int(v) for v in receptive_field_lib.receptive_field(
                net, name, at, self.image_size))
        effective = tiles.effective_box(found.reconstructions[0])
        return LiveProjection(found.reconstructions[0], float(found.values[0]), at, box,
                              effective)

    def receptive_field(self, layer, position):
        """The receptive field `(top, left, bottom, right)` of `position` in `layer`."""
        return tuple(int(v) for v in receptive_field_lib.receptive_field(
            self.net, self.layer(layer), position, self.image_size))

    def guarded(self, key, work, *args):
        """Runs `work(*args)`, under the first-calls lock until `key` has run `WARM_CALLS`
        times (its graphs are then built and traced)."""
        with self._lock:
            warm = self._calls[key] >= WARM_CALLS
        if warm:
            return work(*args)
        with self._first_calls:
            result = work(*args)
            with self._lock:
                self._calls[key] += 1
        return result

    def readiness(self, layer, relu_rule="deconvnet"):
        """Whether `layer`'s projection graphs with `relu_rule` are built and traced:
        `"ready"`, `"preparing"` (a `prepare` runs) or `"cold"` (its first projections will
        take seconds)."""
        name = self.layer(layer)
        _check_rule(relu_rule)
        with self._lock:
            if self._calls[(relu_rule, name, "activation")] >= WARM_CALLS:
                return "ready"
            return "preparing" if (relu_rule, name) in self._preparing else "cold"

    def start_preparing(self, layer, relu_rule="deconvnet"):
        """Marks `layer`'s graphs with `relu_rule` as being prepared, if they are cold; returns
        whether they were (the caller then runs `prepare`, e.g. in a background thread)."""
        name = self.layer(layer)
        if self.readiness(name, relu_rule) != "cold":
            return False
        with self._lock:
            if (relu_rule, name) in self._preparing:
                return False
            self._preparing.add((relu_rule, name))
        return True

    def prepare(self, layer, relu_rule="deconvnet"):
        """Builds and traces `layer`'s projection graphs with `relu_rule` (what its first
        projections would do while the user waits), on a blank image; then it is "ready"."""
        name = self.layer(layer)
        with self._lock:
            self._preparing.add((relu_rule, name))
        try:
            self.warm_up([name], [relu_rule])
        finally:
            with self._lock:
                self._preparing.discard((relu_rule, name))

    def warm_up(self, layers=None, relu_rules=RELU_RULES):
        """Builds and traces the projection graphs of `layers` (default: all) ahead of use."""
        image = np.zeros((*self.image_size, 3), np.uint8)
        key = image_id(image)
        with self._lock:
            self._images.put(key, image)
        for layer in layers or self.layers:
            for relu_rule in relu_rules:
                for _ in range(WARM_CALLS):
                    self.project(key, layer, 0, relu_rule=relu_rule)


def _to_gray(maps, scale):
    """Maps `(h, w, C)` as uint8, 0 -> black and `scale[c]` (or more) -> white; negative values
    (layers without a ReLU) are black."""
    safe = np.where(scale > 0, scale, 1.0).astype(np.float32)
    return np.clip(np.round(255 * maps / safe), 0, 255).astype(np.uint8)

