"""Issue 14, before any atlas code: pass 1 of an atlas (every map of all 16 VGG19 conv layers,
5,504 units, top 9, one image per unit) done by the existing sweep scan, vs a bare forward to
conv5_4 over the same images and pipeline, in one process, alternating rounds; warm-up excluded.

    .venv/bin/python benchmarks/atlas_pass1.py [COUNT=64]   # from the repository root

Random VGG19 weights (seed 0): the work does not depend on the weights.
"""
import os, sys, time
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE); sys.path.insert(0, os.path.dirname(HERE))
import numpy as np, tensorflow as tf
import deconv
from bench import make_images, CONV_LAYERS
from deconv.core import compiled
from deconv.io import streaming, images as image_files
from deconv.sweeps import scan as scan_lib
from deconv.sweeps.sweep import make_sweep, EACH_MAP

count = int(sys.argv[1]) if len(sys.argv) > 1 else 64
folder = make_images(os.path.join("/tmp", f"deconv_atlas_images{count}"), count)
paths = image_files.find_images(folder, image_files.parse_extensions(None))[:count]
net = deconv.Deconvnet(deconv.load_model("vgg19", weights=None, seed=0))
reading = streaming.Reading(224, "stretch", 16)
sweeps = [make_sweep(net, layer, EACH_MAP, top=9) for layer in CONV_LAYERS]
print("units:", sum(net.feature_count(s.layer) for s in sweeps))
forward = tf.function(net.builder.activations_graph(net.resolve("conv5_4")),
                      input_signature=[compiled.IMAGES])
def bare():
    for batch in streaming.stream(paths, lambda p: forward(tf.cast(p, tf.float32)), reading):
        pass
def atlas():
    state = scan_lib.ScanState.fresh(net, sweeps)
    for _ in scan_lib.scan(net, paths, sweeps, state, reading):
        pass
    return state
bare(); atlas()  # warm up (tracing)
times = {"bare": [], "atlas": []}
for r in range(3):
    for name, fn in ([("bare", bare), ("atlas", atlas)] if r % 2 == 0 else [("atlas", atlas), ("bare", bare)]):
        t = time.perf_counter(); fn(); times[name].append(time.perf_counter() - t)
print({k: [round(x, 2) for x in v] for k, v in times.items()})
ratios = [a / b for a, b in zip(times["atlas"], times["bare"])]
print("pass1(all maps, 16 layers)/bare: median", round(float(np.median(ratios)), 3), [round(x, 3) for x in ratios])
