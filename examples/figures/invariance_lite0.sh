#!/usr/bin/env bash
# Remakes the README's invariance figure on EfficientNet-Lite0 with its ImageNet weights (the
# paper's figure 5, with the true class's probability): five photos translated, rescaled and
# rotated; the distances at the stem, block6d_add and the pooled 1,280 features (avg_pool, the
# analogue of the paper's layer 7), and P(each photo's top class). About 6 minutes on 2 cores.
set -euo pipefail
out=${OUT:-/tmp/deconv_lite0_invariance}
photos="chelsea.jpg coffee.jpg camera.jpg motorcycle.jpg rocket.jpg"
for transform in translate scale rotate; do
  python -m deconv.invariance $(printf "examples/images/%s " $photos) \
    --model efficientnet_lite0 --transform "$transform" --classes \
    --layers stem_activation,block6d_add,avg_pool --out "$out" --noprogress
done
python - "$out" <<'PY'
import sys
from PIL import Image
panels = [Image.open(f"{sys.argv[1]}/invariance_{t}.png").convert("RGB")
          for t in ("translate", "scale", "rotate")]
canvas = Image.new("RGB", (max(p.width for p in panels), sum(p.height for p in panels)), "white")
top = 0
for panel in panels:
    canvas.paste(panel, (0, top))
    top += panel.height
canvas.quantize(256).save("examples/figures/invariance_lite0.png", optimize=True)
print("wrote examples/figures/invariance_lite0.png")
PY
