"""A sanity check's numbers as JSON, and a plain-language verdict per method.

The verdicts read three numbers against thresholds chosen here as rules of thumb (printed beside
the numbers they come from, so a reader can judge). Spearman's rank correlation of the absolute
maps after every block is randomised (Adebayo et al. 2018): 0.5 or more, the picture mostly
shows the image; 0.2 to 0.5, partly; below, it depends on the weights. Deletion and insertion
areas against a random order's (Petsiuk et al. 2018): within 0.02, no better than chance. The
deconvnet's and guided backpropagation's correlation across images: 0.9 or more, the picture
hardly depends on the image.
"""
import numpy as np

from deconv.analysis import sanity_curves
from deconv.core import names as names_lib
from deconv.models import classes as class_names_lib

MOSTLY_IMAGE, PARTLY_IMAGE = 0.5, 0.2
AREA_MARGIN = 0.02
SAME_PICTURE = 0.9
DESCRIBED = {"deconvnet": "deconvnet projection", "guided": "guided backprop",
             "gradient": "gradient", "gradient_x_input": "gradient x input",
             "occlusion": "occlusion"}


def _round(values):
    """Nested lists of numbers rounded to 6 decimals; NaN (a metric undefined on maps too
    small, e.g. HOG inside a receptive field under 8 pixels) as None."""
    rounded = np.round(np.asarray(values, np.float64), 6)
    return np.where(np.isnan(rounded), None, rounded).tolist()


def mean(values, axis=-1):
    """The mean over `axis`, NaN left out (NaN where all are)."""
    values = np.asarray(values, np.float64)
    counts = (~np.isnan(values)).sum(axis=axis)
    return np.where(counts > 0, np.nansum(values, axis=axis) / np.maximum(counts, 1), np.nan)


def spread(values, axis=-1):
    """The standard deviation over `axis`, NaN left out."""
    values = np.asarray(values, np.float64)
    centred = values - np.expand_dims(mean(values, axis), axis)
    return np.sqrt(mean(centred * centred, axis))


def _spread(values):
    """`{"mean", "std", "per_image"}` over the last axis of `values` (steps, N) or (N,)."""
    return {"mean": _round(mean(values)), "std": _round(spread(values)),
            "per_image": _round(values)}


def _randomised(run):
    if run is None:
        return None
    return {"steps": run.steps, "units": _round(run.units),
            "zero_maps": {method: counts.tolist() for method, counts in run.zero_maps.items()},
            "similarity": {method: {metric: _spread(values) for metric, values in
                                    by_metric.items()}
                           for method, by_metric in run.similarity.items()}}


def _curves(curves):
    found = {"score": curves.score}
    for kind in sanity_curves.KINDS:
        found[kind] = {order: {"area": _spread(curves.areas[kind][order]),
                               "curve_mean": _round(curves.scores[kind][order].mean(axis=0)),
                               "curves": _round(curves.scores[kind][order])}
                       for order in curves.orders}
    return found


def dependence_summary(dependence, derived=None):
    """`{relu_rule: {"between_images", "to_blank", "units": [...], "derived": {...}}}`: the
    measured means over the units (None where not measured) and, with `derived`
    (`{relu_rule: ImageDependence}`), what the graph lets tie the projections to the image."""
    found = {}
    for relu_rule in sorted({*dependence, *(derived or {})}):
        measured = dependence.get(relu_rule, [])
        between = [d.between_images for d in measured if np.isfinite(d.between_images)]
        blank = [d.to_blank for d in measured if np.isfinite(d.to_blank)]
        found[relu_rule] = {
            "between_images": round(float(np.mean(between)), 6) if between else None,
            "to_blank": round(float(np.mean(blank)), 6) if blank else None,
            "units": [d.summary() for d in measured]}
        if derived and relu_rule in derived:
            graph = derived[relu_rule]
            found[relu_rule]["derived"] = {
                "switches": list(graph.switches), "paths": graph.paths,
                "gradients": len(graph.gradients), "independent": graph.independent,
                "verdict": graph.verdict}
    return found


def _target(report, image_names, class_names):
    target = report.target
    return [{"image": image, "feature": int(f), "position": [int(v) for v in p],
             "value": float(u),
             **({"class_name": class_names_lib.class_name(class_names, int(f))}
                if target.logits and class_names else {})}
            for image, f, p, u in zip(image_names, target.features, target.positions,
                                      report.units)]


