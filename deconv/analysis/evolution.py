"""Feature evolution during training: for chosen feature maps, the strongest activation across a
set of images, projected to pixel space and cropped to its receptive field, at each of several
checkpoints of the model.

Each column is what `python -m deconv.run --feat LAYER --id N --top 1` finds with that
checkpoint's weights: for a folder, the sweep's own pass 1 (`deconv.sweeps.scan`) and pass 2
(`deconv.sweeps.pass2`, `deconv.sweeps.report.tiles`); for images in memory (the Keras callback
of `deconv.analysis.evolution_pictures`), the same top-1 rule (ties to the earlier image, then
the lower position) over the arrays.

Reference: Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks", ECCV 2014
(arXiv 1311.2901), section 4.1 and figure 4.
"""
import dataclasses
import os

import keras
import numpy as np

from deconv.core import checks
from deconv.core import names
from deconv.errors import DeconvError
from deconv.io import images as image_files
from deconv.io import render
from deconv.io import tiles
from deconv.io import streaming
from deconv.models import checkpoints as checkpoints_lib
from deconv.sweeps import pass2
from deconv.sweeps import report
from deconv.sweeps import scan as scan_lib
from deconv.sweeps import sweep as sweeps_lib
from deconv.sweeps import winners as winners_lib
from deconv.sweeps.topk import RunningTopK

@dataclasses.dataclass
class Cell:
    """One map at one checkpoint: its strongest activation (a `deconv.sweeps.pass2.Projected`:
    image, position, value, receptive-field box) and its two uint8 tiles, the reconstruction
    and the image patch, both cropped to the receptive field as a sweep's grids show them."""
    winner: pass2.Projected
    feat: np.ndarray
    patch: np.ndarray


@dataclasses.dataclass
class Evolution:
    """The strongest activation of each chosen map, checkpoint by checkpoint.

    Attributes:
      layers: the layers' Keras names.
      features: `{layer: [map ids]}`, the rows of each layer's grid, in order.
      checkpoints: the column names (checkpoint file names without their type).
      columns: per checkpoint, `{layer: [Cell per map]}`.
      counts: the image files read and skipped (a folder's; see `deconv.sweeps.report`).
    """
    layers: list
    features: dict
    checkpoints: list
    columns: list
    counts: dict = None

    def rows(self, layer):
        """`[[Cell per checkpoint] per map]` of one layer."""
        return [[column[layer][row] for column in self.columns]
                for row in range(len(self.features[layer]))]


def conv_part(model, layers):
    """`model` cut after the deepest of `layers` (a functional model sharing its layers and
    weights), so that a classifier's head is left out of the deconvnet."""
    layer_names = [layer.name for layer in model.layers]
    wanted = [names.resolve(layer, layer_names) for layer in layers]
    deepest = max(wanted, key=layer_names.index)
    if deepest == layer_names[-1]:
        return model
    try:
        return keras.Model(model.inputs, model.get_layer(deepest).output, name=model.name)
    except (AttributeError, ValueError) as error:
        raise DeconvError(f"Cannot cut model {model.name!r} after {deepest!r}: build it with an "
                          f"Input (functional or Sequential) ({error}).") from None


def layer_features(net, layers, features):
    """`{Keras layer name: [map ids] or None}`, checked."""
    layers = [layers] if isinstance(layers, str) else list(layers)
    if not layers:
        raise DeconvError("No layer given: name at least one, e.g. 'conv5_3'.")
    resolved = [net.resolve(layer) for layer in layers]
    if features is None or isinstance(features, dict):
        given = {net.resolve(k): v for k, v in (features or {}).items()}
        unknown = sorted(set(given) - set(resolved))
        if unknown:
            raise DeconvError(f"features names layers not looked at: {', '.join(unknown)}; the "
                              f"layers are {', '.join(resolved)}.")
    elif len(resolved) == 1:
        given = {resolved[0]: features}
    else:
        raise DeconvError("With several layers, give features as {layer: [map ids]} (or None "
                          "for each layer's strongest maps).")
    return {name: None if given.get(name) is None else [int(f) for f in checks.features(
        given[name], name, net.feature_count(name))] for name in resolved}


def _choose(values, maps):
    """The `maps` map ids with the largest values, strongest first (ties: lower id)."""
    values = np.asarray(values, np.float64)
    return [int(f) for f in np.lexsort((np.arange(len(values)), -values))[:maps]]


