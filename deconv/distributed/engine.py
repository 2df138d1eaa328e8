"""A run configuration on Beam (`python -m deconv.run --engine beam`): per dataset, pass 1 and
pass 2 as pipelines (`pipeline`), then the same grids, manifests and `index.html` as the local
engine, through the same functions (`deconv.sweeps.runner.project_all`, `report`,
`html_index`), written in a hidden folder beside `config.out` and moved in only when every
dataset is done: a failed run leaves no partial output there.
"""
import functools
import os
import time

from absl import logging
import numpy as np

from deconv.distributed import options as options_lib
from deconv.distributed import pipeline
from deconv.distributed import progress as progress_lib
from deconv.distributed import spec as spec_lib
from deconv.core.receptive_field import receptive_field
from deconv.errors import DeconvError
from deconv.io import outputs
from deconv.io import tiles as tiles_lib
from deconv.sweeps import config as config_lib
from deconv.sweeps import html_index
from deconv.sweeps import plan as plan_lib
from deconv.sweeps import runner
from deconv.sweeps import winners as winners_lib
from deconv.sweeps.by_image import group_by_image


def plan_groups(net, state, paths, sweeps, size, batch_size):
    """Pass 2's groups of a merged pass-1 `state` (`project_groups`'s first result), as the
    pipeline's workers make them: `net`, `paths`, `sweeps`, `size` as the driver has them."""
    return project_groups(runner.views_by_layer(net, paths, sweeps, state, size),
                          batch_size)[0]


def project_groups(by_layer, batch_size):
    """Pass 2's work: each layer's winners grouped by image, at most `batch_size` per group.

    Args:
      by_layer: `{layer: [(view, found)]}` (`deconv.sweeps.runner.views_by_layer`).

    Returns:
      `(groups, where)`: `groups` as `pipeline.ProjectGroups` takes them; `where[(layer, view
      number, winner number)]` is `(group number, place in its chunk)`.
    """
    groups, where = [], {}
    for layer, views in by_layer.items():
        view_list = [view for view, _ in views]
        items = [(number, index, winner) for number, (_, found) in enumerate(views)
                 for index, winner in enumerate(found)]
        for numbers in group_by_image([winner for _, _, winner in items]).values():
            for start in range(0, len(numbers), batch_size):
                chunk = [items[n] for n in numbers[start:start + batch_size]]
                for place, (number, index, _) in enumerate(chunk):
                    where[(layer, number, index)] = (len(groups), place)
                groups.append((len(groups), layer, view_list,
                               [(number, winner) for number, _, winner in chunk]))
    return groups, where


def _needed(net, layer, winner, feat, size, crop):
    """The box of a winner's projection `feat` and image that the driver's tiles read
    (`deconv.sweeps.report.tiles`): its receptive field, every nonzero pixel of `feat` (so that
    the driver's effective box is the worker's) and the box the `crop` rule shows, clipped to
    the image."""
    window = receptive_field(net, layer, winner.position, (size, size), clip=False)
    shown = tiles_lib.choose(crop, window, winner.box, feat, (size, size)).box
    boxes = [tuple(winner.box), (max(shown[0], 0), max(shown[1], 0), min(shown[2], size),
                                 min(shown[3], size))]
    rows, columns = np.nonzero(np.any(feat != 0, axis=-1))
    if rows.size:
        boxes.append((rows.min(), columns.min(), rows.max() + 1, columns.max() + 1))
    return tuple(int(f(edge)) for f, edge in zip((min, min, max, max), zip(*boxes)))


def chunk_crops(net, group, size, aspect, crop):
    """A group's projections on a worker (`deconv.sweeps.winners.project_chunk`, as the local
    engine projects them), cut to what the driver's tiles read (`_needed`; whole, in mode
    "maps"): `(arrays, meta)` for `pipeline.ProjectGroups`."""
    _, layer, views, chunk = group
    reconstructions, pixels = winners_lib.project_chunk(net, layer, views, chunk, size, aspect)
    arrays, meta = {}, []
    for i, ((view_number, winner), feat, image) in enumerate(zip(chunk, reconstructions,
                                                                  pixels)):
        box = ((0, 0, size, size) if views[view_number].mode == "maps" else
               _needed(net, layer, winner, feat, size, crop))
        arrays[f"feat{i}"] = feat[box[0]:box[2], box[1]:box[3]]
        arrays[f"im{i}"] = image[box[0]:box[2], box[1]:box[3]]
        meta.append({"crop": list(box), "box": list(winner.box),
                     "projected_value": winner.projected_value,
                     "original_size": list(winner.original_size),
                     "box_original": list(winner.box_original)})
    return arrays, meta


def _projector(results, where, size):
    """`project(layer_views)` for `runner.project_all`: pass 2's results laid back into whole
    pictures (zero outside what each tile reads: the projections equal the workers'), the
    winners filled in."""

    def project(layer_views):
        layer = layer_views[0][0].layer
        for number, (view, found) in enumerate(layer_views):
            reconstructions = np.zeros((len(found), size, size, 3), np.float32)
            pixels = np.zeros((len(found), size, size, 3), np.uint8)
            for index, winner in enumerate(found):
                group, place = where[(layer, number, index)]
                metas, arrays = results[group]
                meta, feat, image = metas[place], arrays[f"feat{place}"], arrays[f"im{place}"]
                winner.projected_value = meta["projected_value"]
                winner.box = tuple(meta["box"])
                winner.original_size = tuple(meta["original_size"])
                winner.box_original = meta["box_original"]
                top, left, bottom, right = meta["crop"]
                reconstructions[index, top:bottom, left:right] = feat
                pixels[index, top:bottom, left:right] = image
            yield view, found, reconstructions, pixels

    return project


