"""Issue 14: what the unit atlas costs, measured in one process (our machines are noisy: the
ratios are taken side by side, the absolute times only describe this run).

Part 1, pass 1: an atlas pass 1 of all 16 VGG19 conv layers (5,504 units, top 9, one image per
unit; `deconv.unit_atlas.passes.scan_layers`, checkpoints included) against a bare forward to
conv5_4 over the same images and tf.data pipeline, in alternating rounds.
Part 2, the whole VGG16 atlas (13 conv layers, 4,224 units, top 9) over COUNT images with
`build_atlas`: wall time and the share of pass 1, pass 2 and the site; per layer, pass 2's
seconds per projection as a ratio to G, one modified-gradient projection of that layer on one
224 x 224 image (the oracle's method, compiled), measured in the same process before and after
the atlas (median of both).
Part 3 (`--part3 ATLAS`), pass 2 side by side: for a few layers, the winners of 8 images of a
finished atlas projected as pass 2 does, at 16, 32 and 64 projections per reverse, against G,
in alternating rounds (robust to a loaded machine, unlike part 2's before/after G).

    python benchmarks/atlas.py [--count 200] [--pass1_count 64] [--rounds 3]
        [--weights random|FILE] [--out DIR]       # from the repository root
"""
import argparse
import json
import os
import shutil
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import deconv  # noqa: E402
from bench import CONV_LAYERS, ModifiedGradient, side_by_side, make_images  # noqa: E402
from deconv import _net  # noqa: E402
from deconv.core import compiled  # noqa: E402
from deconv.io import images as image_files  # noqa: E402
from deconv.io import streaming  # noqa: E402
from deconv.sweeps import scan as scan_lib  # noqa: E402
from deconv.unit_atlas import build, passes, records  # noqa: E402


def pass_one(count, rounds):
    """Part 1: `(ratio median, ratios, seconds)` of atlas pass 1 over a bare forward."""
    folder = make_images(os.path.join(tempfile.gettempdir(), f"deconv_atlas_images{count}"),
                         count)
    paths = image_files.find_images(folder, image_files.parse_extensions(None))[:count]
    net = deconv.Deconvnet(deconv.load_model("vgg19", weights=None, seed=0))
    settings = build.AtlasSettings(batch_size=16)
    layers = build.choose_layers(net, CONV_LAYERS, settings)
    forward = tf.function(net.activations_graph("conv5_4"),
                          input_signature=[compiled.IMAGES])

    def bare():
        for _ in streaming.stream(paths, lambda p: forward(tf.cast(p, tf.float32)),
                                  settings.reading):
            pass

    def atlas_pass_one():
        out = tempfile.mkdtemp(prefix="atlas_pass1_")
        try:
            passes.scan_layers(net, paths, layers, settings, out, "bench")
        finally:
            shutil.rmtree(out)

    sweeps = [passes.layer_sweep(net, layer, settings) for layer in layers]

    def scan_only():  # the runner's scan alone, without the atlas's checkpoints and files
        state = scan_lib.ScanState.fresh(net, sweeps)
        for _ in scan_lib.scan(net, paths, sweeps, state, settings.reading):
            pass

    times = side_by_side({"bare": bare, "pass1": atlas_pass_one, "scan": scan_only}, rounds)
    ratios = [a / b for a, b in zip(times["pass1"], times["bare"])]
    return float(np.median(ratios)), ratios, times


def gradient_seconds(net, layers, repeats=5):
    """G per layer: seconds of one modified-gradient projection on one 224 image (median)."""
    image = tf.constant(np.random.default_rng(0).uniform(0, 255, (1, 224, 224, 3)), tf.float32)
    out = {}
    for layer in layers:
        gradient = tf.function(ModifiedGradient(net, layer),
                               input_signature=[compiled.IMAGES, tf.TensorSpec([None], tf.int32)])
        times = side_by_side({"G": lambda: gradient(image, tf.zeros([1], tf.int32)).numpy()},
                              repeats)
        out[layer] = times["G"]
    return out