def _folder_views(net, paths, chosen, maps, reading, progress):
    """Pass 1 over a folder for every layer at once: `(views, state)`, each view a
    `(single-map Sweep, [Winner])` pair; layers without chosen maps get their `maps` strongest."""
    sweeps = [sweeps_lib.make_sweep(net, layer, feature, top=1)
              for layer, features in chosen.items()
              for feature in (features if features is not None else [sweeps_lib.EACH_MAP])]
    state = scan_lib.ScanState.fresh(net, sweeps)
    for current in scan_lib.scan(net, paths, sweeps, state, reading):
        if progress is not None:
            progress(current.cursor)
    state.check_read(len(paths))
    views = []
    for sweep, topk in zip(sweeps, state.topks):
        if sweep.feature != sweeps_lib.EACH_MAP:
            views.append((sweep, winners_lib.winners(net, sweep, topk, paths, reading.size)))
            continue
        for feature in _choose(topk.values[:, 0], maps):
            view = dataclasses.replace(sweep, feature=feature)
            views.append((view, winners_lib.winners(net, view, topk, paths, reading.size,
                                                    feature)))
    return views, state


def _folder_column(net, paths, chosen, maps, reading, display, progress):
    """One checkpoint's cells for a folder; returns `({layer: [Cell]}, state)`."""
    views, state = _folder_views(net, paths, chosen, maps, reading, progress)
    cells = {layer: [] for layer in chosen}
    for layer in chosen:
        layer_views = [(view, found) for view, found in views if view.layer == layer]
        for view, found, reconstructions, pixels in pass2.project_views(
                net, layer_views, reading, display[2]):
            feats, patches, shown = report.tiles(net, view, found, reconstructions, pixels,
                                                 reading.size, *display)
            cells[layer].append(Cell(shown[0], feats[0], patches[0]))
    return cells, state


def _array_topk(net, images, layer, batch_size):
    """Every map's strongest activation over `images`: a `RunningTopK` with one group per map."""
    count = net.feature_count(layer)
    topk = RunningTopK(count, 1)
    for start in range(0, len(images), batch_size):
        acts = net.activations(images[start:start + batch_size], layer, batch_size)
        flat = acts.reshape(len(acts), -1, count)
        best = flat.argmax(axis=1)  # (n, C): the first largest position per image and map
        values = np.take_along_axis(flat, best[:, None, :], axis=1)[:, 0, :]
        numbers = np.broadcast_to(np.arange(start, start + len(acts)), (count, len(acts)))
        topk.update(values.T, numbers, best.T)
    return topk


def _array_column(net, images, chosen, maps, batch_size, display):
    """One checkpoint's cells for images in memory, `{layer: [Cell]}`."""
    size = images.shape[1]
    labels = [f"images[{i}]" for i in range(len(images))]
    pixels = np.clip(np.round(images), 0, 255).astype(np.uint8)
    cells = {}
    for layer, features in chosen.items():
        topk = _array_topk(net, images, layer, batch_size)
        features = features if features is not None else _choose(topk.values[:, 0], maps)
        sweep = sweeps_lib.make_sweep(net, layer, sweeps_lib.EACH_MAP, top=1)
        found = [winners_lib.winners(net, dataclasses.replace(sweep, feature=feature), topk,
                                     labels, size, feature)[0] for feature in features]
        numbers = [int(topk.images[f, 0]) for f in features]
        positions = np.array([winner.position for winner in found])
        distinct = sorted(set(numbers))  # each image forwarded once
        projection = net.project_groups(images[distinct], layer,
                                        [distinct.index(n) for n in numbers], features, positions)
        cells[layer] = []
        for i, winner in enumerate(found):
            projected = pass2.describe(net, layer, winner, projection.values[i], size,
                                       (size, size), "stretch")
            view = dataclasses.replace(sweep, feature=winner.feature)
            feats, patches, shown = report.tiles(
                net, view, [projected], projection.reconstructions[i:i + 1],
                pixels[numbers[i]:numbers[i] + 1], size, *display)
            cells[layer].append(Cell(shown[0], feats[0], patches[0]))
    return cells


