"""The atlas's two passes. Pass 1: one forward pass over the dataset finds the top-k of every
map of every layer still to do (`deconv.sweeps.scan`, resumable), and keeps each layer's result
in its own file. Pass 2, layer by layer: the winners grouped by image, each image's winners
projected together (`deconv.sweeps.pass2`), cropped to their receptive fields and drawn as
strips and thumbnail sheets, then the layer's record written last."""
import os

from absl import logging

from deconv.core import names
from deconv.io import tiles as tiles_lib
from deconv.sweeps import checkpoint
from deconv.sweeps import pass2
from deconv.sweeps import runner
from deconv.sweeps import scan as scan_lib
from deconv.sweeps import sweep as sweeps_lib
from deconv.sweeps import winners as winners_lib
from deconv.unit_atlas import files
from deconv.unit_atlas import pictures

PER_SHEET, COLUMNS = 256, 16  # thumbnail sheets: a 512-unit layer is two requests


def layer_sweep(net, layer, settings):
    """The sweep of every map of `layer` that the atlas runs (checked: `make_sweep`)."""
    return sweeps_lib.make_sweep(net, layer, sweeps_lib.EACH_MAP, settings.top,
                                 settings.per_image)


def scan_layers(net, paths, layers, settings, out_dir, fingerprint, on_batch=None):
    """Pass 1 for `layers` (Keras names), all in one forward pass; resumable.

    The state is saved in `out_dir` every `settings.checkpoint_every` batches (a killed run
    resumes it; a state of other layers is discarded). At the end each layer's top-k is saved
    to its own file, for pass 2, and the state is removed.

    Returns:
      `(state, seconds, files_scanned)`: the `ScanState` (one top-k per layer, in order).
    """
    sweeps = [layer_sweep(net, layer, settings) for layer in layers]
    state_fingerprint = checkpoint.fingerprint(
        {"atlas": fingerprint, "layers": list(layers), "batch_size": settings.batch_size}, [])
    path = files.inside(out_dir, files.STATE)
    saved = checkpoint.load(path)
    state = scan_lib.ScanState.fresh(net, sweeps)
    if saved is not None and saved[0] == state_fingerprint:
        state = saved[1]
        logging.warning("Resuming pass 1 of %s at image %d of %d.", out_dir, state.cursor,
                        len(paths))
    elif saved is not None:
        logging.warning("Discarding a saved pass 1 of other layers in %s.", out_dir)
    start = state.cursor
    on_batch = runner.saving(path, state_fingerprint, settings.checkpoint_every, on_batch)
    state, seconds = runner.scan_all(net, paths, sweeps, settings, state, on_batch)
    save_scans(layers, state, out_dir, fingerprint)
    if os.path.exists(path):
        os.remove(path)
    return state, seconds, state.cursor - start


def save_scans(layers, state, out_dir, fingerprint):
    """Saves each layer's top-k of a finished pass 1 (`state`, one top-k per layer) to its own
    file, for pass 2 (`load_scan`)."""
    for layer, topk in zip(layers, state.topks):
        one = scan_lib.ScanState([topk], state.cursor, state.read, state.skipped)
        checkpoint.save(files.inside(out_dir, files.layer_scan(names.short(layer))), one,
                        fingerprint)


def load_scan(out_dir, layer, fingerprint):
    """A layer's saved pass-1 result (a `ScanState` with one top-k), or None."""
    saved = checkpoint.load(files.inside(out_dir, files.layer_scan(names.short(layer))))
    return saved[1] if saved is not None and saved[0] == fingerprint else None


def _entry(projected, relative, number):
    crop = projected.crop
    return {"image": relative, "source": number, "position": list(projected.position),
            "value": projected.value, "box": list(projected.box),
            "box_original": list(projected.box_original),
            "box_effective": None if crop.effective is None else list(crop.effective),
            "crop": crop.kind, "crop_box": list(crop.box)}


def layer_winners(net, layer, topk, paths, settings):
    """The `Winner`s of every unit of `layer` in pass 1's `topk`, unit by unit."""
    sweep = layer_sweep(net, layer, settings)
    return [w for unit in range(net.feature_count(layer)) for w in winners_lib.winners(
        net, sweep, topk, paths, settings.size, unit)]


