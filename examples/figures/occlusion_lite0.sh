#!/usr/bin/env bash
# Remakes the README's occlusion figure on EfficientNet-Lite0 with its ImageNet weights (the
# paper's figure 7): the probability of each photo's top class and the most probable class as a
# gray square covers each place, for the cat (112 px square: its face fills the photo), the
# espresso and the camera's tripod (80 px). From the repository root; about 4 minutes on 2 cores.
set -euo pipefail
out=${OUT:-/tmp/deconv_lite0_occlusion}
rows=()
for spec in "chelsea.jpg 112 Egyptian cat" "coffee.jpg 80 espresso" "camera.jpg 80 tripod"; do
  set -- $spec
  image=$1 side=$2; shift 2
  python -m deconv.occlusion "examples/images/$image" --model efficientnet_lite0 --classes \
    --feat block6d_add --occluder "$side" --stride 16 --out "$out" --noprogress
  name=${image%.*}
  low=$(python -c "import json; print(round(json.load(open('$out/$name.json'))['classes']['lowest_probability'], 2))")
  rows+=("$image: P($*) and the most probable class, a ${side} px gray square every 16 px (lowest P: $low)"
         "$out/${name}_probability.png" "$out/${name}_top_class.png")
done
python examples/figures/compose_grids.py examples/figures/occlusion_lite0.png "${rows[@]}" \
  --footer "EfficientNet-Lite0 (ImageNet weights), deconv.occlusion --classes; occlusion_lite0.sh"
