"""What a projection and a sweep cost, as ratios to the forward-pass floor, side by side.

    python benchmarks/bench.py                      # the full set (about 20 minutes on 2 cores)
    python benchmarks/bench.py --quick              # a tiny smoke run (the test suite's)
    python benchmarks/bench.py --parts ops,projection # parts: ops, projection, sweep, all16, memory

VGG19 with seeded random weights, warm (each graph run twice before timing: a projection
runs eagerly on its first call and is traced on its second, see `deconv.core.compiled`). Timings are
medians of repeated runs; every ratio is the median of per-repeat ratios of runs made side by
side, in rotating order, so machine noise hits both sides alike. Results go to stdout as
Markdown tables and to --out as JSON.

  F    forward pass to the layer (Keras's MaxPool), the floor
  Fs   the same with switches recorded (`max_pool_with_argmax`): our forward model
  R    our reverse pass alone (the functional deconv model over the whole image, switches given)
  Rw   our reverse pass as `Deconvnet.project` plans it (deconv.core.window), alone: inside the
       activation's receptive-field window, handed over to the full reverse pass where the
       window grows past 80 % of its maps
  P    our projection as `Deconvnet.project` runs it: Fs, selection, then Rw (or R, where the
       plan has no window)
  G    the modified-gradient method of other tools (Captum, iNNvestigate): a forward pass and a
       GradientTape backward with ReLU's backward replaced by relu(upstream)
  R9   nine activations of ONE image projected together (one forward, one batched reverse)
"""
import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import deconv  # noqa: E402
from deconv.core import compiled  # noqa: E402
from deconv.core import names  # noqa: E402
from deconv.core.reverse_plan import ReversePlan  # noqa: E402
from deconv.core import selection  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CONV_LAYERS = ["conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv3_2", "conv3_3",
               "conv3_4", "conv4_1", "conv4_2", "conv4_3", "conv4_4", "conv5_1", "conv5_2",
               "conv5_3", "conv5_4"]


def _median_time(function, repeats):
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return float(np.median(times))


def side_by_side(functions, repeats):
    """Runs `{name: fn}` twice each to warm up (eager call, then tracing), then `repeats`
    rounds in rotating order.

    Returns `{name: [seconds per round]}`.
    """
    for function in functions.values():
        function()
        function()
    times = {name: [] for name in functions}
    order = list(functions)
    for round_number in range(repeats):
        rotated = order[round_number % len(order):] + order[:round_number % len(order)]
        for name in rotated:
            started = time.perf_counter()
            functions[name]()
            times[name].append(time.perf_counter() - started)
    return times


def _ratio(times, top, bottom):
    """The median of per-round ratios `sum(times[top]) / sum(times[bottom])`."""
    tops = np.sum([times[name] for name in top], axis=0)
    bottoms = np.sum([times[name] for name in bottom], axis=0)
    return float(np.median(tops / bottoms))


class ModifiedGradient:
    """The modified-gradient deconvnet (the oracle's method, compiled): forward through the
    model's own variables with a ReLU whose backward is relu(upstream), then the tape's input
    gradient seeded with each image's strongest activation of one map."""

    def __init__(self, net, layer):
        self.net, self.layer = net, net.resolve(layer)
        self.steps = net.steps[:net.layer_names.index(self.layer) + 1]

    @staticmethod
    @tf.custom_gradient
    def _relu(x):
        return tf.nn.relu(x), tf.nn.relu

    def __call__(self, images, features):
        with tf.GradientTape() as tape:
            tape.watch(images)
            h = images[..., ::-1] - tf.constant([103.939, 116.779, 123.68])
            for step in self.steps:  # VGG: 3x3 'same' convs with ReLU, 2x2 max-pools
                layer = step.layer
                if isinstance(layer, keras.layers.Conv2D):
                    h = self._relu(tf.nn.conv2d(h, layer.kernel, 1, "SAME") + layer.bias)
                else:
                    h = tf.nn.max_pool2d(h, 2, 2, "VALID")
            positions = -tf.ones([tf.shape(images)[0], 2], tf.int32)
            signal, _, _ = selection.one_per_image(tf.stop_gradient(h), features, positions)
        return tape.gradient(h, images, output_gradients=signal)