def summary(report, image_names, class_names=None, **described):
    """Every number of a `SanityReport`, JSON-ready, with `described` (model, weights...)
    first."""
    settings = report.settings
    return {
        **described, "images": list(image_names), "layer": names_lib.short(report.target.layer),
        "unit": "class logit" if report.target.logits else "activation",
        "target": _target(report, image_names, class_names),
        "receptive_fields": None if report.boxes is None else [list(box) for box in report.boxes],
        "settings": {"methods": report.methods, "cascading": settings.cascading,
                     "independent": settings.independent,
                     "randomisation": settings.randomisation, "seed": settings.seed,
                     "steps": settings.steps, "fill": settings.fill,
                     "occluder": {"size": settings.occluder.size,
                                  "stride": settings.occluder.stride,
                                  "fill": settings.occluder.fill},
                     "batch_size": settings.batch_size,
                     "dependence_units": settings.dependence_units},
        "blocks": [{"name": block.name, "layers": list(block.layers)} for block in report.blocks],
        "block_scheme": report.block_scheme,
        "cascading": _randomised(report.cascading),
        "independent": _randomised(report.independent),
        "perturbation": _curves(report.curves),
        "image_dependence": dependence_summary(report.dependence, report.derived),
        "table": table(report), "verdicts": verdicts(report),
        "seconds": {phase: round(value, 2) for phase, value in report.seconds.items()}}


def table(report):
    """Per method: the similarities after the whole cascade (mean and spread over the images)
    and the deletion and insertion areas beside the random order's."""
    rows = {}
    areas = report.curves.areas
    for method in report.methods:
        row = {}
        if report.cascading is not None:
            for metric, values in report.cascading.similarity[method].items():
                row[metric] = {"mean": _round(round(float(mean(values[-1])), 4)),
                               "std": _round(round(float(spread(values[-1])), 4))}
        for kind in sanity_curves.KINDS:
            row[kind] = round(float(areas[kind][method].mean()), 4)
            row[f"{kind}_random"] = round(float(areas[kind][sanity_curves.RANDOM].mean()), 4)
        rows[method] = row
    return rows


def _similarity_words(value, same_picture=False):
    if same_picture:
        return ("the picture changes with the weights, but not with the image: it shows "
                "the weights' pattern, not what in this image drives the unit")
    if value >= MOSTLY_IMAGE:
        return "this picture mostly shows the image, not what the model learned"
    if value >= PARTLY_IMAGE:
        return "this picture partly survives noise weights: read it with care"
    return "this picture depends on the weights, as an explanation of the model should"


def _order_words(kind, own, chance):
    better = own < chance - AREA_MARGIN if kind == "deletion" else own > chance + AREA_MARGIN
    worse = own > chance + AREA_MARGIN if kind == "deletion" else own < chance - AREA_MARGIN
    how = "better than" if better else "worse than" if worse else "no better than"
    return f"{kind} area {own:.3f} vs random {chance:.3f} ({how} a random order)"


def _randomisation_words(report, method, same_picture):
    run = report.cascading
    spearman = float(mean(run.similarity[method]["spearman_abs"][-1]))
    words = [f"Spearman {spearman:.2f} after randomising every block: "
             f"{_similarity_words(spearman, same_picture)}"]
    zeros = int(run.zero_maps[method][-1])
    if zeros:
        words.append(f"{zeros} of {len(report.units)} maps were all zero then (counted as "
                     f"similarity 0)")
    return words


def verdicts(report):
    """`{method: one paragraph}` in plain words, each with the numbers it reads."""
    found = {}
    dependence = dependence_summary(report.dependence)
    for method in report.methods:
        between = dependence.get(method, {}).get("between_images")
        same_picture = between is not None and between >= SAME_PICTURE
        parts = (_randomisation_words(report, method, same_picture)
                 if report.cascading is not None else [])
        areas = report.curves.areas
        parts += [_order_words(kind, float(areas[kind][method].mean()),
                               float(areas[kind][sanity_curves.RANDOM].mean()))
                  for kind in sanity_curves.KINDS]
        if between is not None:
            parts.append(f"projections of one unit in different images correlate "
                         f"{between:.2f}" + (": the picture hardly depends on the image"
                                             if same_picture else ""))
        found[method] = f"{DESCRIBED.get(method, method)}: " + "; ".join(parts) + "."
    return found
