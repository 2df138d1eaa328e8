"""The atlas's feature visualizations: one image per unit, each map of a layer raised from its
own random start by the best parameterisation of `deconv.analysis.maximization` (see
BENCHMARKS.md), in batches of maps, with its quality: the activation it reaches against the
unit's strongest natural activation in the atlas (its top-1). The unit view shows it beside the
natural top-k, never instead of it."""
import numpy as np

from deconv.analysis import maximization
from deconv.analysis import maximization_quality as quality
from deconv.analysis import maximization_steps as steps
from deconv.core import names
from deconv.io import outputs
from deconv.unit_atlas import files

# The parameterisation the benchmark found best (BENCHMARKS.md, issue 25).
BEST = "fourier"
MAPS_PER_BATCH = 16


def default_schedule():
    """The atlas's maximization: `BEST` with its own settings, `MAPS_PER_BATCH` maps at a time."""
    return steps.Optimization(BEST, batch_size=MAPS_PER_BATCH)


def write_layer(net, layer, out_dir, top, schedule=None, progress=None):
    """Computes and writes every unit's visualization of `layer`; returns the files' pattern
    (with `{unit}`), as the layer's record names it, and the record of how they were made.

    Args:
      top: the layer's record's top-k per unit (`value` of the first entry: the top-1).
      schedule: a `maximization.Schedule` or `steps.Optimization` (default:
        `default_schedule()`).
      progress: `progress(description, total, unit)` returns `update(done, total)`, or None.

    Returns:
      `(pattern, {"param", "steps", "size", "objective", "activation", "ratio"})`: per unit
      the strongest activation of its image and its ratio to the unit's top-1 natural
      activation (None for a unit no image turned on).
    """
    schedule = schedule or default_schedule()
    name = names.short(layer)
    update = progress(f"maximize {name}", None, "step") if progress else None
    units = list(range(net.feature_count(layer)))
    result = maximization.maximize_maps(net, layer, units, schedule=schedule, progress=update)
    pattern = files.maximized_pattern(name)
    pictures = result.images.round().clip(0, 255).astype("uint8")
    for unit, picture in zip(result.features, pictures):
        outputs.write_png(files.inside(out_dir, pattern.format(unit=int(unit))), picture)
    natural = np.array([entries[0]["value"] if entries else 0.0 for entries in top], np.float32)
    measured = quality.unit_quality(quality.reached(net, layer, result.images, units),
                                    natural)
    pixel = isinstance(schedule, maximization.Schedule)
    return pattern, {
        "param": "pixel" if pixel else schedule.param,
        "steps": schedule.steps * schedule.rounds if pixel else schedule.resolved().steps,
        "size": result.sizes[-1], "objective": result.objective,
        "activation": [round(entry["activation"], 6) for entry in measured],
        "ratio": [None if entry["ratio"] is None else round(entry["ratio"], 4)
                  for entry in measured]}
