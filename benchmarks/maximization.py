"""Issue 25: how good deconv's feature visualizations are, per parameterisation (pixel, fourier,
maco), on EfficientNet-Lite0 with its ImageNet weights, measured by the tool itself.

Part `classes`: 50 fixed ImageNet classes (every 20th id, 0 to 980; `--list` names them), one
image per class raising its logit; EfficientNet-Lite2 (ImageNet, 260 px) judges each: its rank
and probability of the class; top-1 and top-5 hit rates.
Part `units`: 64 units of three layers (block3b_add 21, block5c_add 21, block6d_add 22, ids
evenly spread), each image raising the unit's mean; its strongest activation against the unit's
strongest natural activation over 200 crops of the example photos at 224 px (pass 1 of a
sweep): the activation ratio (target: at least 1 for every unit).
Part `diversity`: a few units with 4 images each, without the diversity term and with it (the
default weight): each unit's mean pairwise Gram similarity on its layer.
Every part records the seconds per target (one batch's wall time over its targets; the machine
is shared, so these are only this run's).

Heavy on two shared cores: it runs in parts, resumes (each finished batch is saved in
--results; a target already there with the same settings is skipped) and takes fewer classes,
units or steps by flags. What ran is in --results, entry by entry; --table prints the tables
from it, saying how many targets each cell holds.

    python benchmarks/maximization.py --part classes --params fourier,maco [--targets 0-9]
        [--steps N] [--batch 5] [--results FILE] [--pictures DIR]
    python benchmarks/maximization.py --part units --params pixel [--targets 0-20]
    python benchmarks/maximization.py --part diversity --params fourier --targets 0-3
    python benchmarks/maximization.py --table [--results FILE]
"""
import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

import numpy as np  # noqa: E402

import deconv  # noqa: E402
from bench import make_images  # noqa: E402
from deconv.analysis import maximization_quality as quality  # noqa: E402
from deconv.io import images as image_files  # noqa: E402
from deconv.io import outputs  # noqa: E402
from deconv.models import classes as class_data  # noqa: E402

CLASSES = list(range(0, 1000, 20))
LAYERS = {"block3b_add": 21, "block5c_add": 21, "block6d_add": 22}
DIVERSITY_COPIES = 4
PARAMS = ("pixel", "fourier", "maco")
RESULTS = os.path.join(HERE, "maximization_results.json")
# The pixel method stops at the first size of its schedule past 224: 56 -> 237 px in 9 rounds.
PIXEL = deconv.Schedule(init_size=56, steps=20, rounds=9)


def units():
    """The 64 units: `(layer, unit)`, ids evenly spread over each layer's maps."""
    counts = {"block3b_add": 40, "block5c_add": 112, "block6d_add": 192}
    return [(layer, int(unit)) for layer, n in LAYERS.items()
            for unit in np.linspace(0, counts[layer] - 1, n).round().astype(int)]


def schedule(param, steps, size):
    if param == "pixel":
        return PIXEL if steps is None else deconv.Schedule(init_size=56, steps=steps, rounds=9)
    return deconv.Optimization(param, steps=steps, size=size).resolved()


def settings_of(param, steps, size):
    """What decides a result, recorded beside it."""
    chosen = schedule(param, steps, size)
    if param == "pixel":
        return {"steps": chosen.steps * chosen.rounds, "size": chosen.sizes[-1]}
    return {"steps": chosen.steps, "size": chosen.size}


def load(path):
    if os.path.exists(path):
        with open(path, encoding="utf-8") as stream:
            return json.load(stream)
    return {}


def save(path, results):
    outputs.write_json(path, results)


def pending(results, part, param, keys, settings):
    done = results.get(part, {}).get(param, {})
    return [key for key in keys if done.get(str(key), {}).get("settings") != settings]


def natural_tops(net, results, path):
    """Each benchmark layer's top-1 natural activation per unit, computed once and kept."""
    if "natural" not in results:
        folder = make_images("/tmp/deconv_atlas_images200", 200)
        paths = image_files.find_images(folder, image_files.readable_extensions())
        results["natural"] = {"images": f"{len(paths)} crops of examples/images (bench."
                                        f"make_images), 224 px", "layers": {}}
        for layer in LAYERS:
            values, _, _ = quality.natural_top(net, layer, paths, quality.reading_for(224))
            results["natural"]["layers"][layer] = [float(v) for v in values]
        save(path, results)
    return {layer: np.asarray(v) for layer, v in results["natural"]["layers"].items()}