def whole_atlas(count, weights, out):
    """Part 2: the VGG16 atlas over `count` images; returns a JSON-ready report."""
    folder = make_images(os.path.join(tempfile.gettempdir(), f"deconv_atlas_images{count}"),
                         count)
    paths, ignored = image_files.scan_folder(folder, image_files.parse_extensions(None))
    net, load = _net.load_net("vgg16", weights, 0)
    record = load()
    settings = build.AtlasSettings()
    layers = build.choose_layers(net, "all", settings)
    before = gradient_seconds(net, layers)
    records.remove(out)
    started = time.perf_counter()
    outcome = build.build_atlas(net, paths, folder, layers, out, settings, record, ignored)
    wall = time.perf_counter() - started
    after = gradient_seconds(net, layers)
    pass2 = sum(outcome.project_seconds.values())
    report = {"images": count, "weights": weights, "wall_s": wall,
              "pass1_s": outcome.scan_seconds, "pass2_s": pass2,
              "rest_s": wall - outcome.scan_seconds - pass2, "layers": {}}
    for layer in outcome.atlas["layers"]:
        projections = sum(len(entries) for entries in layer["top"])
        g = float(np.median(before[layer["keras_layer"]] + after[layer["keras_layer"]]))
        per = outcome.project_seconds[layer["name"]] / projections
        report["layers"][layer["name"]] = {
            "units": layer["units"], "projections": projections,
            "pass2_s": outcome.project_seconds[layer["name"]], "per_projection_s": per,
            "G_s": g, "per_projection_over_G": per / g}
    total = sum(v["projections"] for v in report["layers"].values())
    report["per_projection_over_G_overall"] = pass2 / sum(
        v["projections"] * v["G_s"] for v in report["layers"].values())
    report["projections"] = total
    return report


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--pass1_count", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--weights", default="random")
    parser.add_argument("--out", default=os.path.join(tempfile.gettempdir(), "atlas_bench"))
    parser.add_argument("--skip_pass1", action="store_true")
    parser.add_argument("--part3", default=None, help="a finished atlas folder: run part 3 "
                        "only, on its conv1_2, conv3_3, conv4_3, conv5_1 and conv5_3")
    args = parser.parse_args()
    if args.part3:
        pass_two_side_by_side(args.part3, ["conv1_2", "conv3_3", "conv4_3", "conv5_1",
                                           "conv5_3"])
        return
    if not args.skip_pass1:
        median, ratios, times = pass_one(args.pass1_count, args.rounds)
        print(f"part 1: {args.pass1_count} images, VGG19 all 16 conv layers: pass 1 / bare "
              f"forward median {median:.3f} (rounds {[round(r, 3) for r in ratios]}; bare "
              f"{[round(t, 1) for t in times['bare']]} s, pass 1 "
              f"{[round(t, 1) for t in times['pass1']]} s; the scan alone / bare "
              f"{np.median([a / b for a, b in zip(times['scan'], times['bare'])]):.3f})",
              flush=True)
    if not args.count:  # --count 0: part 1 only
        return
    report = whole_atlas(args.count, args.weights, args.out)
    print("part 2:", json.dumps(report, indent=1), flush=True)
    print(f"part 2: VGG16 atlas, {report['images']} images, {report['projections']} projections: "
          f"wall {report['wall_s']:.0f} s = pass 1 {report['pass1_s']:.0f} s "
          f"({report['pass1_s'] / report['wall_s']:.0%}) + pass 2 {report['pass2_s']:.0f} s "
          f"({report['pass2_s'] / report['wall_s']:.0%}) + site and records "
          f"{report['rest_s']:.0f} s; per projection / G overall "
          f"{report['per_projection_over_G_overall']:.3f}")
    for name, layer in report["layers"].items():
        print(f"  {name}: {layer['units']} units, {layer['pass2_s']:.1f} s, per projection / G "
              f"{layer['per_projection_over_G']:.3f} (G {layer['G_s'] * 1000:.0f} ms)")




def pass_two_side_by_side(atlas_dir, layers, images=8, batches=(16, 32, 64), rounds=3):
    """Part 3: pass 2's cost per projection over G, side by side in alternating rounds (robust
    to a loaded machine): the winners of `images` images of a finished atlas, projected as pass
    2 does (`deconv.sweeps.pass2.project`, each `project_batch`), vs G once per projection."""
    from deconv.sweeps import pass2
    from deconv.sweeps.winners import Winner
    with open(os.path.join(atlas_dir, "atlas.json")) as stream:
        atlas = json.load(stream)
    net, load = _net.load_net("vgg16", atlas["weights"]["weights"], 0)
    load()
    root = atlas["dataset"]["root"]
    image = tf.constant(np.random.default_rng(0).uniform(0, 255, (1, 224, 224, 3)), tf.float32)
    for layer in atlas["layers"]:
        if layer["name"] not in layers:
            continue
        found = [Winner(rank, os.path.join(root, e["image"]), unit, tuple(e["position"]),
                        e["value"]) for unit, entries in enumerate(layer["top"])
                 for rank, e in enumerate(entries, 1)]
        groups = list(pass2.group_by_image(found).values())
        chosen = [found[n] for g in groups[::max(1, len(groups) // images)][:images] for n in g]
        gradient = tf.function(ModifiedGradient(net, layer["keras_layer"]),
                               input_signature=[compiled.IMAGES, tf.TensorSpec([None], tf.int32)])
        calls = {"G": lambda: gradient(image, tf.zeros([1], tf.int32)).numpy()}
        for batch in batches:
            calls[f"P{batch}"] = (lambda b=batch: [None for _ in pass2.project(
                net, layer["keras_layer"], chosen, 224, "stretch", b)])
        times = side_by_side(calls, rounds)
        g = float(np.median(times["G"]))
        print(f"part 3: {layer['name']}: {len(chosen)} winners of {images} images, per "
              f"projection / G: " + ", ".join(
                  f"batch {b} {float(np.median(times[f'P{b}'])) / len(chosen) / g:.3f}"
                  for b in batches) + f" (G {g * 1000:.0f} ms)", flush=True)


if __name__ == "__main__":
    main()
