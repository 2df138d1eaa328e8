"""Building an atlas: the layers checked before any image is read, pass 1 for the layers not
done yet, pass 2 layer by layer (each layer recorded as it finishes, so a killed run, or a run
that adds layers, redoes only what is missing), the maximization images, then the site and
`atlas.json` (written last)."""
import dataclasses
import os
import time

from absl import logging

from deconv import limits
from deconv.core import names
from deconv.errors import DeconvError
from deconv.io import outputs
from deconv.io import streaming
from deconv.sweeps import checkpoint
from deconv.unit_atlas import files
from deconv.unit_atlas import maximized
from deconv.unit_atlas import passes
from deconv.unit_atlas import records
from deconv.unit_atlas import site

ALL = "all"  # every convolutional layer of the model
RANGES = {"tile": (8, 512), "thumb": (8, 256), "project_batch": (1, 4096)}


@dataclasses.dataclass(frozen=True)
class AtlasSettings:
    """How an atlas is made.

    Attributes:
      top: entries per unit; per_image: how many of them may come from one image.
      size, aspect: how images are read (see `deconv.io.images.read_image`).
      batch_size: images per forward batch in pass 1.
      project_batch: projections per reverse in pass 2 (one image's winners at a time).
      normalize: display normalisation of projections (`deconv.io.render.to_uint8`).
      crop: what a tile shows (`deconv.io.tiles.CROPS`).
      tile: side of a projection or patch in a unit's strip; thumb: of a thumbnail.
      checkpoint_every: pass 1's state is saved every this many batches.
      maximize: also an activation-maximization image per unit.
    """
    top: int = 9
    per_image: int = 1
    size: int = 224
    aspect: str = "stretch"
    batch_size: int = 16
    project_batch: int = 32
    normalize: str = "symmetric"
    tile: int = 96
    thumb: int = 64
    checkpoint_every: int = 10
    maximize: bool = False
    crop: str = "auto"

    @property
    def reading(self):
        return streaming.Reading(self.size, self.aspect, self.batch_size)


@dataclasses.dataclass
class AtlasOutcome:
    """What `build_atlas` did: the atlas (`atlas.json`'s content), its index page, the layers
    made now and those reused, pass 1's files and seconds, pass 2's seconds per layer."""
    atlas: dict
    index: str
    made: list
    reused: list
    files_scanned: int = 0
    scan_seconds: float = 0.0
    project_seconds: dict = dataclasses.field(default_factory=dict)
    maximize_seconds: float = 0.0


def choose_layers(net, layers, settings):
    """Returns the Keras names of `layers` (`"all"`, or names in either spelling, in model
    order), after checking them and the settings: nothing is read before this passes.

    Raises:
      DeconvError: an unknown layer (the message lists the valid ones), images too small for
        a layer, or a setting outside its range.
    """
    for name, (low, high) in RANGES.items():
        limits.check(name, getattr(settings, name), bounds=(low, high))
    limits.check("checkpoint_every", settings.checkpoint_every)
    if layers == ALL or layers == [ALL]:
        chosen = net.projectable(net.conv_layers)
        left_out = [names.short(name) for name in net.conv_layers if name not in chosen]
        if left_out:
            logging.warning("--layers all leaves out %s: projecting them would reverse a layer "
                            "deconv cannot reverse.", ", ".join(left_out))
        if not chosen:
            raise DeconvError(f"The model has no convolutional layer; name layers from: "
                              f"{', '.join(names.display_names(net.layer_names))}.")
    else:
        wanted = {net.resolve(layer) for layer in layers}
        chosen = [name for name in net.layer_names if name in wanted]
    for layer in chosen:
        passes.layer_sweep(net, layer, settings)  # top and per_image
        net.check_image_size(layer, settings.size, "--size")
    return chosen


