"""Issue 14, before any atlas code: what pass 2 could cost per projection if it projected all
of one image's winners in one call (`project_each`: one forward with switches, one batched,
windowed reverse), as a ratio to one modified-gradient projection (G) of the same layer on one
image. Side by side in one process, alternating, medians; VGG19, random weights (seed 0).

    .venv/bin/python benchmarks/atlas_pass2.py [REPEATS=5]   # from the repository root
"""
import os, sys
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE); sys.path.insert(0, os.path.dirname(HERE))
import numpy as np, tensorflow as tf
import deconv
from bench import ModifiedGradient, _side_by_side
from deconv.core import compiled

repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 5
size = 224
net = deconv.Deconvnet(deconv.load_model("vgg19", weights=None, seed=0))
image = tf.constant(np.random.default_rng(0).uniform(0, 255, (1, size, size, 3)), tf.float32)
for layer in ["conv1_2", "conv3_4", "conv4_4", "conv5_4"]:
    name = net.resolve(layer)
    each = net.builder.project_each_fn(name, net.builder.full_from(name, "auto", (size, size)))
    gradient = tf.function(ModifiedGradient(net, name),
                           input_signature=[compiled.IMAGES, tf.TensorSpec([None], tf.int32)])
    calls = {"G1": lambda: gradient(image, tf.zeros([1], tf.int32)).numpy()}
    for k in (1, 9, 36):
        features = tf.range(k, dtype=tf.int32)
        calls[f"E{k}"] = (lambda f=features, k=k: each(image, f, -tf.ones([k, 2], tf.int32))[0].numpy())
    times = _side_by_side(calls, repeats)
    g = float(np.median(times["G1"]))
    print(layer, "G1 %.3fs" % g, " ".join(
        "per-projection(E%d)/G1 %.3f" % (k, float(np.median(times[f"E{k}"])) / k / g)
        for k in (1, 9, 36)), flush=True)
