"""The unit atlas's pass 1 on Beam (`python -m deconv.atlas --engine beam`): the top-k of every
map of every layer still to do, scanned in shards on the workers and merged with the shared
merge, then kept in each layer's file as the local engine keeps it
(`deconv.unit_atlas.passes.save_scans`). Pass 2 stays on the driver, layer by layer."""
import os
import tempfile
import time

from absl import logging

from deconv.distributed import pipeline
from deconv.distributed import spec as spec_lib
from deconv.errors import DeconvError
from deconv.unit_atlas import passes


def scanner(options, spec, fail_shard=None, per_shard=None):
    """Returns pass 1 on Beam with `passes.scan_layers`'s arguments and result, for
    `deconv.unit_atlas.build.build_atlas(scan=...)`.

    Args:
      options: Beam's `PipelineOptions`.
      spec: the `NetSpec` of the driver's network.
      fail_shard, per_shard: see `deconv.distributed.engine.run_config`.
    """

    def scan_layers(net, paths, layers, settings, out_dir, print_, on_batch=None):
        started = time.perf_counter()
        sweeps = [passes.layer_sweep(net, layer, settings) for layer in layers]
        reading = settings.reading.for_count(len(paths))
        parent = os.path.dirname(os.path.abspath(out_dir))
        local = tempfile.mkdtemp(prefix=f".{os.path.basename(os.path.abspath(out_dir))}.",
                                 suffix=".part", dir=parent)
        work = pipeline.work_folder(options, local)
        try:
            state, _, _ = pipeline.sweep(
                options, spec, sweeps, reading,
                spec_lib.shards(paths, reading.batch_size, per_shard), None, work, fail_shard)
        finally:
            pipeline.remove(work)
            pipeline.remove(local)
        if state.read == 0:
            reasons = "; ".join(f"{path}: {reason}" for path, reason in state.skipped[:3])
            raise DeconvError(f"None of the {len(paths)} image files could be read "
                              f"({reasons}).")
        for path, reason in state.skipped:
            logging.warning("Skipping %s: %s", path, reason)
        passes.save_scans(layers, state, out_dir, print_)
        if on_batch is not None:
            on_batch(state)
        return state, time.perf_counter() - started, len(paths)

    return scan_layers
