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

from deconv.distributed import options as options_lib
from deconv.distributed import pipeline
from deconv.distributed import progress as progress_lib
from deconv.distributed import spec as spec_lib
from deconv.io import outputs
from deconv.sweeps import config as config_lib
from deconv.sweeps import html_index
from deconv.sweeps import pass2
from deconv.sweeps import plan as plan_lib
from deconv.sweeps import runner


def plan_groups(net, state, paths, sweeps, size):
    """Pass 2's groups of a merged pass-1 `state`, as the pipeline's workers and the driver
    make them alike: each layer's winners (`deconv.sweeps.runner.views_by_layer`) grouped by
    image, as `(number, layer, modes, [((view number, index in its view), winner)])`."""
    groups = []
    for layer, views in runner.views_by_layer(net, paths, sweeps, state, size).items():
        items = [((number, index), view.mode, winner)
                 for number, (view, found) in enumerate(views)
                 for index, winner in enumerate(found)]
        for numbers in pass2.group_by_image([winner for *_, winner in items]).values():
            groups.append((len(groups), layer, [items[n][1] for n in numbers],
                           [(items[n][0], items[n][2]) for n in numbers]))
    return groups


def kept_group(net, group, size, aspect, crop, batch_size):
    """A group's projections on a worker (`deconv.sweeps.pass2.project`, as the local engine
    projects them), cut to what the driver's tiles read (`pass2.keep`): `(arrays, meta)` for
    `pipeline.ProjectGroups`."""
    _, layer, modes, chunk = group
    found = [winner for _, winner in chunk]
    arrays, meta = {}, [None] * len(found)
    for part in pass2.project(net, layer, found, size, aspect, batch_size, modes):
        for n, projected, reconstruction in zip(part.numbers, part.projected,
                                                part.reconstructions):
            kept = pass2.keep(net, layer, projected, reconstruction, part.image, size, crop,
                              modes[n])
            arrays[f"feat{n}"], arrays[f"im{n}"] = kept.reconstruction, kept.image
            meta[n] = kept.meta()
    return arrays, meta


def _projector(handback, groups, size):
    """`project(layer_views)` for `runner.project_all`: pass 2's results of the workers laid
    back into whole pictures (`pass2.whole`, as the local engine's)."""
    where, results = {}, {}
    for number, layer, _, chunk in groups:
        for place, (key, _) in enumerate(chunk):
            where[(layer, *key)] = (number, place)

    def group(number):  # each group's file read once
        if number not in results:
            results[number] = handback.group(number)
        return results[number]

    def project(layer_views):
        layer = layer_views[0][0].layer
        for number, (view, found) in enumerate(layer_views):
            kept = []
            for index in range(len(found)):
                number_of, place = where[(layer, number, index)]
                metas, arrays = group(number_of)
                kept.append(pass2.Kept.from_meta(metas[place], arrays[f"feat{place}"],
                                                 arrays[f"im{place}"]))
            yield (view, *pass2.whole(kept, size))

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
    plan = functools.partial(plan_groups, sweeps=sweeps, size=settings.size)
    state, pass1_ms, handback = pipeline.sweep(
        options, spec, sweeps, reading, spec_lib.shards(paths, reading.batch_size, per_shard),
        work, plan, functools.partial(kept_group, size=settings.size, aspect=settings.aspect,
                                      crop=settings.crop, batch_size=reading.batch_size),
        fail_shard, on_scanned)
    state.check_read(len(paths))
    for path, reason in state.skipped:
        logging.warning("Skipping %s: %s", path, reason)
    pipeline_seconds = time.perf_counter() - started
    started = time.perf_counter()
    written, manifests, notes = runner.project_all(
        net, paths, sweeps, state, out_dir, settings, described, on_written, ignored,
        _projector(handback, plan(net, state, paths), settings.size))
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