def projection_part(net, layers, batches, size, repeats):
    """Parts 1-4: F, Fs, R, Rw, P, G and R9 per layer and batch size."""
    rng = np.random.default_rng(0)
    rows = []
    spec = compiled.IMAGES
    for layer in layers:
        name = net.resolve(layer)
        windowed = net.uses_window(name, (size, size))
        plan = net.builder.reverse_plan(name, "auto", (size, size))
        # Rw: the window all the way if not planned
        in_window = plan if plan.windowed else ReversePlan.window_to_pixels()
        forward = net.builder.activations_fn(name)
        switches_model = net.builder.forward_model(name)
        window_forward = net.builder.window_forward_model(name, in_window)
        fs = tf.function(lambda x, model=switches_model: model(x, training=False))
        fsw = tf.function(lambda x, model=window_forward: model(x, training=False))
        reverse = tf.function(lambda inputs, model=net.builder.deconv_model(name): model(  # noqa: B008
            inputs, training=False))
        graph = net.builder.windowed_graph(name, plan=in_window)
        reverse_window = tf.function(lambda tensors, f, p, graph=graph: graph.reverse(
            tensors, f, p, image_size=(size, size))[0])
        gradient = tf.function(ModifiedGradient(net, name),
                               input_signature=[spec, tf.TensorSpec([None], tf.int32)])
        ours = net.builder.project_fn(name, "activation", plan)
        each = net.builder.project_groups_fn(name, plan)
        for batch in batches:
            images = tf.constant(rng.uniform(0, 255, (batch, size, size, 3)), tf.float32)
            features = tf.zeros([batch], tf.int32)
            minus = -tf.ones([batch, 2], tf.int32)
            tensors, window_tensors = fs(images), fsw(images)
            signal, _, _ = selection.one_per_image(tensors[name], features, minus)
            inputs = {"signal": signal, **{key: tensors[key] for key in net.builder.deconv_inputs(name)}}
            times = side_by_side({
                "F": lambda: forward(images).numpy(),
                "Fs": lambda: fs(images)[name].numpy(),  # the rest stays in memory, as in use
                "R": lambda: reverse(inputs).numpy(),
                "Rw": lambda: reverse_window(window_tensors, features, minus).numpy(),
                "P": lambda: ours(images, features, minus)[0].numpy(),
                "G": lambda: gradient(images, features).numpy(),
            }, repeats)
            projected = ours(images, features, minus)[0].numpy()
            modified = gradient(images, features).numpy()
            error = float(np.linalg.norm(projected - modified) / max(np.linalg.norm(modified),
                                                                     1e-30))
            rows.append({
                "layer": names.short(name), "batch": batch, "window": windowed,
                "full_from": None if not plan.windowed else "-" if plan.reaches_pixels
                else names.short(net.steps[plan.whole_maps_from].name),
                **{key: float(np.median(value)) for key, value in times.items()},
                "R/F": _ratio(times, ["R"], ["F"]), "Rw/F": _ratio(times, ["Rw"], ["F"]),
                "Fs/F": _ratio(times, ["Fs"], ["F"]), "P/F": _ratio(times, ["P"], ["F"]),
                "P/G": _ratio(times, ["P"], ["G"]), "(Fs+R)/G": _ratio(times, ["Fs", "R"], ["G"]),
                "P_vs_G_rel_error": error})
        nine = tf.constant(rng.uniform(0, 255, (9, size, size, 3)), tf.float32)
        one = nine[:1]
        features9 = tf.range(9, dtype=tf.int32)
        minus9 = -tf.ones([9, 2], tf.int32)
        times = side_by_side({
            "F9": lambda: forward(nine).numpy(),
            "R9": lambda: each(one, tf.zeros([9], tf.int32), features9, minus9)[0].numpy(),
            "G9": lambda: gradient(tf.repeat(one, 9, axis=0), features9).numpy(),
        }, repeats)
        rows.append({"layer": names.short(name), "batch": 9, "window": windowed,
                     **{key: float(np.median(value)) for key, value in times.items()},
                     "R9/F9": _ratio(times, ["R9"], ["F9"]), "G9/R9": _ratio(times, ["G9"],
                                                                            ["R9"])})
    return rows


