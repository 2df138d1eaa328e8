"""Issues 14 and 28: what atlas pass 2 costs per projection, as a ratio to one modified-gradient
projection (G1: one activation of one image, `benchmarks/graphs.py`'s G), side by side in one
process, rounds rotating the order, medians; seeded random weights, 224x224.

E1: one image's one winner (`Deconvnet.project_groups`, one call). E32: one image's 32 winners
in one call (one forward with switches, one batched reverse). Before, 8 images with 4 winners
each took 8 such calls (`B8x4`: pass 2 grouped by image, issue 14); now they share one call
(`M8x4`: the 8 images forwarded in one batch, one reverse of the 32 winners; issue 28).

    python benchmarks/atlas_pass2.py --model vgg16 --layers conv1_2,conv3_3,conv4_3,conv5_3
    python benchmarks/atlas_pass2.py --model resnet50 \
        --layers conv2_block3_out,conv3_block4_out,conv4_block6_out,conv5_block3_out
"""
import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import deconv  # noqa: E402
from bench import side_by_side  # noqa: E402
from graphs import input_gradient  # noqa: E402


def _calls(net, key, size):
    rng = np.random.default_rng(0)
    images = tf.constant(rng.uniform(0, 255, (8, size, size, 3)), tf.float32)
    plan = net.builder.reverse_plan(key, "auto", (size, size))
    grouped = net.builder.project_groups_fn(key, plan)
    gradient = input_gradient(net, net.model, key, True)
    count = net.feature_count(key)

    def project(pictures, sources):
        k = len(sources)
        return grouped(pictures, tf.constant(sources, tf.int32), tf.range(k) % count,
                       -tf.ones([k, 2], tf.int32))[0].numpy()

    return {"G1": lambda: gradient(images[:1]).numpy(),
            "E1": lambda: project(images[:1], [0]),
            "E32": lambda: project(images[:1], [0] * 32),
            "B8x4": lambda: [project(images[i:i + 1], [0] * 4) for i in range(8)],
            "M8x4": lambda: project(images, [i for i in range(8) for _ in range(4)])}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="vgg16")
    parser.add_argument("--layers", default="conv1_2,conv3_3,conv4_3,conv5_3")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default="/tmp/atlas_pass2.json")
    args = parser.parse_args()
    net = deconv.Deconvnet(deconv.load_model(args.model, weights=None, seed=0))
    rows = []
    for layer in args.layers.split(","):
        key = net.resolve(layer)
        times = side_by_side(_calls(net, key, args.size), args.rounds)
        per = {"E1": 1, "E32": 32, "B8x4": 32, "M8x4": 32}
        rows.append({"model": args.model, "layer": layer, "size": args.size,
                     "windowed": net.builder.reverse_plan(key, "auto", (args.size,) * 2).windowed,
                     "G1_s": round(float(np.median(times["G1"])), 3),
                     **{f"{name}/G1 per projection": round(float(np.median(
                         np.array(times[name]) / np.array(times["G1"]))) / k, 3)
                        for name, k in per.items()},
                     "load": os.getloadavg()[0]})
        print(json.dumps(rows[-1]), flush=True)
        with open(args.out, "w", encoding="utf-8") as stream:
            json.dump({"rows": rows, "tensorflow": tf.__version__}, stream, indent=1)


if __name__ == "__main__":
    main()
