"""Projections on graph models (issue 13): their cost as ratios to the forward pass (F) and to the
modified gradient (G), side by side in one run, and the peak memory of each.

    python benchmarks/graphs.py --out benchmarks/graphs.json     # about 10 minutes on 2 cores

F: the forward pass to the layer (compiled). P: `Deconvnet.project` of one activation per image
(its compiled graph: forward with switches, then the deconv model). G: the modified gradient
other tools compute, with TensorFlow's tape on a clone whose ReLUs have the deconvnet's
backward (tests/graph_oracle.py), compiled. Rounds alternate the three (our machines are
noisy); medians are reported. Peak memory: each method alone in a fresh process (ru_maxrss),
beside a process that only built the model and its graphs.
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
         "efficientnetb0": ["block3b_add", "block6a_expand_activation", "top_activation"]}


def _setup(name, layer, batch, size):
    from tests import graph_oracle
    model = deconv.load_model(name, weights=None, seed=0)
    net = deconv.Deconvnet(model)
    key = net.resolve(layer)
    images = tf.constant(np.random.default_rng(0).uniform(0, 255, (batch, size, size, 3)),
                         tf.float32)
    features = tf.zeros([batch], tf.int32)
    minus = -tf.ones([batch, 2], tf.int32)
    forward = net.builder.activations_fn(key)
    project = tf.function(net.builder.projection_graph(key), input_signature=[
        compiled.IMAGES, *compiled.SELECTIONS["activation"][1]])
    copy = graph_oracle.clone(model)
    target = keras.Model(copy.inputs, copy.get_layer(key).output)
    mode = net.preprocessing

    @tf.function(input_signature=[compiled.IMAGES])
    def gradient(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            pre = (tf.reverse(x, [-1]) if mode.bgr else x) - tf.constant(mode.mean)
            activations = target(pre * tf.constant(mode.scale), training=False)
            maps = activations[..., 0]
            flat = tf.reshape(maps, [tf.shape(maps)[0], -1])
            best = tf.reduce_max(flat, axis=1)
            total = tf.reduce_sum(best)
        return tape.gradient(total, x)

    return {"F": lambda: forward(images).numpy(),
            "P": lambda: project(images, features, minus)[0].numpy(),
            "G": lambda: gradient(images).numpy()}


def _time(runs, rounds):
    for run in runs.values():  # trace and warm up, twice
        run()
        run()
    times = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            started = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - started)
    return {name: float(np.median(values)) for name, values in times.items()}


def _peak(name, layer, method, batch, size):
    """Peak RSS (MB) of a fresh process running `method` (or only building, for None)."""
    code = (f"import benchmarks.graphs as g, resource; r = g._setup({name!r}, {layer!r}, "
            f"{batch}, {size}); " + ("" if method is None else f"r[{method!r}](); r[{method!r}]();")
            + " print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return int(result.stdout.strip().splitlines()[-1]) / 1024


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmarks/graphs.json")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no_memory", action="store_true")
    args = parser.parse_args()
    rows = []
    for name, layers in CASES.items():
        for layer in layers:
            times = _time(_setup(name, layer, args.batch, args.size), args.rounds)
            row = {"model": name, "layer": layer, "batch": args.batch, "size": args.size,
                   **{f"{k}_s": round(v, 4) for k, v in times.items()},
                   "P/F": round(times["P"] / times["F"], 3),
                   "P/G": round(times["P"] / times["G"], 3),
                   "G/F": round(times["G"] / times["F"], 3)}
            if not args.no_memory and layer == layers[1]:
                row["build_peak_MB"] = round(_peak(name, layer, None, args.batch, args.size), 1)
                for method in ("F", "P", "G"):
                    row[f"{method}_peak_MB"] = round(
                        _peak(name, layer, method, args.batch, args.size), 1)
            rows.append(row)
            print(json.dumps(row), flush=True)
    with open(args.out, "w", encoding="utf-8") as stream:
        json.dump({"rows": rows, "max_rss_MB_this_process": resource.getrusage(
            resource.RUSAGE_SELF).ru_maxrss / 1024}, stream, indent=1)


if __name__ == "__main__":
    main()
