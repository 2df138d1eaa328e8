"""The dataset runner: sweeps over image folders, from pass 1 to the files on disk.

`run` does one dataset: one forward pass serving every sweep (pass 1), then the projections,
per layer grouped by image (pass 2, `deconv.sweeps.pass2`). `run_resumable` adds checkpoints; `run_config` runs a whole
configuration (several datasets) and writes `index.html` and TensorBoard summaries. The command
line (`python -m deconv.run`) only turns flags into these calls.
"""
import dataclasses
import os
import time

from absl import logging

from deconv.errors import DeconvError
from deconv.io import images as image_files
from deconv.io import outputs
from deconv.io import streaming
from deconv.io import words
from deconv.sweeps import checkpoint
from deconv.sweeps import config as config_lib
from deconv.sweeps import html_index
from deconv.sweeps import pass2
from deconv.sweeps import plan as plan_lib
from deconv.sweeps import report
from deconv.sweeps import scan as scan_lib
from deconv.sweeps import sweep as sweeps_lib
from deconv.sweeps import winners as winners_lib


@dataclasses.dataclass(frozen=True)
class Settings:
    """How images are read, batched and drawn.

    Attributes:
      size: side of the square the images are resized to.
      aspect: `"stretch"` or `"crop"` (see `deconv.io.images.read_image`).
      batch_size: images per forward batch in pass 1, and projections per call in pass 2.
      normalize: display normalisation of reconstructions (`deconv.io.render.to_uint8`).
      min_tile: tiles smaller than this many pixels are enlarged (nearest neighbour).
      checkpoint_every: `run_resumable` saves pass 1's state every this many batches.
      crop: what a tile shows (`deconv.io.tiles.CROPS`).
    """
    size: int = 224
    aspect: str = "stretch"
    batch_size: int = 16
    normalize: str = "symmetric"
    min_tile: int = 64
    checkpoint_every: int = 10
    crop: str = "auto"

    @property
    def reading(self):
        """How images are read and batched, as a `deconv.io.streaming.Reading`."""
        return streaming.Reading(self.size, self.aspect, self.batch_size)


@dataclasses.dataclass
class Outcome:
    """What a run did: the final scan state, files and manifests per view, notes, timings, and
    how many files pass 1 read in `scan_seconds` (fewer than the state's after a resume)."""
    state: scan_lib.ScanState
    written: dict
    manifests: list
    notes: dict
    scan_seconds: float
    project_seconds: float
    files_scanned: int = 0


def _notes(view, found, state):
    notes = []
    if len(found) < view.top:
        notes.append(f"Only {len(found)} of the {view.top} requested activations exist: "
                     f"{words.plural(state.read, 'image')} read, at most {view.per_image} per "
                     f"image.")
    if report.dead(found):
        notes.append(f"{view.label} never activates on these images (all values are 0): the "
                     f"reconstructions are blank.")
    for winner in found:
        if not winners_lib.value_matches(view.mode, winner.projected_value, winner.value):
            notes.append(f"Rank {winner.rank} ({winner.path}) was {winner.value:g} in pass 1 but "
                         f"{winner.projected_value:g} in pass 2: the file changed, or the model "
                         f"is not deterministic.")
    return notes


def scan_all(net, paths, sweeps, settings, state=None, on_batch=None):
    """Pass 1 for every sweep at once; returns `(state, seconds)`.

    Raises:
      DeconvError: if no image at all could be read.
    """
    state = state or scan_lib.ScanState.fresh(net, sweeps)
    started = time.perf_counter()
    if state.cursor < len(paths):  # a state saved after pass 1 goes straight to pass 2
        for current in scan_lib.scan(net, paths, sweeps, state, settings.reading):
            if on_batch is not None:
                on_batch(current)
    state.check_read(len(paths))
    return state, time.perf_counter() - started


def project_all(net, paths, sweeps, state, out_dir, settings, described, on_written=None,
                ignored=None, project=None):
    """Pass 2 and the outputs: projections batched per layer, then grids and manifests.

    Args:
      on_written: called with `(view, paths, feat_grid, im_grid, manifest)` after each view's
        files are written (TensorBoard summaries, progress).
      ignored: `{extension: count}` of files in the folder that are not images, for the counts.
      project: `project(layer_views)` yields `(view, found, reconstructions, pixels)` per view
        of one layer, as `deconv.sweeps.pass2.project_views` does (the default; `found` as
        `Projected` records): another engine's pass 2.

    Returns:
      `(written, manifests, notes)`: paths per view label, manifests and notes in order.
    """
    project = project or (lambda views: pass2.project_views(net, views, settings.reading,
                                                            settings.crop))
    counts = report.skip_counts(state.read, state.skipped, ignored)
    written, manifests, notes = {}, [], {}
    for layer_views in views_by_layer(net, paths, sweeps, state, settings.size).values():
        for view, found, reconstructions, pixels in project(layer_views):
            feat_tiles, im_tiles, found = report.tiles(net, view, found, reconstructions,
                                                       pixels, settings.size, settings.normalize,
                                                       settings.min_tile, settings.crop)
            notes[view.label] = _notes(view, found, state)
            content = report.manifest(view, found, described, counts, notes[view.label])
            files, feat_grid, im_grid = report.write(out_dir, view, feat_tiles, im_tiles,
                                                     content)
            written[view.label] = files
            manifests.append(content)
            if on_written is not None:
                on_written(view, files, feat_grid, im_grid, content)
    return written, manifests, notes


