"""Pass 2, the one every engine runs (the runner, the atlas, evolution, Beam's workers): the
winners of pass 1 re-read and projected, grouped by image. Each image is read and forwarded once
for all its winners of a layer; several images' winners share one call
(`Deconvnet.project_groups`: the images' forward passes in one batch, one batched reverse) when
each has fewer than a call holds and the reverse runs over whole maps below its windows.

The results are new records (`Projected`), never fields set on pass 1's `Winner`s. A sweep's
views are assembled from what their tiles read of each projection (`Kept`), the same on one
machine as on Beam's workers.
"""
import dataclasses

from absl import logging
import numpy as np

from deconv.core.receptive_field import receptive_field
from deconv.errors import DeconvError
from deconv.io import images as image_files
from deconv.io import tiles as tiles_lib
from deconv.sweeps import winners as winners_lib

ACTIVATION = "activation"


@dataclasses.dataclass(frozen=True)
class Projected:
    """A winner of pass 1 projected in pass 2.

    Attributes:
      winner: pass 1's `deconv.sweeps.winners.Winner` (its `rank`, `path`, `feature`,
        `position` and `value` are read through this record too).
      projected_value: the activation recomputed (mode "maps": the map's largest value).
      box: the receptive field clipped to the image, `(top, left, bottom, right)`.
      original_size: the image file's `(height, width)`.
      box_original: `box` in the file's pixels (`deconv.io.images.to_original`).
      crop: what its tile shows (`deconv.io.tiles.Crop`), once a tile is drawn (`cropped`);
        None before, and in mode "maps" (the whole image).
    """
    winner: winners_lib.Winner
    projected_value: float
    box: tuple
    original_size: tuple
    box_original: list
    crop: tiles_lib.Crop = None

    rank = property(lambda self: self.winner.rank)
    path = property(lambda self: self.winner.path)
    feature = property(lambda self: self.winner.feature)
    position = property(lambda self: self.winner.position)
    value = property(lambda self: self.winner.value)

    def record(self):
        """JSON-ready, as manifests hold it: pass 1's fields, then pass 2's and the tile's."""
        crop = self.crop or tiles_lib.Crop(None, None, None)
        fields = {**dataclasses.asdict(self.winner), "box": self.box,
                  "projected_value": self.projected_value, "original_size": self.original_size,
                  "box_original": self.box_original, "box_effective": crop.effective,
                  "crop": crop.kind, "crop_box": crop.box}
        return {key: list(value) if isinstance(value, tuple) else value
                for key, value in fields.items()}

    @classmethod
    def from_record(cls, record):
        """The `Projected` of a `record()` (pass 2's results handed back by Beam's workers)."""
        def tupled(value):
            return None if value is None else tuple(value)

        winner = winners_lib.Winner(record["rank"], record["path"], record["feature"],
                                    tuple(record["position"]), record["value"])
        crop = (None if record["crop"] is None else tiles_lib.Crop(
            record["crop"], tupled(record["crop_box"]), tupled(record["box_effective"])))
        return cls(winner, record["projected_value"], tuple(record["box"]),
                   tuple(record["original_size"]), record["box_original"], crop)


def describe(net, layer, winner, value, size, original_size, aspect):
    """The `Projected` of `winner` (of `layer`) whose recomputed activation is `value`, in an
    image read at `size` with `aspect` from a file of `original_size`."""
    box = receptive_field(net, layer, winner.position, (size, size))
    return Projected(winner, float(value), box, tuple(original_size),
                     image_files.to_original(box, original_size, size, aspect))


def cropped(net, layer, projected, reconstruction, size, kind):
    """`(projected with its tile's crop, its unclipped receptive field)`: the crop `kind`
    (`deconv.io.tiles.CROPS`) applied to `reconstruction`, `(size, size, 3)`."""
    window = receptive_field(net, layer, projected.position, (size, size), clip=False)
    crop = tiles_lib.choose(kind, window, projected.box, reconstruction, (size, size))
    return dataclasses.replace(projected, crop=crop), window


def group_by_image(found):
    """Returns `{path: [index into found, ...]}` in order of first appearance."""
    groups = {}
    for number, winner in enumerate(found):
        groups.setdefault(winner.path, []).append(number)
    return groups


def _calls(groups, batch_size, share=True):
    """Cuts `[(path, numbers)]` into calls of at most `batch_size` winners: several images'
    winners share a call (if `share`), an image with more winners than that spans several calls.

    Yields:
      `[(path, numbers)]` per call, each image's part of the call in order.
    """
    call, filled = [], 0
    for path, numbers in groups:
        for start in range(0, len(numbers), batch_size):
            part = numbers[start:start + batch_size]
            if call and (filled + len(part) > batch_size or not share):
                yield call
                call, filled = [], 0
            call.append((path, part))
            filled += len(part)
    if call:
        yield call


