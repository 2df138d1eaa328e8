"""The dataset runner: sweeps over image folders, from pass 1 to the files on disk.

`run` does one dataset: one forward pass serving every sweep (pass 1), then the projections,
batched per layer (pass 2). `run_resumable` adds checkpoints; `run_config` runs a whole
configuration (several datasets) and writes `index.html` and TensorBoard summaries. The command
line (`python -m deconv.run`) only turns flags into these calls.
"""
import dataclasses
import os
import time

from absl import logging

from deconv import checkpoint
from deconv import html_index
from deconv import images as image_files
from deconv import names
from deconv import outputs
from deconv import report
from deconv import sweep as sweeps_lib
from deconv.errors import DeconvError


@dataclasses.dataclass(frozen=True)
class Settings:
    """How images are read, batched and drawn.

    Attributes:
      size: side of the square the images are resized to.
      aspect: `"stretch"` or `"crop"` (see `deconv.images.read_image`).
      batch_size: images per forward batch in pass 1, and projections per call in pass 2.
      normalize: display normalisation of reconstructions (`deconv.render.to_uint8`).
      min_tile: tiles smaller than this many pixels are enlarged (nearest neighbour).
      checkpoint_every: `run_resumable` saves pass 1's state every this many batches.
    """
    size: int = 224
    aspect: str = "stretch"
    batch_size: int = 16
    normalize: str = "symmetric"
    min_tile: int = 64
    checkpoint_every: int = 10


@dataclasses.dataclass
class Outcome:
    """What a run did: the final scan state, files and manifests per view, notes, timings, and
    how many files pass 1 read in `scan_seconds` (fewer than the state's after a resume)."""
    state: sweeps_lib.ScanState
    written: dict
    manifests: list
    notes: dict
    scan_seconds: float
    project_seconds: float
    files_scanned: int = 0


def expand(net, sweep):
    """Returns `(group, view)` pairs: a sweep of every map becomes one view per map."""
    if sweep.feature == sweeps_lib.EACH_MAP:
        return [(feature, dataclasses.replace(sweep, feature=feature))
                for feature in range(net.feature_count(sweep.layer))]
    return [(0, sweep)]


def _notes(view, found, state):
    notes = []
    if len(found) < view.top:
        notes.append(f"Only {len(found)} of the {view.top} requested activations exist: "
                     f"{state.read} images read, at most {view.per_image} per image.")
    if report.dead(found):
        notes.append(f"{view.label} never activates on these images (all values are 0): the "
                     f"reconstructions are blank.")
    for winner in found:
        if not sweeps_lib.value_matches(view.mode, winner.projected_value, winner.value):
            notes.append(f"Rank {winner.rank} ({winner.path}) was {winner.value:g} in pass 1 but "
                         f"{winner.projected_value:g} in pass 2: the file changed, or the model "
                         f"is not deterministic.")
    return notes


def scan_all(net, paths, sweeps, settings, state=None, on_batch=None):
    """Pass 1 for every sweep at once; returns `(state, seconds)`.

    Raises:
      DeconvError: if no image at all could be read.
    """
    state = state or sweeps_lib.ScanState.fresh(net, sweeps)
    started = time.perf_counter()
    if state.cursor < len(paths):  # a state saved after pass 1 goes straight to pass 2
        for current in sweeps_lib.scan(net, paths, sweeps, state, settings.size,
                                       settings.aspect, settings.batch_size):
            if on_batch is not None:
                on_batch(current)
    if state.read == 0:
        reasons = "; ".join(f"{path}: {reason}" for path, reason in state.skipped[:3])
        raise DeconvError(f"None of the {len(paths)} image files could be read ({reasons}).")
    return state, time.perf_counter() - started


