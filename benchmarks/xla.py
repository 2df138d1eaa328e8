"""Issue 28: the projection graphs compiled with XLA (`jit_compile=True`) or not, on CPU, per
model: one batch of one activation per image; the reverse over whole maps (the deconv model) on
every model, the whole projection (`Deconvnet.project_groups`'s graph, as pass 2 and `project`
run it, windowed where the plan says) where XLA can compile it. Side by side in one process,
rounds alternating the order, medians of per-round ratios; and each one's first call (trace +
compile).

    python benchmarks/xla.py --out /tmp/xla.json [--models vgg16,resnet50] [--batch 8]
"""
import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import deconv  # noqa: E402
from deconv.core import layers  # noqa: E402
from deconv.core import selection  # noqa: E402

CASES = {"vgg16": "conv5_3", "resnet50": "conv4_block6_out",
         "efficientnetb0": "block6a_expand_activation",
         "efficientnet_lite0": "block6a_expand_activation"}


def _compare(runs, args, rounds):
    """`{label: seconds of the first call}`, `{label: [seconds per round]}` and the relative
    difference of the two results, for `runs = {"plain": f, "xla": f}` called on `args`."""
    first, results = {}, {}
    for label, run in runs.items():
        started = time.perf_counter()
        results[label] = run(*args)[0].numpy()
        first[label] = time.perf_counter() - started
    error = float(np.abs(results["xla"] - results["plain"]).max()
                  / max(np.abs(results["plain"]).max(), 1e-30))
    times = {label: [] for label in runs}
    for number in range(rounds):
        for label in (list(runs) if number % 2 == 0 else list(runs)[::-1]):
            started = time.perf_counter()
            runs[label](*args)[0].numpy()
            times[label].append(time.perf_counter() - started)
    return first, times, error


def _row(what, first, times, error):
    return {f"{what}_plain_s": round(float(np.median(times["plain"])), 4),
            f"{what}_xla_s": round(float(np.median(times["xla"])), 4),
            f"{what}_xla/plain": round(float(np.median(np.array(times["xla"])
                                                      / np.array(times["plain"]))), 3),
            f"{what}_first_call_plain_s": round(first["plain"], 1),
            f"{what}_first_call_xla_s": round(first["xla"], 1), f"{what}_xla_rel_error": error}


def measure(name, layer, batch, size, rounds):
    """The reverse over whole maps (the deconv model, from the forward's tensors) with and
    without XLA, and the whole projection (forward with switches + reverse) where XLA can
    compile it: `max_pool_with_argmax` has no XLA kernel, so not on models with max-pools."""
    net = deconv.Deconvnet(deconv.load_model(name, weights=None, seed=0))
    key = net.resolve(layer)
    builder = net.builder
    rng = np.random.default_rng(0)
    images = tf.constant(rng.uniform(0, 255, (batch, size, size, 3)), tf.float32)
    tensors = builder.forward_model(key)(images, training=False)
    signal, _, _ = selection.one_per_image(tensors[key], tf.zeros([batch], tf.int32),
                                           -tf.ones([batch, 2], tf.int32))
    inputs = {"signal": signal, **{k: tensors[k] for k in builder.deconv_inputs(key)}}
    model = builder.deconv_model(key)
    reverse = lambda i: (model(i, training=False),)  # noqa: E731
    row = {"model": name, "layer": layer, "batch": batch, "size": size,
           **_row("reverse", *_compare({"plain": tf.function(reverse),
                                        "xla": tf.function(reverse, jit_compile=True)},
                                       (inputs,), rounds))}
    grouped = builder.project_groups_fn(key, builder.reverse_plan(key, "auto", (size, size)))
    if any(isinstance(layer_, layers.ArgmaxPool) for layer_ in builder.forward_model(key).layers):
        row["projection"] = "not compiled by XLA: MaxPoolWithArgmax has no XLA kernel"
    else:
        args = (images, tf.range(batch, dtype=tf.int32), tf.zeros([batch], tf.int32),
                -tf.ones([batch, 2], tf.int32))
        row.update(_row("projection", *_compare(
            {"plain": tf.function(grouped.function, input_signature=grouped.specs),
             "xla": tf.function(grouped.function, input_signature=grouped.specs,
                                jit_compile=True)}, args, rounds)))
    row["load"] = os.getloadavg()[0]
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="/tmp/xla.json")
    parser.add_argument("--models", default=",".join(CASES))
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    rows = []
    for name in args.models.split(","):
        rows.append(measure(name, CASES[name], args.batch, args.size, args.rounds))
        print(json.dumps(rows[-1]), flush=True)
        with open(args.out, "w", encoding="utf-8") as stream:
            json.dump({"rows": rows, "tensorflow": tf.__version__}, stream, indent=1)


if __name__ == "__main__":
    main()