@dataclasses.dataclass(frozen=True)
class Part:
    """One image's share of one call of pass 2.

    Attributes:
      numbers: indices into the winners given to `project`.
      projected: their `Projected` records, in that order.
      reconstructions: `(n, size, size, 3)` float32; image: `(size, size, 3)` uint8.
    """
    numbers: list
    projected: list
    reconstructions: np.ndarray
    image: np.ndarray


def project(net, layer, found, size, aspect, batch_size, modes=None, share="auto"):
    """Pass 2: projects `Winner`s of one layer image by image, in bounded memory.

    Each image is read once. Up to `batch_size` winners are projected per call, several images'
    winners sharing a call when each has fewer and the reverse leaves the receptive-field
    windows for whole maps.

    Args:
      net: the `Deconvnet`.
      layer: the layer's name.
      found: `Winner`s (any order, any sweeps of `layer`).
      size, aspect: how the images were read in pass 1.
      batch_size: the most projections in one reverse.
      modes: each winner's mode, `"activation"` (default) or `"maps"` (its whole map).
      share: whether several images' winners share a call: `"auto"` where the reverse leaves
        its windows for whole maps (the atlas), True always (a sweep's views).

    Yields:
      A `Part` per image and call.

    Raises:
      DeconvError: an image that was read in pass 1 cannot be read now.
    """
    modes = np.array(modes if modes is not None else [ACTIVATION] * len(found))
    groups = group_by_image(found)
    # Images share calls where the reverse leaves the windows for whole maps, which a batch
    # amortises; windows all the way to the pixels ran slower shared, measured on ResNet50's
    # conv2_block3_out (0.32 G per projection shared, 0.12 one image a call; BENCHMARKS.md).
    if share == "auto":
        share = not net.window_reaches_pixels(layer, (size, size))
    images = {}
    for call in _calls(groups.items(), batch_size, share):
        paths = list(dict.fromkeys(path for path, _ in call))
        images = {path: images[path] if path in images else _read(path, size, aspect)
                  for path in paths}
        numbers = [n for _, part in call for n in part]
        sources = np.array([paths.index(path) for path, part in call for _ in part])
        reconstructions, values = _project_call(
            net, layer, [images[path][0] for path in paths], sources,
            [found[n] for n in numbers], modes[numbers])
        start = 0
        for path, part in call:
            end = start + len(part)
            image, original_size = images[path]
            yield Part(part, [describe(net, layer, found[n], value, size, original_size, aspect)
                              for n, value in zip(part, values[start:end])],
                       reconstructions[start:end], image)
            start = end


def _project_call(net, layer, images, sources, found, modes):
    """One call's `(reconstructions, values)`: the activations in one `project_groups`, each
    whole map (mode "maps") by `project_details`, one call per map."""
    images = np.stack(images)
    reconstructions = np.zeros((len(found), *images.shape[1:]), np.float32)
    values = np.zeros(len(found), np.float32)
    single = np.flatnonzero(modes == ACTIVATION)
    if single.size:  # each image forwarded once, however many of its winners the call holds
        used = sorted(set(sources[single]))
        projection = net.project_groups(
            images[used], layer, [used.index(s) for s in sources[single]],
            [found[i].feature for i in single], np.array([found[i].position for i in single]))
        reconstructions[single], values[single] = projection.reconstructions, projection.values
    whole = np.flatnonzero(modes != ACTIVATION)
    for feature in sorted({found[i].feature for i in whole}):
        items = [i for i in whole if found[i].feature == feature]
        projection = net.project_details(images[sources[items]], layer, feature, mode="maps",
                                         batch_size=len(items))
        reconstructions[items], values[items] = projection.reconstructions, projection.values
    return reconstructions, values


def _read(path, size, aspect):
    """`(image, original size)` of `path` as pass 1 read it."""
    image, original_size, reason = image_files.read_image(path, size, aspect)
    if reason is not None:
        raise DeconvError(f"{path} could be read in pass 1 but not now: {reason}.")
    return image, original_size


@dataclasses.dataclass(frozen=True)
class Kept:
    """What a sweep's tiles read of one projection (`deconv.sweeps.report.tiles`): `box`
    `(top, left, bottom, right)` of the whole picture, and the reconstruction and image
    inside it (the whole picture in mode "maps")."""
    projected: Projected
    box: tuple
    reconstruction: np.ndarray
    image: np.ndarray

    def meta(self):
        """JSON-ready, without the arrays (Beam's workers hand these back)."""
        return {"kept": list(self.box), **self.projected.record()}

    @classmethod
    def from_meta(cls, meta, reconstruction, image):
        return cls(Projected.from_record(meta), tuple(meta["kept"]), reconstruction, image)


