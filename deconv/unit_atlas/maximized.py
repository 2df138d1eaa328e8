"""The atlas's activation-maximization images: one per unit, each map of a layer raised from its
own random start (`deconv.analysis.maximization`), in batches of maps."""
from deconv.analysis import maximization
from deconv.core import names
from deconv.io import outputs
from deconv.unit_atlas import files

MAPS_PER_BATCH = 64


def write_layer(net, layer, out_dir, schedule=None, progress=None):
    """Computes and writes every unit's maximization image of `layer`; returns the files'
    pattern (with `{unit}`), as the layer's record names it.

    Args:
      schedule: a `maximization.Schedule` (default: its own, `MAPS_PER_BATCH` maps at a time).
      progress: `progress(description, total, unit)` returns `update(done, total)`, or None.
    """
    schedule = schedule or maximization.Schedule(batch_size=MAPS_PER_BATCH)
    name = names.short(layer)
    update = progress(f"maximize {name}", None, "step") if progress else None
    result = maximization.maximize_maps(
        net, layer, list(range(net.feature_count(layer))), schedule=schedule,
        progress=update)
    pattern = files.maximized_pattern(name)
    pictures = result.images.round().clip(0, 255).astype("uint8")
    for unit, picture in zip(result.features, pictures):
        outputs.write_png(files.inside(out_dir, pattern.format(unit=int(unit))), picture)
    return pattern