def ops_part(size, batch, repeats):
    """The pooling ops alone, on the pre-pool shapes of VGG19's five pools: the switches'
    `max_pool_with_argmax` vs Keras's MaxPool, and unpooling by `tf.scatter_nd` vs
    `MaxPoolGradWithArgmax` (what `deconv.core.reverse_layers.Unpool` runs)."""
    rng = np.random.default_rng(0)
    rows = []
    for level, channels in enumerate([64, 128, 256, 512, 512]):
        side = size // 2 ** level
        x = tf.constant(rng.standard_normal((batch, side, side, channels)), tf.float32)
        pooled, switches = tf.nn.max_pool_with_argmax(x, 2, 2, "VALID",
                                                      include_batch_in_index=True)
        grad = tf.constant(rng.standard_normal(pooled.shape), tf.float32)
        maxpool = tf.function(lambda x: tf.nn.max_pool2d(x, 2, 2, "VALID"))
        argmax = tf.function(lambda x: tf.nn.max_pool_with_argmax(
            x, 2, 2, "VALID", include_batch_in_index=True)[0])
        scatter = tf.function(lambda g, s, x: tf.reshape(tf.scatter_nd(
            tf.reshape(s, [-1, 1]), tf.reshape(g, [-1]), [tf.size(x, out_type=tf.int64)]),
            tf.shape(x)))
        by_argmax = tf.function(lambda g, s, x: tf.raw_ops.MaxPoolGradWithArgmax(
            input=tf.zeros_like(x), grad=g, argmax=s, ksize=(1, 2, 2, 1), strides=(1, 2, 2, 1),
            padding="VALID", include_batch_in_index=True))
        np.testing.assert_array_equal(scatter(grad, switches, x).numpy(),
                                      by_argmax(grad, switches, x).numpy())
        times = side_by_side({
            "MaxPool": lambda: maxpool(x).numpy(),
            "argmax": lambda: argmax(x).numpy(),
            "scatter_nd": lambda: scatter(grad, switches, x).numpy(),
            "GradWithArgmax": lambda: by_argmax(grad, switches, x).numpy(),
        }, repeats)
        rows.append({"pool": f"pool{level + 1}", "input": f"{batch}x{side}x{side}x{channels}",
                     **{key: float(np.median(value)) for key, value in times.items()},
                     "argmax/MaxPool": _ratio(times, ["argmax"], ["MaxPool"]),
                     "scatter_nd/GradWithArgmax": _ratio(times, ["scatter_nd"],
                                                         ["GradWithArgmax"])})
    return rows