def views_by_layer(net, paths, sweeps, state, size):
    """`{layer: [(view, found)]}`: each view of each sweep (`deconv.sweeps.sweep.expand`) with
    its `Winner`s from pass 1's `state`, grouped by layer in the order of the sweeps."""
    by_layer = {}
    for sweep, topk in zip(sweeps, state.topks):
        for group, view in sweeps_lib.expand(net, sweep):
            found = winners_lib.winners(net, view, topk, paths, size, group)
            by_layer.setdefault(view.layer, []).append((view, found))
    return by_layer


def run(net, paths, sweeps, out_dir, settings, described, state=None, on_batch=None,
        on_written=None):
    """Runs pass 1 over `paths` for all `sweeps` at once, then projects and writes each sweep.

    Args:
      net: the `Deconvnet`.
      paths: image files.
      sweeps: checked `Sweep`s (`deconv.sweeps.sweep.make_sweep`).
      out_dir: where the grids and manifests go.
      settings: `Settings`.
      described: the run's settings as the user gave them, recorded in every manifest.
      state: a `ScanState` to resume from; default: a fresh one.
      on_batch: called with the state after each batch of pass 1 (progress, checkpoints).
      on_written: see `project_all`.

    Returns:
      An `Outcome`.
    """
    start = 0 if state is None else state.cursor
    state, scan_seconds = scan_all(net, paths, sweeps, settings, state, on_batch)
    return _finish(net, paths, sweeps, state, out_dir, settings, described, on_written, None,
                   scan_seconds, state.cursor - start)


def _finish(net, paths, sweeps, state, out_dir, settings, described, on_written, ignored,
            scan_seconds, files_scanned):
    started = time.perf_counter()
    written, manifests, notes = project_all(net, paths, sweeps, state, out_dir, settings,
                                            described, on_written, ignored)
    return Outcome(state, written, manifests, notes, scan_seconds, time.perf_counter() - started,
                   files_scanned)


def pass_one_fingerprint(identity, sweeps, settings, paths):
    """The fingerprint a resumed pass 1 must match: what decides its result, and nothing else
    (a changed mode, rule or display setting only changes pass 2, which is redone anyway)."""
    return checkpoint.fingerprint({
        "identity": identity,
        "sweeps": [[sweep.layer, sweep.feature, sweep.top, sweep.per_image] for sweep in sweeps],
        "size": settings.size, "aspect": settings.aspect, "batch_size": settings.batch_size},
        paths)


def run_resumable(net, paths, sweeps, out_dir, settings, described, identity, restart=False,
                  on_batch=None, on_written=None, ignored=None):
    """`run`, saving pass 1's state in `out_dir` so that a killed run continues where it stopped.

    Once the dataset is done, a record of it stays in `out_dir` (until `run_config` has done
    every dataset), so re-running a killed multi-dataset configuration skips finished datasets,
    or only projects them again if the pass-2 settings (mode, rule, display) changed.

    Args:
      identity: a JSON-ready description of everything else that decides pass 1 (model and
        weights files, preprocessing); with the sweeps, settings and image files it makes the
        fingerprint that a resumed run must match.
      restart: discard a saved state instead of resuming it.

    Raises:
      DeconvError: a saved state of a different run is in `out_dir` and `restart` is False.
    """
    fingerprint = pass_one_fingerprint(identity, sweeps, settings, paths)
    # What else decides the outputs: a finished dataset is kept only if this matches too.
    outputs_fingerprint = checkpoint.fingerprint({
        "pass_one": fingerprint, "described": described,
        "sweeps": [dataclasses.asdict(sweep) for sweep in sweeps],
        "display": [settings.normalize, settings.min_tile, settings.crop]}, [])
    checkpoint.remove_partial_files(out_dir)
    if restart:
        checkpoint.clear(out_dir)
    kept = _finished_earlier(out_dir, fingerprint, outputs_fingerprint)
    if kept is not None:
        return kept
    path = os.path.join(out_dir, checkpoint.FILE_NAME)
    state = checkpoint.resume_or_start(path, fingerprint, scan_lib.ScanState.fresh(net, sweeps))
    if state.cursor:
        logging.warning("Resuming %s at image %d of %d.", out_dir, state.cursor, len(paths))
    start = state.cursor
    state, scan_seconds = scan_all(net, paths, sweeps, settings, state, saving(
        path, fingerprint, settings.checkpoint_every, on_batch))
    checkpoint.save(path, state, fingerprint)  # pass 1 done: a kill in pass 2 resumes at pass 2
    outcome = _finish(net, paths, sweeps, state, out_dir, settings, described, on_written,
                      ignored, scan_seconds, state.cursor - start)
    # The finished pass 1 stays (until `run_config` is done) for a re-run with other pass-2
    # settings.
    checkpoint.save_done(out_dir, fingerprint, {
        "outputs": outputs_fingerprint, "cursor": state.cursor, "read": state.read,
        "skipped": state.skipped, **{key: getattr(outcome, key) for key in _RECORDED}})
    return outcome