def project_all(net, paths, sweeps, state, out_dir, settings, described, on_written=None,
                ignored=None):
    """Pass 2 and the outputs: projections batched per layer, then grids and manifests.

    Args:
      on_written: called with `(view, paths, feat_grid, im_grid, manifest)` after each view's
        files are written (TensorBoard summaries, progress).
      ignored: `{extension: count}` of files in the folder that are not images, for the counts.

    Returns:
      `(written, manifests, notes)`: paths per view label, manifests and notes in order.
    """
    counts = report.skip_counts(state.read, state.skipped, ignored)
    written, manifests, notes = {}, [], {}
    by_layer = {}
    for sweep, topk in zip(sweeps, state.topks):
        for group, view in expand(net, sweep):
            found = sweeps_lib.winners(net, view, topk, paths, settings.size, group)
            by_layer.setdefault(view.layer, []).append((view, found))
    for layer_views in by_layer.values():
        for view, found, reconstructions, pixels in sweeps_lib.project_views(
                net, layer_views, settings.size, settings.aspect, settings.batch_size):
            feat_tiles, im_tiles = report.tiles(net, view, found, reconstructions, pixels,
                                                settings.size, settings.normalize,
                                                settings.min_tile)
            notes[view.label] = _notes(view, found, state)
            content = report.manifest(view, found, described, counts, notes[view.label])
            files, feat_grid, im_grid = report.write(out_dir, view, feat_tiles, im_tiles,
                                                     content)
            written[view.label] = files
            manifests.append(content)
            if on_written is not None:
                on_written(view, files, feat_grid, im_grid, content)
    return written, manifests, notes


def run(net, paths, sweeps, out_dir, settings, described, state=None, on_batch=None,
        on_written=None):
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
    print_ = pass_one_fingerprint(identity, sweeps, settings, paths)
    # What else decides the outputs: a finished dataset is kept only if this matches too.
    outputs_print = checkpoint.fingerprint({
        "pass_one": print_, "described": described,
        "sweeps": [dataclasses.asdict(sweep) for sweep in sweeps],
        "display": [settings.normalize, settings.min_tile]}, [])
    checkpoint.remove_partial_files(out_dir)
    if restart:
        checkpoint.clear(out_dir)
    done = checkpoint.load_done(out_dir, print_)
    if done is not None and done.get("outputs") != outputs_print:
        logging.warning("%s was finished by an earlier run with other projection or display "
                        "settings: projecting again.", out_dir)
        done = None
    if done is not None:
        logging.warning("%s was finished by an earlier run of this command: kept.", out_dir)
        return Outcome(sweeps_lib.ScanState([], done["cursor"], done["read"],
                                            [tuple(s) for s in done["skipped"]]),
                       done["written"], done["manifests"], done["notes"], done["scan_seconds"],
                       done["project_seconds"], done.get("files_scanned", 0))
    path = os.path.join(out_dir, checkpoint.FILE_NAME)
    state = checkpoint.resume_or_start(path, print_, sweeps_lib.ScanState.fresh(net, sweeps))
    if state.cursor:
        logging.warning("Resuming %s at image %d of %d.", out_dir, state.cursor, len(paths))
    batches = [0]

    def save_now_and_then(current):
        batches[0] += 1
        if batches[0] % settings.checkpoint_every == 0:
            checkpoint.save(path, current, print_)
        if on_batch is not None:
            on_batch(current)

    start = state.cursor
    state, scan_seconds = scan_all(net, paths, sweeps, settings, state, save_now_and_then)
    checkpoint.save(path, state, print_)  # pass 1 done: a kill in pass 2 resumes at pass 2
    outcome = _finish(net, paths, sweeps, state, out_dir, settings, described, on_written,
                      ignored, scan_seconds, state.cursor - start)
    checkpoint.save_done(out_dir, print_, {
        "outputs": outputs_print,
        "cursor": state.cursor, "read": state.read, "skipped": state.skipped,
        "written": outcome.written, "manifests": outcome.manifests, "notes": outcome.notes,
        "scan_seconds": outcome.scan_seconds, "project_seconds": outcome.project_seconds,
        "files_scanned": outcome.files_scanned})
    # The finished pass 1 stays (until `run_config` is done) for a re-run with other pass-2
    # settings.
    return outcome


def _check_files_differ(net, sweeps, entry, where):
    """Registers the file labels of `entry`'s new `sweeps` in `where` (`{label: (sweep,
    entry)}` of one dataset), raising if one is taken by another sweep (same layer, map and
    mode, other `top` or `per_image`; or a map also covered by a sweep of every map)."""
    for sweep in sweeps:
        for _, view in expand(net, sweep):
            label = view.label
            other, other_entry = where.setdefault(label, (sweep, entry))
            if other != sweep:
                first = other_entry.where.rstrip(": ") or "a sweep"
                raise DeconvError(
                    f"{entry.where}this sweep and the one at {first} would both write "
                    f"{label}.json and its grids ({names.short(sweep.layer)}, map "
                    f"{view.feature}, mode {sweep.mode}; top {other.top} vs {sweep.top}, "
                    f"per_image {other.per_image} vs {sweep.per_image}): keep one, or run the "
                    f"other with another --out.")