def run_classes(args, results, param, nets):
    net, judge = nets["lite0"], nets["judge"]
    settings = settings_of(param, args.steps, args.size)
    todo = pending(results, "classes", param, [CLASSES[i] for i in args.targets], settings)
    names = [entry[1] for entry in class_data.imagenet_classes()]
    for start in range(0, len(todo), args.batch):
        chunk = todo[start:start + args.batch]
        began = time.perf_counter()
        found = deconv.maximize_maps(net, "predictions", chunk,
                                     schedule=schedule(param, args.steps, args.size))
        seconds = (time.perf_counter() - began) / len(chunk)
        verdicts = judge.verdict(found.images, chunk, names)
        for index, (target, verdict) in enumerate(zip(chunk, verdicts)):
            results.setdefault("classes", {}).setdefault(param, {})[str(target)] = {
                "settings": settings, "name": names[target], "logit": float(found.values[index]),
                "seconds": seconds, **{k: verdict[k] for k in ("rank", "probability", "top5")}}
            _picture(args, "classes", param, str(target), found.images[index])
        save(args.results, results)
        print(f"classes {param}: {chunk} ranks {[v['rank'] for v in verdicts]}, "
              f"{seconds:.0f} s per class", flush=True)


def run_units(args, results, param, nets):
    net = nets["lite0"]
    natural = natural_tops(net, results, args.results)
    settings = settings_of(param, args.steps, args.size)
    chosen = [units()[i] for i in args.targets]
    keys = pending(results, "units", param, [f"{l}/{u}" for l, u in chosen], settings)
    for layer in LAYERS:
        wanted = [int(k.split("/")[1]) for k in keys if k.startswith(layer + "/")]
        for start in range(0, len(wanted), args.batch):
            chunk = wanted[start:start + args.batch]
            began = time.perf_counter()
            found = deconv.maximize_maps(net, layer, chunk,
                                         schedule=schedule(param, args.steps, args.size))
            seconds = (time.perf_counter() - began) / len(chunk)
            reached = quality.reached(net, layer, found.images, chunk)
            for index, unit in enumerate(chunk):
                best = float(natural[layer][unit])
                results.setdefault("units", {}).setdefault(param, {})[f"{layer}/{unit}"] = {
                    "settings": settings, "activation": float(reached[index]),
                    "natural_top1": best, "ratio": float(reached[index]) / best if best > 0
                    else None, "seconds": seconds}
                _picture(args, "units", param, f"{layer}_{unit}", found.images[index])
            save(args.results, results)
            ratios = [results["units"][param][f"{layer}/{u}"]["ratio"] for u in chunk]
            print(f"units {param} {layer} {chunk}: ratios "
                  f"{[None if r is None else round(r, 2) for r in ratios]}, {seconds:.0f} s "
                  f"per unit", flush=True)


def run_diversity(args, results, param, nets):
    net = nets["lite0"]
    settings = {**settings_of(param, args.steps, args.size), "copies": DIVERSITY_COPIES}
    chosen = [units()[i] for i in args.targets]
    keys = pending(results, "diversity", param, [f"{l}/{u}" for l, u in chosen], settings)
    for key in keys:
        layer, unit = key.split("/")
        row = {"settings": settings}
        for label, weight in (("without", 0.0), ("with", None)):
            began = time.perf_counter()
            extra = {} if weight is None else {"diversity_weight": weight}
            found = deconv.maximize_maps(net, layer, [int(unit)], diversity=DIVERSITY_COPIES,
                                         schedule=schedule(param, args.steps, args.size),
                                         **extra)
            row[label] = {"similarity": float(found.similarity[0]),
                          "values": [float(v) for v in found.values],
                          "seconds": time.perf_counter() - began}
            for copy, image in enumerate(found.images):
                _picture(args, "diversity", param, f"{layer}_{unit}_{label}_{copy}", image)
        results.setdefault("diversity", {}).setdefault(param, {})[key] = row
        save(args.results, results)
        print(f"diversity {param} {key}: similarity {row['without']['similarity']:.3f} "
              f"without the term, {row['with']['similarity']:.3f} with it", flush=True)


def _picture(args, part, param, name, image):
    if args.pictures:
        os.makedirs(os.path.join(args.pictures, part, param), exist_ok=True)
        outputs.write_png(os.path.join(args.pictures, part, param, f"{name}.png"),
                          image.round().clip(0, 255).astype("uint8"))


def _cell(values, fmt):
    return "–" if not values else fmt(values)


