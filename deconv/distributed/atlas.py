"""The unit atlas on Beam (`python -m deconv.atlas --engine beam`): one pipeline scans the layers
still to do in shards (the shared merge; each layer's top-k then kept in its own file as the local
engine keeps it, `deconv.unit_atlas.passes.save_scans`), groups every layer's winners by image
and projects and draws them on the workers (`passes.tiled_groups`, the local engine's own
function); the driver then writes each layer's strips, sheets and record from those tiles.

A layer whose pass 1 an earlier, killed run had finished is projected on the driver, as the
local engine does.
"""
import functools
import os
import tempfile
import time

from absl import logging
import numpy as np

from deconv.distributed import options as options_lib
from deconv.distributed import pipeline
from deconv.distributed import progress
from deconv.distributed import spec as spec_lib
from deconv.sweeps import pass2
from deconv.unit_atlas import passes


def plan_groups(net, state, paths, layers, settings):
    """Pass 2's groups: each layer's winners (`passes.layer_winners`) grouped by image, as
    `(number, layer, None, [(index into the layer's winners, winner)])`."""
    groups = []
    for layer, topk in zip(layers, state.topks):
        found = passes.layer_winners(net, layer, topk, paths, settings)
        for numbers in pass2.group_by_image(found).values():
            groups.append((len(groups), layer, None, [(n, found[n]) for n in numbers]))
    return groups


def image_tiles(net, group, settings):
    """One group's projections and tiles on a worker (`passes.tiled_groups`): `(arrays, meta)`
    for `pipeline.ProjectGroups`, `meta` the `Projected` records."""
    _, layer, _, chunk = group
    found = [winner for _, winner in chunk]
    arrays, meta = {}, [None] * len(found)
    for numbers, shown, tiles, image in passes.tiled_groups(net, layer, found, settings):
        arrays["image"] = image
        for i, projected, (projection, patch) in zip(numbers, shown, tiles):
            arrays[f"projection{i}"], arrays[f"patch{i}"] = projection, patch
            meta[i] = projected.record()
    return arrays, meta


class AtlasOnBeam:
    """Beam's pass 1 and pass 2 for `deconv.unit_atlas.build.build_atlas(scan=self.scan_layers,
    projected=self.projected)`; `close()` removes what the workers left.

    Args:
      options: Beam's `PipelineOptions`.
      spec: the `NetSpec` of the driver's network.
      settings: the atlas's `AtlasSettings`.
      fail_shard, per_shard: see `deconv.distributed.engine.run_config`.
    """

    def __init__(self, options, spec, settings, fail_shard=None, per_shard=None):
        self.options, self.spec, self.settings = options, spec, settings
        self.fail_shard, self.per_shard = fail_shard, per_shard
        self.work = self.local = None
        self.groups, self.read_group = {}, None

    def scan_layers(self, net, paths, layers, settings, out_dir, fingerprint, on_batch=None):
        """`passes.scan_layers` on Beam, with pass 2's projections made in the same pipeline;
        `on_batch` sees the files scanned as the workers report them."""
        started = time.perf_counter()
        sweeps = [passes.layer_sweep(net, layer, settings) for layer in layers]
        reading = settings.reading.for_count(len(paths))
        self.local = tempfile.mkdtemp(prefix=f".{os.path.basename(os.path.abspath(out_dir))}.",
                                      suffix=".part", dir=os.path.dirname(os.path.abspath(
                                          out_dir)))
        self.work = options_lib.work_folder(self.options, self.local)
        plan = functools.partial(plan_groups, layers=layers, settings=settings)
        state, _, handback = pipeline.sweep(
            self.options, self.spec, sweeps, reading,
            spec_lib.shards(paths, reading.batch_size, self.per_shard), self.work, plan,
            functools.partial(image_tiles, settings=settings), self.fail_shard,
            on_batch and (lambda files: on_batch(progress.Scanned(files))))
        self.read_group = handback.group
        state.check_read(len(paths))
        for path, reason in state.skipped:
            logging.warning("Skipping %s: %s", path, reason)
        passes.save_scans(layers, state, out_dir, fingerprint)
        for number, layer, _, chunk in plan(net, state, paths):
            self.groups.setdefault(layer, []).append((number, [n for n, _ in chunk]))
        return state, time.perf_counter() - started, len(paths)

    def projected(self, net, layer, found):
        """`passes.project_layer`'s projections of `layer`: the workers' records and tiles; a
        layer this run did not scan is projected here."""
        if layer not in self.groups:
            yield from passes.tiled_groups(net, layer, found, self.settings)
            return
        for number, numbers in self.groups[layer]:
            meta, arrays = self.read_group(number)
            yield (numbers, [pass2.Projected.from_record(entry) for entry in meta],
                   [(arrays[f"projection{i}"], arrays[f"patch{i}"]) for i in range(len(numbers))],
                   np.asarray(arrays["image"]))

    def close(self):
        """Removes the workers' results (call when the atlas is written, or failed)."""
        for folder in (self.work, self.local):
            if folder is not None:
                pipeline.remove(folder)