def tiled_groups(net, layer, found, settings):
    """Projects `found` (`Winner`s of `layer`) image by image (`deconv.sweeps.pass2.project`)
    and draws each one's tiles.

    Yields:
      `(chunk, projected, tiles, image)`: indices into `found`, their `Projected` records (with
      their tiles' crops), each one's `(projection, patch)` tiles (`pictures.entry_tiles`),
      and their image, `(size, size, 3)` uint8.
    """
    size = (settings.size, settings.size)
    stride = tiles_lib.stride_of(size, net.map_size(layer, size))
    for part in pass2.project(net, layer, found, settings.size, settings.aspect,
                              settings.project_batch):
        shown, tiles = [], []
        for projected, reconstruction in zip(part.projected, part.reconstructions):
            projected, window = pass2.cropped(net, layer, projected, reconstruction,
                                              settings.size, settings.crop)
            shown.append(projected)
            tiles.append(pictures.entry_tiles(reconstruction, part.image, projected.crop,
                                              tiles_lib.cell_of(window, stride),
                                              settings.normalize, settings.tile))
        yield part.numbers, shown, tiles, part.image


def project_layer(net, layer, scanned, paths, root, settings, out_dir, on_projected=None,
                  projected=None):
    """Pass 2 of one layer: projects every unit's winners, image by image, and writes the
    unit strips, the thumbnail sheets and the source images.

    Args:
      scanned: the layer's `ScanState` from pass 1.
      root: the dataset's folder (entries name images relative to it).
      on_projected: called as `on_projected(done, total)` projections.
      projected: `projected(net, layer, found)` yields what `tiled_groups` yields (another
        engine's projections); default: `tiled_groups`, here.

    Returns:
      The layer's record, JSON-ready (without its fingerprint and timings), and its notes.
    """
    found = layer_winners(net, layer, scanned.topks[0], paths, settings)
    number_of = {path: number for number, path in enumerate(paths)}
    shown, tiles = [None] * len(found), [None] * len(found)
    done = 0
    groups = (projected(net, layer, found) if projected is not None
              else tiled_groups(net, layer, found, settings))
    for chunk, chunk_shown, chunk_tiles, image in groups:
        for n, one, pair in zip(chunk, chunk_shown, chunk_tiles):
            shown[n], tiles[n] = one, pair
        source = files.inside(out_dir, files.source(number_of[found[chunk[0]].path]))
        if not os.path.exists(source):
            pictures.write_jpeg(source, image)
        done += len(chunk)
        if on_projected is not None:
            on_projected(done, len(found))
    return _write_layer(net, layer, shown, tiles, number_of, root, settings, out_dir)


def _write_layer(net, layer, found, tiles, number_of, root, settings, out_dir):
    name = names.short(layer)
    per_unit = [[] for _ in range(net.feature_count(layer))]
    mismatched = 0
    for winner, pair in zip(found, tiles):
        per_unit[winner.feature].append((winner, pair))
        mismatched += not winners_lib.value_matches("activation", winner.projected_value,
                                                    winner.value)
    cells = []
    for unit, entries in enumerate(per_unit):
        if not entries:
            cells.append(None)
            continue
        projections, patches = zip(*(pair for _, pair in entries))
        pictures.write_jpeg(files.inside(out_dir, files.strip_pattern(name).format(unit=unit)),
                            pictures.strip(projections, patches))
        cells.append(pictures.thumbnail(projections[0], patches[0], settings.thumb))
    sheets = pictures.sheets(cells, PER_SHEET, COLUMNS, settings.thumb)
    for sheet_number, sheet in enumerate(sheets):
        pictures.write_jpeg(files.inside(out_dir, files.sprite(name, sheet_number)), sheet)
    notes = ([f"{mismatched} of {len(found)} recomputed activations differ from pass 1's: "
              f"files changed, or the model is not deterministic."] if mismatched else [])
    return {
        "name": name, "keras_layer": layer, "units": len(per_unit),
        "map_size": list(net.map_size(layer, (settings.size, settings.size))),
        "page": files.page(name), "strips": files.strip_pattern(name), "maximized": None,
        "sprites": {"files": [files.sprite(name, n) for n in range(len(sheets))],
                    "per_sheet": PER_SHEET, "columns": COLUMNS, "thumb": settings.thumb},
        "top": [[_entry(w, os.path.relpath(w.path, root), number_of[w.path])
                 for w, _ in entries] for entries in per_unit],
        "notes": notes,
        "image_dependence": dependence_record(net, layer),
    }


def dependence_record(net, layer):
    """What ties the layer's projections to the image (`Deconvnet.image_dependence`),
    JSON-ready."""
    found = net.image_dependence(layer)
    return {"rule": found.relu_rule, "switches": list(found.switches), "paths": found.paths,
            "gradients": len(found.gradients), "independent": found.independent,
            "verdict": found.verdict}
