"""The dataset runner: the strongest activations of a layer or feature map across image folders.

    python -m deconv.run --feat conv4_4 --id 350          # map 350: its top 9 across the images
    python -m deconv.run --feat conv4_4                   # top 9 over all maps of conv4_4
    python -m deconv.run --feat conv3_4 --images ~/photos --imtype .jpg --top 16 --out results

Pass 1 streams the images through VGG and keeps a running top-k; pass 2 re-reads only the winners
and projects them to pixel space with the deconvnet (Zeiler & Fergus 2014). Outputs, in --out:
{feat}_feat[_{id}].png (reconstructions) and {feat}_im[_{id}].png (image patches), both cropped to
each activation's receptive field, and the manifest {feat}[_{id}].json.
"""
import os
import sys
import time

from absl import app
from absl import flags
from absl import logging

from deconv import cli  # first: quiets TensorFlow before it loads
from deconv import deconvnet
from deconv import images as image_files
from deconv import layers as deconv_layers
from deconv import models
from deconv import preprocessing
from deconv import render
from deconv import report
from deconv import runner
from deconv import sweep as sweeps_lib

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_IMAGES = os.path.join(_REPO, "examples", "images")

FLAGS = flags.FLAGS
flags.DEFINE_string("feat", None, "Layer to look at: paper style (conv1_1 ... conv5_4, pool1 ... "
                    "pool5) or Keras style (block4_conv4).")
flags.DEFINE_integer("id", None, "Feature map of --feat. Given: the top activations of that map. "
                     "Omitted: the top activations over all maps of the layer.")
flags.DEFINE_integer("top", 9, "How many activations to show (the paper shows 9).")
flags.DEFINE_integer("per_image", 1, "How many of the top activations may come from one image.")
flags.DEFINE_string("images", DEFAULT_IMAGES, "Folder of images, searched recursively (class "
                    "sub-folders are fine). Default: the photos shipped in examples/images.")
flags.DEFINE_string("imtype", None, "Only files with these extensions, e.g. '.jpg' or "
                    "'jpg,png'. Default: every type Pillow reads.")
flags.DEFINE_string("out", "results", "Output folder.")
flags.DEFINE_string("model", "vgg19", "vgg19, vgg16, or the path of a .keras model (a chain of "
                    "Conv2D/MaxPooling2D/ReLU layers; loaded with safe_mode).")
flags.DEFINE_string("weights", "imagenet", "imagenet: from pretrained/, Keras's cache or Keras's "
                    "download (see pretrained/README.md); a weights file (.h5, .weights.h5, "
                    "vgg19.npy); or random (seeded by --seed; for smoke runs only).")
flags.DEFINE_integer("seed", 0, "Seed of --weights random.")
flags.DEFINE_integer("size", 224, "Images are resized to size x size pixels (see --aspect).")
flags.DEFINE_enum("aspect", "stretch", image_files.ASPECTS, "How a non-square image becomes "
                  "size x size: stretch resizes both sides, changing the aspect ratio (as the TF1 "
                  "deconvnet does); crop resizes the shorter side to --size and keeps the centre "
                  "square. Boxes are also given in original-image pixels in the manifest.")
flags.DEFINE_integer("batch_size", 16, "Images per forward batch.")
flags.DEFINE_enum("normalize", "symmetric", render.NORMALISATIONS, "Display of reconstructions: "
                  "symmetric keeps zero at mid-gray; minmax stretches each to [0, 255].")
flags.DEFINE_integer("min_tile", 64, "Enlarge tiles smaller than this many pixels.")
flags.DEFINE_enum("rule", "deconvnet", deconv_layers.RULES, "How ReLUs are reversed: deconvnet "
                  "(the paper) or guided (guided backpropagation).")
flags.DEFINE_enum("preprocessing", "auto", ["auto", *preprocessing.MODES], "Input preprocessing; "
                  "auto: caffe (BGR, ImageNet mean) for vgg19/vgg16, none for a .keras model.")
flags.DEFINE_bool("progress", True, "Show a progress bar on stderr.")


def build_net(model, weights, seed, rule, preprocessing_mode):
    """Returns `(net, load)`: the Deconvnet, and a function that loads its weights (call it after
    checking the input, so bad flags fail before large files are read)."""
    if model.endswith(".keras"):
        loaded = models.load_model(model, weights=None if weights == "random" else weights)
        return deconvnet.Deconvnet(loaded, preprocessing_mode, rule), lambda: None
    random = weights == "random"
    loaded = models.load_model(model, weights=None, seed=seed if random else None)
    net = deconvnet.Deconvnet(loaded, preprocessing_mode, rule)
    return net, (lambda: None) if random else (lambda: models.load_weights(loaded, model, weights))


def _progress_bar(total, enabled):
    if not enabled:
        return None
    from tqdm import tqdm  # a dependency of the command line only
    return tqdm(total=total, unit="img", desc="pass 1", file=sys.stderr, dynamic_ncols=True)


def described_settings():
    """The flags a manifest records."""
    return {name: FLAGS[name].value for name in (
        "feat", "id", "top", "per_image", "images", "imtype", "model", "weights", "seed", "size",
        "aspect", "batch_size", "normalize", "rule", "preprocessing")}


def summary(outcome, total_seconds):
    """The one-line summary printed at the end of a run."""
    state = outcome.state
    kinds = report.skip_counts(state.read, state.skipped)["skipped_by_reason"]
    reasons = (" (" + ", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items())) + ")"
               if kinds else "")
    files = ", ".join(path for written in outcome.written.values() for path in written.values())
    rate = state.cursor / outcome.scan_seconds if outcome.scan_seconds > 0 else float("inf")
    return (f"read {state.read} images, skipped {len(state.skipped)}{reasons} in "
            f"{total_seconds:.1f} s (pass 1 {outcome.scan_seconds:.1f} s, {rate:.1f} img/s; "
            f"pass 2 {outcome.project_seconds:.1f} s); wrote {files}")


@cli.one_line_errors
def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    if not FLAGS.feat:
        raise app.UsageError("--feat is required, e.g. --feat conv4_4")
    started = time.perf_counter()
    net, load_weights = build_net(FLAGS.model, FLAGS.weights, FLAGS.seed, FLAGS.rule,
                                  FLAGS.preprocessing)
    sweep = sweeps_lib.make_sweep(net, FLAGS.feat, FLAGS.id, FLAGS.top, FLAGS.per_image)
    settings = runner.Settings(FLAGS.size, FLAGS.aspect, FLAGS.batch_size, FLAGS.normalize,
                               FLAGS.min_tile)
    sweeps_lib.check_settings(net, [sweep], settings.size, settings.batch_size)
    paths = image_files.find_images(FLAGS.images, image_files.parse_extensions(FLAGS.imtype))
    load_weights()
    if FLAGS.weights == "random":
        logging.warning("--weights random: the pictures show an untrained network.")
    bar = _progress_bar(len(paths), FLAGS.progress)
    previous = [0]

    def on_batch(state):
        if bar is not None:
            bar.update(state.cursor - previous[0])
        previous[0] = state.cursor

    try:
        outcome = runner.run(net, paths, [sweep], FLAGS.out, settings, described_settings(),
                             on_batch=on_batch)
    finally:
        if bar is not None:
            bar.close()
    for notes in outcome.notes.values():
        for note in notes:
            print(f"note: {note}")
    print(summary(outcome, time.perf_counter() - started))


if __name__ == "__main__":
    app.run(main)