def _class_table(classes):
    """The class visualisations' verdicts per param and step count, in Markdown rows."""
    lines = ["| param | steps | classes judged | top-1 | top-5 | median rank | s / class |",
             "|---|---|---|---|---|---|---|"]
    for param, rows in classes.items():
        for steps in sorted({r["settings"]["steps"] for r in rows.values()}):
            chosen = [r for r in rows.values() if r["settings"]["steps"] == steps]
            ranks = [r["rank"] for r in chosen]
            lines.append(f"| {param} | {steps} | {len(chosen)} | "
                         f"{np.mean([r == 1 for r in ranks]):.0%} | "
                         f"{np.mean([r <= 5 for r in ranks]):.0%} | {np.median(ranks):g} | "
                         f"{np.median([r['seconds'] for r in chosen]):.0f} |")
    return lines


def table(results):
    """The benchmark's tables in Markdown, from whatever `results` holds."""
    classes = results.get("classes", {})
    lines = _class_table(classes)
    shared = set.intersection(*[set(rows) for rows in classes.values()]) if classes else set()
    if shared and any(len(rows) > len(shared) for rows in classes.values()):
        lines += ["", f"The same, on the {len(shared)} classes every param ran:", ""]
        lines += _class_table({param: {k: r for k, r in rows.items() if k in shared}
                               for param, rows in classes.items()})
    lines += ["", "| param | steps | layer | units | ratio >= 1 | min ratio | median ratio "
              "| s / unit |", "|---|---|---|---|---|---|---|---|"]
    for param, rows in results.get("units", {}).items():
        for steps in sorted({r["settings"]["steps"] for r in rows.values()}):
            for layer in LAYERS:
                chosen = [r for k, r in rows.items() if k.startswith(layer + "/")
                          and r["settings"]["steps"] == steps and r["ratio"] is not None]
                if not chosen:
                    continue
                ratios = [r["ratio"] for r in chosen]
                lines.append(f"| {param} | {steps} | {layer} | {len(chosen)} | "
                             f"{sum(r >= 1 for r in ratios)} | {min(ratios):.2f} | "
                             f"{np.median(ratios):.2f} | "
                             f"{np.median([r['seconds'] for r in chosen]):.0f} |")
    lines += ["", "| param | steps | units (x4 images) | Gram similarity without the term | "
              "with it | objective with / without |", "|---|---|---|---|---|---|"]
    for param, rows in results.get("diversity", {}).items():
        for steps in sorted({r["settings"]["steps"] for r in rows.values()}):
            chosen = [r for r in rows.values() if r["settings"]["steps"] == steps]
            kept = [np.mean(r["with"]["values"]) / np.mean(r["without"]["values"])
                    for r in chosen]
            lines.append(f"| {param} | {steps} | {len(chosen)} | "
                         f"{np.mean([r['without']['similarity'] for r in chosen]):.3f} | "
                         f"{np.mean([r['with']['similarity'] for r in chosen]):.3f} | "
                         f"{np.median(kept):.2f} |")
    return "\n".join(lines)


def _ids(text, count):
    found = []
    for part in text.split(","):
        low, _, high = part.partition("-")
        found.extend(range(int(low), int(high or low) + 1))
    if not all(0 <= i < count for i in found):
        raise SystemExit(f"--targets must lie in 0 to {count - 1}; received {text!r}.")
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=["classes", "units", "diversity"])
    parser.add_argument("--params", default=",".join(PARAMS))
    parser.add_argument("--targets", default=None, help="indices of the classes (0-49) or "
                        "units (0-63) to run; default: all")
    parser.add_argument("--steps", type=int, default=None, help="default: each param's own")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=5, help="targets per batch")
    parser.add_argument("--results", default=RESULTS)
    parser.add_argument("--pictures", default="/tmp/deconv_maximization_bench")
    parser.add_argument("--table", action="store_true")
    parser.add_argument("--list", action="store_true", help="print the 50 classes")
    args = parser.parse_args()
    results = load(args.results)
    if args.list:
        names = class_data.imagenet_classes()
        print(", ".join(f"{c} {names[c][1]}" for c in CLASSES))
        return
    if args.table or not args.part:
        print(table(results))
        return
    count = len(CLASSES) if args.part == "classes" else len(units())
    args.targets = _ids(args.targets, count) if args.targets else list(range(count))
    nets = {"lite0": deconv.Deconvnet(deconv.load_model("efficientnet_lite0", weights="imagenet",
                                                        include_top=True))}
    if args.part == "classes":
        judge = deconv.Deconvnet(deconv.load_model("efficientnet_lite2", weights="imagenet",
                                                   include_top=True))
        nets["judge"] = quality.Judge(judge, 260, "efficientnet_lite2")
    run = {"classes": run_classes, "units": run_units, "diversity": run_diversity}[args.part]
    for param in args.params.split(","):
        run(args, results, param, nets)
    print(table(results))


if __name__ == "__main__":
    main()
