"""The dataset runner: sweeps over image folders, from pass 1 to the files on disk.

`run` is what `python -m deconv.run` calls once its flags are parsed; it takes plain arguments.
"""
import dataclasses
import time

from absl import logging

from deconv import report
from deconv import sweep as sweeps_lib
from deconv.errors import DeconvError


@dataclasses.dataclass(frozen=True)
class Settings:
    """How images are read and results drawn.

    Attributes:
      size: side of the square the images are resized to.
      aspect: `"stretch"` or `"crop"` (see `deconv.images.read_image`).
      batch_size: images per forward batch in pass 1, and projections per call in pass 2.
      normalize: display normalisation of reconstructions (`deconv.render.to_uint8`).
      min_tile: tiles smaller than this many pixels are enlarged (nearest neighbour).
    """
    size: int = 224
    aspect: str = "stretch"
    batch_size: int = 16
    normalize: str = "symmetric"
    min_tile: int = 64


@dataclasses.dataclass
class Outcome:
    """What a run did: the final scan state, files written per sweep label, timings."""
    state: sweeps_lib.ScanState
    written: dict
    notes: dict
    scan_seconds: float
    project_seconds: float


def expand(net, sweep):
    """Yields `(group, view)`: a sweep of every map becomes one single-map view per map."""
    if sweep.feature == sweeps_lib.EACH_MAP:
        for feature in range(net.feature_count(sweep.layer)):
            yield feature, dataclasses.replace(sweep, feature=feature)
    else:
        yield 0, sweep


def _notes(view, found, state):
    notes = []
    if len(found) < view.top:
        notes.append(f"Only {len(found)} of the {view.top} requested activations exist: "
                     f"{state.read} images read, at most {view.per_image} per image.")
    if report.dead(found):
        notes.append(f"{view.label} never activates on these images (all values are 0): the "
                     f"reconstructions are blank.")
    return notes


def run(net, paths, sweeps, out_dir, settings, described, state=None, on_batch=None):
    """Runs pass 1 over `paths` for all `sweeps` at once, then projects and writes each sweep.

    Args:
      net: the `Deconvnet`.
      paths: image files.
      sweeps: checked `Sweep`s (`deconv.sweep.make_sweep`).
      out_dir: where the grids and manifests go.
      settings: `Settings`.
      described: the run's settings as the user gave them, recorded in every manifest.
      state: a `ScanState` to resume from; default: a fresh one.
      on_batch: called with the state after each batch of pass 1 (progress, checkpoints).

    Returns:
      An `Outcome`.

    Raises:
      DeconvError: if no image at all could be read.
    """
    state = state or sweeps_lib.ScanState.fresh(net, sweeps)
    started = time.perf_counter()
    for state in sweeps_lib.scan(net, paths, sweeps, state, settings.size, settings.aspect,
                                 settings.batch_size):
        if on_batch is not None:
            on_batch(state)
    scan_seconds = time.perf_counter() - started
    if state.read == 0:
        reasons = "; ".join(f"{path}: {reason}" for path, reason in state.skipped[:3])
        raise DeconvError(f"None of the {len(paths)} image files could be read ({reasons}).")
    counts = report.skip_counts(state.read, state.skipped)
    started = time.perf_counter()
    written, notes = {}, {}
    for sweep, topk in zip(sweeps, state.topks):
        for group, view in expand(net, sweep):
            found = sweeps_lib.winners(net, view, topk, paths, settings.size, group)
            reconstructions, pixels = sweeps_lib.project_winners(
                net, view, found, settings.size, settings.aspect, settings.batch_size)
            feat_tiles, im_tiles = report.tiles(net, view, found, reconstructions, pixels,
                                                settings.size, settings.normalize,
                                                settings.min_tile)
            notes[view.label] = _notes(view, found, state)
            for note in notes[view.label]:
                logging.warning("%s", note)
            content = report.manifest(view, found, described, counts, notes[view.label])
            written[view.label] = report.write(out_dir, view, feat_tiles, im_tiles, content)
    return Outcome(state, written, notes, scan_seconds, time.perf_counter() - started)