def plan(net, config):
    """Returns the checked `Sweep`s of a `RunConfig` per dataset name.

    Raises:
      DeconvError: a bad sweep; the message starts with its file and line.
    """
    planned = {dataset.name: [] for dataset in config.datasets}
    where = {dataset.name: {} for dataset in config.datasets}  # file label -> (sweep, entry)
    for entry in config.sweeps:
        features = entry.features if isinstance(entry.features, list) else [entry.features]
        try:
            sweeps = [sweeps_lib.make_sweep(net, entry.layer, feature, entry.top,
                                            entry.per_image, entry.mode) for feature in features]
        except DeconvError as error:
            raise DeconvError(f"{entry.where}{error}") from None
        for name in entry.datasets or planned:
            added = [sweep for number, sweep in enumerate(sweeps)
                     if sweep not in planned[name] and sweep not in sweeps[:number]]
            _check_files_differ(net, added, entry, where[name])
            planned[name].extend(added)
    for dataset in config.datasets:
        if not planned[dataset.name]:
            raise DeconvError(f"{config.source or 'The configuration'}: dataset "
                              f"{dataset.name!r} has no sweeps: every [[sweeps]] names other "
                              f"datasets.")
        settings = Settings(dataset.size, dataset.aspect, config.batch_size)
        sweeps_lib.check_settings(net, planned[dataset.name], settings.size, settings.batch_size)
    return planned


def dataset_folder(config, dataset):
    """Returns where a dataset's outputs go: `out`, or `out/<name>` when there are several."""
    return os.path.join(config.out, dataset.name) if len(config.datasets) > 1 else config.out


def run_config(net, config, identity, described, restart=False, progress=None,
               on_written=None):
    """Runs every dataset of a `RunConfig`, then writes `index.html` in `config.out`.

    Each dataset has one pass 1 serving all its sweeps, resumable. With several datasets, each
    writes to `config.out/<name>/`.

    Args:
      net: the `Deconvnet` (weights loaded).
      config: the `RunConfig`.
      identity: see `run_resumable`.
      described: the run's settings, recorded in every manifest.
      restart: discard saved states.
      progress: `progress(dataset name, number of files)` returns an `on_batch` callback (or
        None), called before each dataset's pass 1.
      on_written: called with `(dataset name, view, paths, feat_grid, im_grid, manifest)`.

    Returns:
      `{dataset name: Outcome}`, and the path of `index.html`, as a pair.
    """
    planned = plan(net, config)
    found = {dataset.name: image_files.scan_folder(
        dataset.images, image_files.parse_extensions(dataset.imtype))
        for dataset in config.datasets}
    for dataset in config.datasets:
        outputs.ensure_folder(dataset_folder(config, dataset))
    outcomes, pages = {}, []
    for dataset in config.datasets:
        out_dir = dataset_folder(config, dataset)
        settings = Settings(dataset.size, dataset.aspect, config.batch_size, config.normalize,
                            config.min_tile, config.checkpoint_every)
        paths, ignored = found[dataset.name]
        on_batch = progress(dataset.name, len(paths)) if progress else None
        written_hook = (None if on_written is None else
                        lambda *args, name=dataset.name: on_written(name, *args))
        outcomes[dataset.name] = run_resumable(
            net, paths, planned[dataset.name], out_dir, settings,
            {**described, "dataset": dataclasses.asdict(dataset)}, identity, restart, on_batch,
            written_hook, ignored)
        relative = dataset.name if out_dir != config.out else ""
        manifests = outcomes[dataset.name].manifests
        pages.append((dataset.name, relative,
                      manifests + html_index.earlier_manifests(out_dir, manifests)))
    index = html_index.write(config.out, pages)
    for dataset in config.datasets:  # the whole configuration is done: nothing to resume
        checkpoint.clear(dataset_folder(config, dataset))
    return outcomes, index