def run_dataset(net, spec, paths, sweeps, out_dir, settings, described, ignored, options,
                work, fail_shard=None, per_shard=None, on_written=None, on_scanned=None):
    """One dataset: pass 1 and pass 2 on Beam, the files written to `out_dir`;
    `on_scanned(files)` is called as the workers report pass 1's progress.

    Returns:
      `(Outcome, counters)`: a `deconv.sweeps.runner.Outcome` (its `scan_seconds` is the
      pipeline's, both passes; `project_seconds` the drawing's), and the workers' counts
      (`pipeline.Handback.counters`).

    Raises:
      DeconvError: no image could be read; a worker failed (naming its shard's files).
    """
    started = time.perf_counter()
    reading = settings.reading.for_count(len(paths))
    plan = functools.partial(plan_groups, sweeps=sweeps, size=settings.size,
                             batch_size=reading.batch_size)
    state, pass1_ms, handback = pipeline.sweep(
        options, spec, sweeps, reading, spec_lib.shards(paths, reading.batch_size, per_shard),
        work, plan, functools.partial(chunk_crops, size=settings.size, aspect=settings.aspect,
                          crop=settings.crop),
        fail_shard, on_scanned)
    if state.read == 0:
        reasons = "; ".join(f"{path}: {reason}" for path, reason in state.skipped[:3])
        raise DeconvError(f"None of the {len(paths)} image files could be read ({reasons}).")
    for path, reason in state.skipped:
        logging.warning("Skipping %s: %s", path, reason)
    pipeline_seconds = time.perf_counter() - started
    started = time.perf_counter()
    groups, where = project_groups(runner.views_by_layer(net, paths, sweeps, state,
                                                         settings.size), reading.batch_size)
    results = {number: handback.group(number) for number, *_ in groups}
    written, manifests, notes = runner.project_all(
        net, paths, sweeps, state, out_dir, settings, described, on_written, ignored,
        _projector(results, where, settings.size))
    return runner.Outcome(state, written, manifests, notes, pipeline_seconds,
                          time.perf_counter() - started, len(paths)), handback.counters(
                              state, pass1_ms)


def _on_scanned(progress, name, files):
    if progress is None:
        return None
    on_batch = progress(name, files)
    return lambda scanned: on_batch(progress_lib.Scanned(scanned))


def run_config(net, spec, config, described, options, found=None, on_written=None,
               fail_shard=None, per_shard=None, progress=None):
    """`deconv.sweeps.runner.run_config` on Beam: every dataset of a `RunConfig`, then
    `index.html`; nothing appears in `config.out` unless all of it succeeded.

    Args:
      net: the driver's `Deconvnet` (for planning and drawing; the workers build their own).
      spec: the `NetSpec` of `net`.
      config, described, found, on_written: as `runner.run_config` takes them.
      options: Beam's `PipelineOptions` (`options.pipeline_options`).
      fail_shard: for tests only: a shard of pass 1 whose worker raises.
      per_shard: images per shard of pass 1 (default: `spec.shards`'s).
      progress: `progress(dataset name, files)` returns `on_batch(state)` (as the local
        engine's), called with a `progress.Scanned` as the workers report pass 1; or None.

    Returns:
      `({dataset name: Outcome}, path of index.html, {dataset name: counters})`.
    """
    planned = plan_lib.plan(net, config)
    found = found or runner.find_datasets(config)
    outcomes, pages, counters = {}, [], {}
    with outputs.staged_into(config.out) as staging:
        for dataset in config.datasets:
            final = plan_lib.dataset_folder(config, dataset)
            out_dir = os.path.join(staging, os.path.relpath(final, config.out))
            os.makedirs(out_dir, exist_ok=True)
            paths, ignored = found[dataset.name]
            settings = runner.Settings(dataset.size, dataset.aspect,
                                       min(config.batch_size, len(paths)), config.normalize,
                                       config.min_tile, crop=config.crop)
            work = options_lib.work_folder(options, os.path.join(
                os.path.dirname(staging), f"work-{len(outcomes)}"))
            try:
                outcome, counters[dataset.name] = run_dataset(
                    net, spec, paths, planned[dataset.name], out_dir, settings,
                    {**described, "dataset": config_lib.recorded(dataset)}, ignored, options,
                    work, fail_shard, per_shard, None if on_written is None else
                    lambda *args, name=dataset.name: on_written(name, *args),
                    _on_scanned(progress, dataset.name, len(paths)))
            finally:
                pipeline.remove(work)
            outcome.written = {label: {key: os.path.join(final, os.path.basename(path))
                                       for key, path in files.items()}
                               for label, files in outcome.written.items()}
            outcomes[dataset.name] = outcome
            relative = dataset.name if final != config.out else ""
            pages.append((relative, outcome.manifests
                          + html_index.earlier_manifests(final, outcome.manifests)))
        html_index.write(staging, pages)
    return outcomes, os.path.join(config.out, "index.html"), counters