def build_atlas(net, paths, root, layers, out_dir, settings, record=None, ignored=None,
                restart=False, progress=None, schedule=None, scan=None, projected=None):
    """Builds (or completes) the atlas of `layers` over `paths` in `out_dir`.

    Args:
      net: the `Deconvnet`, weights loaded.
      paths: the dataset's image files (sorted); root: its folder.
      layers: Keras names from `choose_layers`.
      settings: `AtlasSettings`.
      record: what was loaded (`_net.load_net`'s record: model, weights file and hash);
        default: the model's name and a SHA-256 of its weights' values.
      ignored: `{extension: count}` of files that are not images, for the counts.
      restart: discard whatever atlas `out_dir` holds.
      progress: `progress(description, total, unit)` returns `update(done)`, or None.
      schedule: the maximization's `Schedule` or `Optimization` (default:
        `deconv.unit_atlas.maximized.default_schedule()`).
      scan, projected: another engine's pass 1, with `passes.scan_layers`'s arguments and
        result, and pass 2's projections (see `passes.project_layer`); default: this
        process's (`deconv.distributed.atlas` has Beam's).

    Returns:
      An `AtlasOutcome`.

    Raises:
      DeconvError: `out_dir` holds another atlas; no image could be read.
    """
    wanted = records.identity(record or records.in_memory(net.model), net, settings, root,
                              paths)
    records.claim(out_dir, wanted, restart)
    fingerprint = records.fingerprint_of(wanted)
    _remove_partial_files(out_dir)
    todo = [layer for layer in layers
            if records.load_layer(out_dir, names.short(layer), fingerprint) is None]
    outcome = AtlasOutcome({}, "", [names.short(layer) for layer in todo],
                           [names.short(layer) for layer in layers if layer not in todo])
    unscanned = [layer for layer in todo if passes.load_scan(out_dir, layer, fingerprint) is None]
    if unscanned:
        update = progress("pass 1", len(paths), "img") if progress else None
        _, outcome.scan_seconds, outcome.files_scanned = (scan or passes.scan_layers)(
            net, paths, unscanned, settings, out_dir, fingerprint,
            (lambda state: update(state.cursor)) if update else None)
    for layer in todo:
        started = time.perf_counter()
        scanned = passes.load_scan(out_dir, layer, fingerprint)
        update = (progress(f"pass 2 {names.short(layer)}", None, "proj") if progress
                  else None)
        layer_record = passes.project_layer(
            net, layer, scanned, paths, root, settings, out_dir,
            (lambda done, total: update(done, total)) if update else None, projected)
        layer_record.update(fingerprint=fingerprint, scan={
            "read": scanned.read, "skipped": [list(s) for s in scanned.skipped]})
        records.save_layer(out_dir, layer_record)
        os.remove(files.inside(out_dir, files.layer_scan(names.short(layer))))
        outcome.project_seconds[names.short(layer)] = time.perf_counter() - started
    if settings.maximize:
        started = time.perf_counter()
        _maximize(net, layers, out_dir, fingerprint, schedule, progress)
        outcome.maximize_seconds = time.perf_counter() - started
    outcome.atlas, outcome.index = write_atlas(out_dir, wanted, fingerprint, net, ignored)
    return outcome


def _maximize(net, layers, out_dir, fingerprint, schedule, progress):
    """Adds the maximization images to every layer whose record has none."""
    for layer in layers:
        layer_record = records.load_layer(out_dir, names.short(layer), fingerprint)
        if layer_record["maximized"] is None:
            layer_record["maximized"], layer_record["maximization"] = maximized.write_layer(
                net, layer, out_dir, layer_record["top"], schedule, progress)
            records.save_layer(out_dir, layer_record)


def write_atlas(out_dir, wanted, fingerprint, net, ignored=None):
    """Writes the site and then `atlas.json` from every layer recorded in `out_dir`; returns
    `(atlas, path of index.html)`."""
    recorded = records.recorded_layers(out_dir, fingerprint, net.layer_names)
    scan = recorded[0]["scan"]
    dataset = {"read": scan["read"],
               "skipped": [{"path": path, "reason": reason} for path, reason in scan["skipped"]],
               "ignored_by_extension": dict(ignored or {})}
    sources = {}
    for layer_record in recorded:
        for entries in layer_record["top"]:
            for entry in entries:
                sources[entry["source"]] = entry["image"]
    atlas = records.assemble(wanted, recorded, dataset,
                             {str(n): sources[n] for n in sorted(sources)})
    index = site.write_site(out_dir, atlas)
    outputs.write_json(files.inside(out_dir, files.ATLAS_JSON), atlas)
    return atlas, index


def _remove_partial_files(out_dir):
    """Removes the temporary files a killed run left, in the atlas's folders."""
    for folder, _, _ in os.walk(out_dir):
        checkpoint.remove_partial_files(folder)
