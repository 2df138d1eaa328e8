"""Projections on graph models (issues 13, 28): their cost as ratios to the modified gradient
(G), to the forward pass (F) and to the floor (B: one forward pass plus one input-only
backward pass), side by side in one run, and the peak memory of each.

    python benchmarks/graphs.py --out benchmarks/graphs.json     # about 30 minutes on 2 cores
    python benchmarks/graphs.py --models resnet50 --no_memory    # one model

F: the forward pass to the layer (compiled). P: `Deconvnet.project` of one activation per image
as it runs (windowed where the plan says, `windowed="auto"`). Pf: the same over whole maps
(`windowed=False`). G: the modified gradient other tools compute, with TensorFlow's tape on a
clone whose ReLUs have the deconvnet's backward (tests/helpers/graph_oracle.py), compiled. B:
the plain gradient of the same activations with respect to the pixels (forward plus input-only
backward): what any reverse pass costs at least without windows. Rounds rotate the order of
the five (our machines are noisy); medians of per-round ratios are reported. Peak memory: each
method alone in a fresh process (ru_maxrss).
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import deconv  # noqa: E402
from deconv.core import compiled  # noqa: E402

CASES = {"resnet50": ["conv3_block4_out", "conv4_block6_out", "conv5_block3_out"],
         "efficientnetb0": ["block3b_add", "block6a_expand_activation", "top_activation"],
         "efficientnet_lite0": ["block3b_add", "block6a_expand_activation", "top_activation"]}


def input_gradient(net, model, key, modified):
    """`images -> gradient of each image's strongest activation of map 0` on a clone of
    `model` (ReLUs with the deconvnet's backward if `modified`), compiled."""
    from tests.helpers import graph_oracle
    copy = graph_oracle.clone(model) if modified else model
    target = keras.Model(copy.inputs, copy.get_layer(key).output)
    mode = net.preprocessing

    @tf.function(input_signature=[compiled.IMAGES])
    def gradient(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            pre = (tf.reverse(x, [-1]) if mode.bgr else x) - tf.constant(mode.mean)
            activations = target(pre * tf.constant(mode.scale), training=False)
            flat = tf.reshape(activations[..., 0], [tf.shape(activations)[0], -1])
            total = tf.reduce_sum(tf.reduce_max(flat, axis=1))
        return tape.gradient(total, x)

    return gradient


def _setup(name, layer, batch, size):
    model = deconv.load_model(name, weights=None, seed=0)
    net = deconv.Deconvnet(model)
    key = net.resolve(layer)
    images = tf.constant(np.random.default_rng(0).uniform(0, 255, (batch, size, size, 3)),
                         tf.float32)
    features = np.zeros(batch, np.int32)
    forward = net.builder.activations_fn(key)
    modified, plain = input_gradient(net, model, key, True), input_gradient(net, model, key, False)
    return net, {
        "F": lambda: forward(images).numpy(),
        "P": lambda: net.project(images, key, features, batch_size=batch),
        "Pf": lambda: net.project(images, key, features, batch_size=batch, windowed=False),
        "G": lambda: modified(images).numpy(),
        "B": lambda: plain(images).numpy()}


def _time(runs, rounds):
    for run in runs.values():  # the first call runs eagerly, the second traces: warm up
        run()
        run()
        run()
    times = {name: [] for name in runs}
    order = list(runs)
    for number in range(rounds):
        for name in order[number % len(order):] + order[:number % len(order)]:
            started = time.perf_counter()
            runs[name]()
            times[name].append(time.perf_counter() - started)
    return times


def _ratio(times, top, bottom):
    return round(float(np.median(np.array(times[top]) / np.array(times[bottom]))), 3)


def _plan(net, key, size):
    """Where the projection runs in windows: how many steps, and where whole maps take over."""
    choice = net.builder.reverse_plan(key, "auto", (size, size))
    if not choice.windowed:
        return "-"
    plan = net.builder.window_plan(key, choice.image_size, choice.limit)
    return f"{len(plan.steps)} steps, to {', '.join(plan.boundary) or 'the pixels'}"


def _peak(name, layer, method, batch, size):
    """Peak RSS (MB) of a fresh process running `method` (or only building, for None)."""
    code = (f"import benchmarks.graphs as g, resource; _, r = g._setup({name!r}, {layer!r}, "
            f"{batch}, {size}); " + ("" if method is None else f"r[{method!r}](); r[{method!r}]();")
            + " print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return int(result.stdout.strip().splitlines()[-1]) / 1024


def measure(name, layer, args):
    """One row: medians, ratios, the window plan, and (for the second layer) peak memory."""
    net, runs = _setup(name, layer, args.batch, args.size)
    key = net.resolve(layer)
    windowed = net.project_details(np.random.default_rng(1).uniform(
        0, 255, (2, args.size, args.size, 3)), key, 0)
    full = net.project_details(np.random.default_rng(1).uniform(
        0, 255, (2, args.size, args.size, 3)), key, 0, windowed=False)
    error = float(np.abs(windowed.reconstructions - full.reconstructions).max()
                  / max(np.abs(full.reconstructions).max(), 1e-30))
    times = _time(runs, args.rounds)
    row = {"model": name, "layer": layer, "batch": args.batch, "size": args.size,
           "window": _plan(net, key, args.size), "P_vs_Pf_rel_error": error,
           **{f"{k}_s": round(float(np.median(v)), 4) for k, v in times.items()},
           **{f"{a}/{b}": _ratio(times, a, b) for a, b in (
               ("P", "G"), ("Pf", "G"), ("P", "F"), ("P", "B"), ("G", "B"), ("B", "F"))},
           "load": os.getloadavg()[0]}
    if not args.no_memory and layer == CASES[name][1]:
        row["build_peak_MB"] = round(_peak(name, layer, None, args.batch, args.size), 1)
        for method in ("F", "P", "G"):
            row[f"{method}_peak_MB"] = round(_peak(name, layer, method, args.batch, args.size),
                                             1)
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmarks/graphs.json")
    parser.add_argument("--models", default=",".join(CASES))
    parser.add_argument("--layers", default=None, help="only these layers (comma-separated)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no_memory", action="store_true")
    args = parser.parse_args()
    rows = []
    for name in args.models.split(","):
        for layer in CASES[name]:
            if args.layers and layer not in args.layers.split(","):
                continue
            rows.append(measure(name, layer, args))
            print(json.dumps(rows[-1]), flush=True)
            with open(args.out, "w", encoding="utf-8") as stream:
                json.dump({"rows": rows, "tensorflow": tf.__version__,
                           "max_rss_MB_this_process": resource.getrusage(
                               resource.RUSAGE_SELF).ru_maxrss / 1024}, stream, indent=1)


if __name__ == "__main__":
    main()
