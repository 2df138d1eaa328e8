#!/bin/bash
# The golden outputs of a refactor: README-style commands of every kind (run, occlusion, visualize,
# maximize, classwise, overlay, export, atlas, evolution, invariance, correspondence, sanity) with
# seeded random weights or the offline EfficientNet-Lite0 weights, then a SHA-256 of every file
# written. Run it on the code before and after a change and compare the two hash lists:
#
#   bash tests/helpers/golden/outputs.sh BEFORE_CHECKOUT /tmp/before
#   bash tests/helpers/golden/outputs.sh AFTER_CHECKOUT /tmp/after
#   bash tests/helpers/golden/compare.sh /tmp/before /tmp/after      # prints nothing if equal
#
# GOLDEN_ONLY="run1 atlas" runs only those commands (names: the first word of each `r` line).
# Text files are hashed with the checkout and output paths written as REPO and OUT. Known
# differences between two runs of the same code: san/report.* (timings) and exp/fingerprint.pb
# (TensorFlow's random uuid per save). Uses the python on PATH (with deconv's [test,lite] extras).
set -u
HERE=$(cd "$(dirname "$0")" && pwd); REPO=$(cd "$1" && pwd); OUT=$2; rm -rf "$OUT"; mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd); cd "$REPO"
export PYTHONPATH=$REPO PYTHONHASHSEED=0 CUDA_VISIBLE_DEVICES=""
# The inputs (images with fixed times, a small CNN and its checkpoints, parts) live outside
# both checkouts, so that paths and times written into outputs are the same for both.
IN=${GOLDEN_INPUTS:-/tmp/deconv_golden_inputs}
if [ ! -d "$IN/images" ]; then
  python "$HERE/make_inputs.py" "$IN" || exit 1
fi
IMG=$IN/images
P="--noprogress"
r() { name=$1; shift; if [ -n "${GOLDEN_ONLY:-}" ] && [[ " $GOLDEN_ONLY " != *" $name "* ]]; then return; fi; echo "== $name: $*" >> $OUT/log.txt; ( cd $OUT && python -m "$@" > $OUT/$name.stdout 2> $OUT/$name.stderr; echo "rc=$?" >> $OUT/$name.stdout ); }
r run1 deconv.run --model vgg16 --weights random --feat block3_conv3 --id 5 --size 96 --top 4 --out $OUT/run1 $P
r run2 deconv.run --model vgg16 --weights random --feat block2_conv2 --top 3 --size 64 --out $OUT/run2 $P
r run3 deconv.run --model resnet50 --weights random --feat conv3_block4_out --id 7 --size 96 --top 3 --out $OUT/run3 $P
r run4 deconv.run --model efficientnet_lite0 --include_top --feat predictions --id 281 --top 3 --out $OUT/run4 $P
r run5 deconv.run --model efficientnet_lite0 --rule guided --feat block4c_add --id 10 --top 3 --out $OUT/run5 $P
r occl deconv.occlusion $IMG/chelsea.jpg --model vgg16 --weights random --feat block4_conv3 --id 3 --image_size 64 --occluder 16 --stride 16 --out $OUT/occl $P
r occl2 deconv.occlusion $IMG/chelsea.jpg --model efficientnet_lite0 --include_top --classes --label 285 --occluder 56 --stride 56 --out $OUT/occl2 $P
r vis deconv.visualize $IMG/coffee.jpg --model vgg16 --weights random --size 64 --out $OUT/vis $P
r visg deconv.visualize $IMG/coffee.jpg --model vgg16 --weights random --size 48 -g --frames 3 --layers block1_conv2,block3_conv1 --out $OUT/visg $P
r max deconv.maximize --model vgg16 --weights random --feat block3_conv1 --id 0-1 --init_size 32 --steps 3 --rounds 2 --out $OUT/max $P
r maxlite deconv.maximize --model efficientnet_lite0 --include_top --feat predictions --id 281 --steps 3 --param fourier --out $OUT/maxlite $P
r cw deconv.classwise --model vgg16 --weights random --images $IN/classes --feat block4_conv3 --size 64 --out $OUT/cw $P
r ov deconv.overlay $IMG/chelsea.jpg --model vgg16 --weights random --feat block5_conv3 --top 4 --size 64 --out $OUT/ov $P
r ov2 deconv.overlay --images $IMG --model vgg16 --weights random --feat block5_conv3 --id 3,5-6 --size 64 --out $OUT/ov2 $P
r exp deconv.export --model vgg16 --weights random --feat block2_conv2 --out $OUT/exp
r atlas deconv.atlas --images $IMG --model vgg16 --weights random --layers block1_conv2,block3_conv3 --top 2 --size 64 --out $OUT/atlas $P
r atlasr deconv.atlas --images $IMG --model resnet50 --weights random --layers conv2_block3_out,conv4_block6_out --top 2 --size 64 --out $OUT/atlasr $P
r evo deconv.evolution --model $IN/small.keras --checkpoints $IN/ckpt --images $IMG --feat c2 --id 1,3 --size 64 --out $OUT/evo $P
r inv deconv.invariance $IMG/chelsea.jpg $IMG/coffee.jpg --model vgg16 --weights random --transform translate --range=-8:8:8 --layers block1_conv2,block5_conv3 --size 64 --out $OUT/inv $P
r inv2 deconv.invariance $IMG/chelsea.jpg --model efficientnet_lite0 --include_top --transform rotate --range 0:20:10 --classes --label 285 --layers block2b_add --out $OUT/inv2 $P
r corr deconv.correspondence --parts $IN/parts.json --images $IMG --model vgg16 --weights random --layers block3_conv3 --size 64 --trials 3 --out $OUT/corr $P
r san deconv.sanity --model vgg16 --weights random --layer block3_conv3 --size 64 --steps 4 --max_images 2 --out $OUT/san $P
# Hashes: every output file, names relative to OUT; text files with OUT and REPO written as "OUT" and "REPO"
cd $OUT && find . -mindepth 2 -type f -print0 | sort -z | while IFS= read -r -d '' f; do
  case "$f" in *.json|*.html|*.md|*.txt|*.toml|*.csv|*.js|*.pbtxt) h=$(sed -e "s|$OUT|OUT|g" -e "s|$REPO|REPO|g" "$f" | sha256sum | cut -d' ' -f1);; *) h=$(sha256sum < "$f" | cut -d' ' -f1);; esac
  echo "$h  $f"; done > hashes.txt
grep -c . hashes.txt; grep -h rc= *.stdout | sort | uniq -c