class ImageSet:
    """The images an evolution looks across: a folder (searched recursively), a list of image
    files, or an array `(N, S, S, 3)` of square RGB images in [0, 255] (images in memory, e.g.
    a training batch), checked for the deepest of `layers`.

    Attributes:
      paths: the image files (None for an array); `ignored`: a folder's files of other types.
      counts: after a column over files, the files read and skipped (see `report.skip_counts`).
    """

    def __init__(self, net, images, layers, reading):
        self.reading, self.counts, self.ignored, self.array = reading, None, {}, None
        deepest = max(layers, key=net.layer_names.index)
        if isinstance(images, (str, os.PathLike)):
            self.paths, self.ignored = image_files.scan_folder(
                os.fspath(images), image_files.parse_extensions(None))
        elif isinstance(images, (list, tuple)) and images and all(
                isinstance(path, (str, os.PathLike)) for path in images):
            self.paths = [os.fspath(path) for path in images]
        else:
            self.paths = None
            self.array = checks.images(images, deepest, net.steps, deepest, net.input_shape)
            if self.array.shape[1] != self.array.shape[2]:
                raise DeconvError(f"images must be square, (N, S, S, 3), as a folder's images "
                                  f"are resized to; received shape {self.array.shape}.")
        if self.paths is not None:
            net.check_image_size(deepest, reading.size)

    def __len__(self):
        return len(self.paths) if self.paths is not None else len(self.array)

    def column(self, net, chosen, maps, display, progress=None):
        """The cells of the net's current weights: `{layer: [Cell]}` for `chosen`
        (`{layer: [map ids] or None}`; None: the layer's `maps` strongest, strongest first).
        `display` is `(normalize, min_tile, crop)`; `progress(images done)` is called as it
        goes."""
        if self.paths is None:
            cells = _array_column(net, self.array, chosen, maps, self.reading.batch_size, display)
            if progress is not None:
                progress(len(self.array))
            return cells
        cells, state = _folder_column(net, self.paths, chosen, maps, self.reading, display,
                                      progress)
        self.counts = report.skip_counts(state.read, state.skipped, self.ignored)
        return cells


def check_display(normalize, min_tile, crop="auto"):
    """Returns `(normalize, min_tile, crop)` checked: how tiles are drawn (see
    `report.tiles`)."""
    if normalize not in render.NORMALISATIONS:
        raise DeconvError(f"Unknown normalize {normalize!r}. Valid: "
                          f"{', '.join(render.NORMALISATIONS)}.")
    if crop not in tiles.CROPS:
        raise DeconvError(f"Unknown crop {crop!r}. Valid: {', '.join(tiles.CROPS)}.")
    return normalize, checks.integer("min_tile", min_tile), crop


def feature_evolution(net, layers, images, *, checkpoints, features=None, maps=8,
                      reading=streaming.Reading(), normalize="symmetric", min_tile=64,
                      crop="auto", progress=None):
    """The strongest activation of chosen maps across `images`, at every checkpoint.

    Every input and every checkpoint is checked before any image is read. The net's model gets
    each checkpoint's weights in turn; its own weights are restored at the end.

    Args:
      net: the `Deconvnet` whose model the checkpoints fit (weights of layers it lacks, such as
        a classifier's head, are ignored).
      layers: a layer name, or a list of them (one pass per checkpoint serves them all).
      images: a folder, a list of image files, or a square `(N, S, S, 3)` array (see
        `ImageSet`).
      checkpoints: weight files (`deconv.models.checkpoints.CHECKPOINT_TYPES`) in column
        order, or a folder of them (natural order of their names); see
        `deconv.models.checkpoints.checkpoint_files`.
      features: the maps (rows): ids for a single layer, or `{layer: ids}`; a layer without
        ids gets its `maps` strongest at the last checkpoint, strongest first.
      reading: how files are read (`deconv.io.streaming.Reading`: size, aspect, batch size).
      normalize, min_tile, crop: how tiles are drawn (`deconv.sweeps.report.tiles`).
      progress: called as `progress(done, total)`, in images over all checkpoints.

    Returns:
      An `Evolution`.
    """
    chosen = layer_features(net, layers, features)
    checks.integer("maps", maps)
    display = check_display(normalize, min_tile, crop)
    paths = checkpoints_lib.checkpoint_files(checkpoints)
    source = ImageSet(net, images, list(chosen), reading)
    saved = [variable.numpy() for variable in net.model.weights]
    columns = [None] * len(paths)
    try:
        for path in paths:  # a bad checkpoint fails now, before the first pass
            checkpoints_lib.load_checkpoint(net.model, path)
        order = list(range(len(paths)))
        if any(ids is None for ids in chosen.values()):
            order = order[-1:] + order[:-1]  # the last checkpoint chooses the maps
        for done, number in enumerate(order):
            checkpoints_lib.load_checkpoint(net.model, paths[number])
            report_to = None if progress is None else (
                lambda count, done=done: progress(done * len(source) + count,
                                                  len(paths) * len(source)))
            columns[number] = source.column(net, chosen, maps, display, report_to)
            chosen = {layer: [cell.winner.feature for cell in cells]
                      for layer, cells in columns[number].items()}
    finally:
        for variable, value in zip(net.model.weights, saved):
            variable.assign(value)
    return Evolution(list(chosen), chosen,
                     [checkpoints_lib.checkpoint_name(path) for path in paths], columns,
                     source.counts)