def keep(net, layer, projected, reconstruction, image, size, crop, mode=ACTIVATION):
    """The `Kept` of one projection: its receptive field, every nonzero pixel of it (so that
    the effective box of the tile is the same) and the box the `crop` rule shows, clipped to
    the image; the whole picture in mode "maps" or without a `crop` rule (None)."""
    if mode != ACTIVATION or crop is None:
        box = (0, 0, size, size)
    else:
        shown = cropped(net, layer, projected, reconstruction, size, crop)[0].crop.box
        boxes = [tuple(projected.box), (max(shown[0], 0), max(shown[1], 0),
                                        min(shown[2], size), min(shown[3], size))]
        rows, columns = np.nonzero(np.any(reconstruction != 0, axis=-1))
        if rows.size:
            boxes.append((rows.min(), columns.min(), rows.max() + 1, columns.max() + 1))
        box = tuple(int(f(edge)) for f, edge in zip((min, min, max, max), zip(*boxes)))
    top, left, bottom, right = box
    return Kept(projected, box, reconstruction[top:bottom, left:right],
                image[top:bottom, left:right])


def whole(kept, size):
    """`(projected, reconstructions, pixels)` of `Kept`s: the records, and the pictures laid
    back in place, zero outside what each tile reads, `(n, size, size, 3)` float32 and uint8."""
    reconstructions = np.zeros((len(kept), size, size, 3), np.float32)
    pixels = np.zeros((len(kept), size, size, 3), np.uint8)
    for index, one in enumerate(kept):
        top, left, bottom, right = one.box
        reconstructions[index, top:bottom, left:right] = one.reconstruction
        pixels[index, top:bottom, left:right] = one.image
    return [one.projected for one in kept], reconstructions, pixels


# The most winners whose projections pass 2 of a sweep holds at once (what their tiles read):
# views are projected in consecutive runs of at most this many winners, so a sweep of every map
# (hundreds of views, each image holding winners of many) keeps a bounded number in memory.
HELD_WINNERS = 256


def _runs_of_views(views, limit):
    """Consecutive runs of `views` with at most `limit` winners in all (a larger view alone)."""
    run, count = [], 0
    for view, found in views:
        if run and count + len(found) > limit:
            yield run
            run, count = [], 0
        run.append((view, found))
        count += len(found)
    if run:
        yield run


def project_views(net, views, reading, crop, held=HELD_WINNERS):
    """Pass 2 of a sweep's views of one layer: their winners projected image by image
    (`project`), each view handed on as soon as its winners are all done.

    Views are taken in consecutive runs of at most `held` winners (`HELD_WINNERS`); within a
    run each image is forwarded once for all its winners, and what is kept of the projections
    waits for its view to complete, so memory holds at most a run's tiles.
    Each recomputed activation is checked against pass 1's value, and a warning names any
    that differ (the image changed on disk, or the model is not deterministic).

    Args:
      net: the `Deconvnet`.
      views: `(view, found)` pairs of one layer; `found` from `deconv.sweeps.winners.winners`.
      reading: how images are read, as in pass 1 (a `deconv.io.streaming.Reading`); its
        `batch_size` is the number of projections per call.
      crop: the crop rule the tiles will use (`deconv.io.tiles.CROPS`): what of each
        projection is kept until its view is done (None: the whole pictures).
      held: the most winners projected before their views are handed on.

    Yields:
      `(view, projected, reconstructions, pixels)` per view, in order: `Projected` records,
      `(k, size, size, 3)` float32 and uint8.
    """
    layers = {view.layer for view, _ in views}
    if len(layers) > 1:
        raise ValueError(f"project_views takes views of one layer; received {sorted(layers)}.")
    for run in _runs_of_views(views, held):
        yield from _project_run(net, run, reading, crop)


def _project_run(net, views, reading, crop):
    """`project_views` of one run of views."""
    found = [winner for _, winners in views for winner in winners]
    modes = [view.mode for view, winners in views for _ in winners]
    # A sweep's images always share calls, as its pass 2 always did: the last bits of the
    # recomputed values (in the manifests) depend on the images forwarded together.
    parts = iter(()) if not found else project(
        net, views[0][0].layer, found, reading.size, reading.aspect, reading.batch_size, modes,
        share=True)
    kept, start = {}, 0
    for view, winners in views:
        numbers = range(start, start + len(winners))
        start += len(winners)
        while any(n not in kept for n in numbers):
            part = next(parts)
            for n, projected, reconstruction in zip(part.numbers, part.projected,
                                                    part.reconstructions):
                kept[n] = keep(net, view.layer, projected, reconstruction, part.image,
                               reading.size, crop, modes[n])
        done = [kept.pop(n) for n in numbers]
        _warn_mismatches(view, [one.projected for one in done])
        yield (view, *whole(done, reading.size))


def _warn_mismatches(view, projected):
    for one in projected:
        if not winners_lib.value_matches(view.mode, one.projected_value, one.value):
            logging.warning("%s: %s map %d at %s was %g in pass 1 but is %g now.", one.path,
                            view.layer, one.feature, one.position, one.value,
                            one.projected_value)