# What the completion record keeps of an `Outcome` besides the state.
_RECORDED = ("written", "manifests", "notes", "scan_seconds", "project_seconds", "files_scanned")


def _finished_earlier(out_dir, fingerprint, outputs_fingerprint):
    """The `Outcome` recorded by an earlier run that finished `out_dir` with the same pass 1 and
    the same outputs, or None (a record with other pass-2 settings is projected again)."""
    done = checkpoint.load_done(out_dir, fingerprint)
    if done is not None and done.get("outputs") != outputs_fingerprint:
        logging.warning("%s was finished by an earlier run with other projection or display "
                        "settings: projecting again.", out_dir)
        return None
    if done is None:
        return None
    logging.warning("%s was finished by an earlier run of this command: kept.", out_dir)
    state = scan_lib.ScanState([], done["cursor"], done["read"],
                               [tuple(s) for s in done["skipped"]])
    return Outcome(state, **{key: done.get(key, 0) for key in _RECORDED})


def saving(path, fingerprint, every, on_batch):
    """An `on_batch` callback that saves pass 1's state every `every` batches, then calls
    `on_batch` (if any)."""
    batches = [0]

    def save_now_and_then(current):
        batches[0] += 1
        if batches[0] % every == 0:
            checkpoint.save(path, current, fingerprint)
        if on_batch is not None:
            on_batch(current)

    return save_now_and_then


def find_datasets(config):
    """Lists every dataset's image files, never a folder deconv writes to (`config.out`, or any
    marked as deconv's outputs), and checks that a batch of them can be forwarded at once.

    Returns:
      `{dataset name: (paths, ignored)}`, as `deconv.io.images.scan_folder` returns them.

    Raises:
      DeconvError: a missing or empty folder, or a batch too large (`deconv.limits`).
    """
    found = {}
    for dataset in config.datasets:
        try:
            found[dataset.name] = image_files.scan_folder(
                dataset.images, image_files.parse_extensions(dataset.imtype),
                exclude=[config.out])
        except DeconvError as error:  # named with its place in the file, if it came from one
            raise DeconvError(config_lib.where_images(
                dataset.images, dataset.where_keys.get("images"), error)) from None
        streaming.Reading(dataset.size, dataset.aspect, config.batch_size).for_count(
            len(found[dataset.name][0]))
    return found


def run_config(net, config, identity, described, restart=False, progress=None,
               on_written=None, found=None):
    """Runs every dataset of a `RunConfig`, then writes `index.html` in `config.out`.

    Each dataset has one pass 1 serving all its sweeps, resumable. With several datasets, each
    writes to `config.out/<name>/`. A batch larger than a dataset is capped to its size.

    Args:
      net: the `Deconvnet` (weights loaded).
      config: the `RunConfig`.
      identity: see `run_resumable`.
      described: the run's settings, recorded in every manifest.
      restart: discard saved states.
      progress: `progress(dataset name, number of files)` returns an `on_batch` callback (or
        None), called before each dataset's pass 1.
      on_written: called with `(dataset name, view, paths, feat_grid, im_grid, manifest)`.
      found: what `find_datasets(config)` returned, if the caller has it already.

    Returns:
      `{dataset name: Outcome}`, and the path of `index.html`, as a pair.
    """
    planned = plan_lib.plan(net, config)
    found = found or find_datasets(config)
    for dataset in config.datasets:
        outputs.ensure_folder(plan_lib.dataset_folder(config, dataset))
    outcomes, pages = {}, []
    for dataset in config.datasets:
        out_dir = plan_lib.dataset_folder(config, dataset)
        paths, ignored = found[dataset.name]
        settings = Settings(dataset.size, dataset.aspect, min(config.batch_size, len(paths)),
                            config.normalize, config.min_tile, config.checkpoint_every,
                            config.crop)
        on_batch = progress(dataset.name, len(paths)) if progress else None
        written_hook = (None if on_written is None else
                        lambda *args, name=dataset.name: on_written(name, *args))
        outcomes[dataset.name] = run_resumable(
            net, paths, planned[dataset.name], out_dir, settings,
            {**described, "dataset": config_lib.recorded(dataset)}, identity, restart,
            on_batch, written_hook, ignored)
        relative = dataset.name if out_dir != config.out else ""
        pages.append((relative, outcomes[dataset.name].manifests
                      + html_index.earlier_manifests(out_dir, outcomes[dataset.name].manifests)))
    index = html_index.write(config.out, pages)
    for dataset in config.datasets:  # the whole configuration is done: nothing to resume
        checkpoint.clear(plan_lib.dataset_folder(config, dataset))
    return outcomes, index
