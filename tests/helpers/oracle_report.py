"""Prints the deconvnet's relative error against the modified-gradient oracle, per layer.

    python -m tests.helpers.oracle_report  # VGG19, seeded random weights
    python -m tests.helpers.oracle_report --arch vgg16 --weights W.h5  # any weights file

For each input size and layer: projections of the strongest activation of maps 0-3 in two real
photos and one noise image, compared with `value * modified gradient` (tests/helpers/oracle.py).
"""
import argparse

import numpy as np

import deconv
from deconv.core import names
from tests.conftest import photos, with_small_biases
from tests.helpers import oracle

LAYERS = {"vgg19": ["conv1_2", "conv2_2", "conv3_1", "pool3", "conv4_4", "conv5_1", "conv5_4"],
          "vgg16": ["conv1_2", "conv2_2", "conv3_1", "pool3", "conv4_3", "conv5_1", "conv5_3"]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="vgg19", choices=sorted(LAYERS))
    parser.add_argument("--weights", default=None, help="weights file; default: seeded random")
    args = parser.parse_args()
    model = deconv.load_model(args.arch, weights=args.weights, seed=19)
    if args.weights is None:
        model = with_small_biases(model, 1)
    net = deconv.Deconvnet(model)
    rng = np.random.default_rng(0)
    print("size      layer    n   max rel. error  median")
    for size in [(67, 45), (64, 48), (224, 224)]:
        images = np.concatenate([photos(size), rng.uniform(0, 255, (1, *size, 3))])
        for layer in LAYERS[args.arch]:
            errors = []
            for feature in range(4):
                ours = net.project_details(images, layer, feature)
                expected, values, _ = oracle.project_max(model, images, names.keras_name(layer),
                                                         feature)
                live = values > 0
                if live.any():
                    errors += list(oracle.relative_error(ours.reconstructions[live],
                                                         expected[live]))
            print(f"{size[0]}x{size[1]:<4} {layer:8} {len(errors):2d}   {max(errors):.2e}        "
                  f"{np.median(errors):.2e}")


if __name__ == "__main__":
    main()