def make_images(folder, count, size=(300, 400)):
    """Writes `count` JPEGs cut from the example photos (real decoding work), once."""
    from PIL import Image
    os.makedirs(folder, exist_ok=True)
    if len(os.listdir(folder)) >= count:
        return folder
    sources = sorted(os.path.join(ROOT, "examples", "images", name)
                     for name in os.listdir(os.path.join(ROOT, "examples", "images")))
    rng = np.random.default_rng(1)
    for i in range(count):
        with Image.open(sources[i % len(sources)]) as image:
            image = image.convert("RGB")
            scale = rng.uniform(1.0, 1.6)
            image = image.resize((int(image.width * scale), int(image.height * scale)))
            left = int(rng.integers(0, max(1, image.width - image.width // 2)))
            top = int(rng.integers(0, max(1, image.height - image.height // 2)))
            image = image.crop((left, top, left + image.width // 2, top + image.height // 2))
            image.resize(size[::-1]).save(os.path.join(folder, f"{i:05d}.jpg"), quality=90)
    return folder


def _run(command):
    """Runs a command; returns `(wall seconds, peak RSS in MiB, stdout)`."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               cwd=ROOT)
    stdout, stderr = process.communicate()
    wall = time.perf_counter() - started
    if process.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{stderr[-3000:]}")
    peak = _children_peak_rss()
    return wall, peak, stdout


def _children_peak_rss():
    import resource
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def _seconds(stdout, label):
    """Reads the seconds after `label` in a command's output: 'pass 1 12.3 s', 'in 4.5 s'."""
    match = re.search(re.escape(label) + r" (\d+(?:\.\d+)?) s", stdout)
    if match is None:
        raise ValueError(f"no {label!r} in {stdout!r}")
    return float(match.group(1))


def _run_command(images, out, layer_flags, size, batch):
    return [sys.executable, "-m", "deconv.run", "--weights", "random", "--images", images,
            "--out", out, "--noprogress", "--size", str(size), "--batch_size", str(batch),
            *layer_flags]


def _bare_command(images, layer, size, batch):
    return [sys.executable, os.path.join(HERE, "bare_forward.py"), "--images", images, "--layer",
            layer, "--size", str(size), "--batch_size", str(batch)]


def _run_vs_bare(images, run_flags, bare_layer, out, size, batch, repeats):
    """`python -m deconv.run` vs a bare forward over the same pipeline, alternating rounds."""
    times = {"run": [], "bare": [], "pass1": [], "pass2": [], "bare_loop": []}
    for round_number in range(repeats):
        for which in (["run", "bare"] if round_number % 2 == 0 else ["bare", "run"]):
            if which == "run":
                wall, _, stdout = _run(_run_command(images, out, [*run_flags, "--restart"], size,
                                                    batch))
                times["pass1"].append(_seconds(stdout, "pass 1"))
                times["pass2"].append(_seconds(stdout, "pass 2"))
            else:
                wall, _, stdout = _run(_bare_command(images, bare_layer, size, batch))
                times["bare_loop"].append(_seconds(stdout, "in"))
            times[which].append(wall)
    return {"images": len(os.listdir(images)),
            **{key: float(np.median(value)) for key, value in times.items()},
            "run/bare (wall)": _ratio(times, ["run"], ["bare"]),
            "pass1/bare loop": _ratio(times, ["pass1"], ["bare_loop"])}


def sweep_part(images, size, batch, repeats, work):
    """Part 5: one map's top 9 at conv4_4 vs a bare forward to conv4_4."""
    return _run_vs_bare(images, ["--feat", "conv4_4", "--id", "0"], "conv4_4",
                        os.path.join(work, "sweep"), size, batch, repeats)


def all16_part(images, size, batch, repeats, work, quick=False):
    """Part 6: a config sweeping all 16 conv layers (quick: 4, to conv5_4) vs a forward pass."""
    config = os.path.join(work, "all16.toml")
    with open(config, "w") as stream:
        stream.write("top = 9\n" + "".join(f"[[sweeps]]\nlayer = \"{layer}\"\n"
                                           for layer in CONV_LAYERS[::5 if quick else 1]))
    return _run_vs_bare(images, ["--config", config], "conv5_4", os.path.join(work, "all16"),
                        size, batch, repeats)


def memory_part(small, large, size, batch, work):
    """Part 7: peak resident memory of a sweep over a small and a large folder."""
    peaks = {}
    for label, folder in (("small", small), ("large", large)):
        # Each measurement in a fresh child of a fresh child, so RUSAGE_CHILDREN is its own.
        code = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, "
                "stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); print(resource.getrusage("
                "resource.RUSAGE_CHILDREN).ru_maxrss / 1024)")
        command = [sys.executable, "-c", code, *_run_command(
            folder, os.path.join(work, f"memory_{label}"), ["--feat", "conv2_2", "--restart"],
            size, batch)]
        result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=True)
        peaks[label] = float(result.stdout.strip().splitlines()[-1])
    return {"images_small": len(os.listdir(small)), "images_large": len(os.listdir(large)),
            "peak_MiB_small": peaks["small"], "peak_MiB_large": peaks["large"],
            "growth": peaks["large"] / peaks["small"] - 1}


def _table(rows, keys):
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    for row in rows:
        lines.append("| " + " | ".join(
            (f"{row[k]:.3g}" if isinstance(row.get(k), float) else str(row.get(k, "")))
            for k in keys) + " |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run")
    parser.add_argument("--parts", default="ops,projection,sweep,all16,memory")
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    parser.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "deconv-bench"))
    parser.add_argument("--count", type=int, default=None,
                        help="images of the sweep and all16 parts (default 200; quick: 6)")
    args = parser.parse_args()
    quick = args.quick
    size = 32 if quick else 224
    repeats = 2 if quick else 7
    parts = args.parts.split(",")
    results = {"machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                           "python": platform.python_version(), "tensorflow": tf.__version__,
                           "devices": [d.device_type for d in tf.config.list_physical_devices()]},
               "size": size, "quick": quick}
    if "ops" in parts:
        results["ops"] = ops_part(size, 2 if quick else 8, repeats)
        print(_table(results["ops"], list(results["ops"][0])))
    if "projection" in parts:
        net = deconv.Deconvnet(deconv.load_model("vgg19", weights=None, seed=0))
        layers = ["conv1_2", "conv3_4"] if quick else ["conv1_2", "conv3_4", "conv4_4", "conv5_4"]
        rows = projection_part(net, layers, [2] if quick else [1, 8], size, repeats)
        results["projection"] = rows
        print(_table([r for r in rows if r["batch"] != 9],
                     ["layer", "batch", "window", "full_from", "F", "Fs", "R", "Rw", "P", "G",
                      "R/F", "Rw/F",
                      "Fs/F", "P/F", "P/G", "(Fs+R)/G", "P_vs_G_rel_error"]))
        print(_table([r for r in rows if r["batch"] == 9],
                     ["layer", "window", "F9", "R9", "G9", "R9/F9", "G9/R9"]))
    work = args.work + ("-quick" if quick else "")
    count = args.count or (6 if quick else 200)
    if "sweep" in parts or "all16" in parts:
        images = make_images(os.path.join(work, f"images{count}"), count)
    if "sweep" in parts:
        results["sweep"] = sweep_part(images, size, 16, 1 if quick else 3, work)
        print(_table([results["sweep"]], list(results["sweep"])))
    if "all16" in parts:
        results["all16"] = all16_part(images, size, 16, 1 if quick else 2, work, quick)
        print(_table([results["all16"]], list(results["all16"])))
    if "memory" in parts:
        small = make_images(os.path.join(work, "images100" if not quick else "images4"),
                            4 if quick else 100)
        large = make_images(os.path.join(work, "images2000" if not quick else "images8"),
                            8 if quick else 2000)
        results["memory"] = memory_part(small, large, size, 16, work)
        print(_table([results["memory"]], list(results["memory"])))
    if args.out:
        with open(args.out, "w") as stream:
            json.dump(results, stream, indent=2)


if __name__ == "__main__":
    main()
