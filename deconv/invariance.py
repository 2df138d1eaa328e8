"""Invariance curves (Zeiler & Fergus 2014, figure 5) from the command line.

    python -m deconv.invariance IMAGE... --transform translate|scale|rotate [--range -60:60:10]
                                [--layers conv1_2,conv5_4] [--classes [--label 281]]
                                [--fill gray] [--axis vertical] [--out invariance]

For each image and each transform amount (--range START:STOP:STEP, both ends included, or a
list such as 1,1.2,1.5; default the paper's: -60 to 60 pixels, scales 1 to 1.8, 0 to 350
degrees): the normalised Euclidean distance ||f(x) - f(T x)|| / ||f(x)|| between the feature
vectors (whole outputs) of each layer for the original and the transformed image, and with
--classes the true class's probability (--label, else each original's top class) from the whole
application with its classifier (the model itself with --include_top), or --classifier. --model
may be any Keras application or model (.keras): features come
from a plain forward pass. Writes invariance_<transform>.png (a panel per layer and the
probability; needs matplotlib), invariance_<transform>_examples.png (the transformed images) and
invariance_<transform>.json in --out. Every input is checked before the weights load.
"""
import os

from absl import flags
from absl import logging
import numpy as np

from deconv import _cli  # first: quiets TensorFlow before it loads
from deconv import _net
from deconv.analysis import features as features_lib
from deconv.analysis import invariance
from deconv.analysis import invariance_plot
from deconv.core import names
from deconv.core.deconvnet import Deconvnet
from deconv.errors import DeconvError
from deconv.io import images as image_files
from deconv.io import outputs
from deconv.io import words
from deconv.models import classes
from deconv.models import loading

FLAGS = flags.FLAGS
flags.DEFINE_enum("transform", "translate", invariance.KINDS, "What is done to the images: "
                  "translate (pixels), scale (a zoom about the centre) or rotate (degrees, "
                  "counter-clockwise).")
flags.DEFINE_string("range", None, "The amounts: START:STOP:STEP (both ends included) or a "
                    "comma-separated list. Default: the paper's (-60:60:10 pixels, 1:1.8:0.1, "
                    "0:350:10 degrees).")
flags.DEFINE_list("layers", None, "Layers whose feature vectors are compared; default: the first "
                  "and the last conv layer. With --classes, the classifier's layers too (fc2: "
                  "the paper's layer 7).")
flags.DEFINE_enum("pool", "none", features_lib.POOLS, "none: a layer's whole output is its "
                  "feature vector (the paper's); max or mean: each map's maximum or mean over its "
                  "positions (what is there, not where).")
flags.DEFINE_string("fill", "gray", "What fills the places no pixel moves to: gray (the ImageNet "
                    "mean), black, white, mean, r,g,b; or reflect, wrap (circular), nearest.")
flags.DEFINE_enum("axis", "vertical", invariance.AXES, "The direction of a translation.")
flags.DEFINE_bool("classes", False, "Also record the true class's probability, with the whole "
                  "application (classifier included), the model itself with --include_top, or "
                  "--classifier.")
flags.DEFINE_list("label", None, "The true class of each image (one for all, or one per image); "
                  "default: each original image's top class.")
_cli.define_model_flags(model_help="A Keras application (vgg19, resnet50, ...; any spelling) "
                        "or any .keras model with one image input.")
_cli.define_classifier_flags()
_cli.integer_flag("size", 224, "Images are resized to size x size (a classifier takes the size "
                  "it was trained at: 224 for most applications).")
_cli.integer_flag("batch_size", 16, "Transformed images per forward batch.")
_cli.define_folder_flags()  # --imtype (of a folder's files), --aspect, --progress
flags.DEFINE_string("title", None, "Title of the plot; default: the model, weights and layers.")
flags.DEFINE_string("out", "invariance", "Output folder.")


def _amounts(text):
    if text is None:
        return None
    try:
        if ":" in text:
            start, stop, step = (float(part) for part in text.split(":"))
            if step <= 0 or stop < start:
                raise ValueError
            count = int(round((stop - start) / step)) + 1
            return tuple(round(start + i * step, 10) for i in range(count))
        return tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise DeconvError(f"--range {text!r}: give START:STOP:STEP with STOP >= START and STEP "
                          f"> 0 (e.g. -60:60:10), or a list (e.g. 1,1.2,1.5).") from None


def _images(argv):
    """`(paths, pixels)`: the IMAGE arguments, read and resized. A folder gives its images of
    --imtype; those of its files that cannot be read are skipped with a warning and counted
    (an IMAGE named that cannot be read is an error)."""
    if len(argv) < 2:
        raise DeconvError("Give one or more IMAGEs (or folders), e.g. python -m "
                          "deconv.invariance cat.jpg dog.jpg; see --help.")
    paths, pixels = [], []
    for arg in argv[1:]:
        folder = os.path.isdir(arg)
        found, ignored = (image_files.scan_folder(arg, image_files.parse_extensions(FLAGS.imtype))
                          if folder else ([arg], None))
        skipped = []
        for path in found:
            image, _, reason = image_files.read_image(path, FLAGS.size, FLAGS.aspect)
            if reason is None:
                paths.append(path)
                pixels.append(image)
            elif not folder:
                raise DeconvError(f"Cannot read {path}: {reason}.")
            else:
                logging.warning("Skipping %s: %s", path, reason)
                skipped.append((path, reason))
        if folder:
            print(f"{arg}: {words.skip_summary(len(found) - len(skipped), skipped, ignored)}")
    if not paths:
        raise DeconvError(f"No image could be read in {' '.join(argv[1:])}.")
    return paths, np.stack(pixels)


def _labels(count):
    """The --label classes, one per image, or None; checked before anything loads."""
    if not FLAGS.label:
        return None
    if not FLAGS.classes:
        raise DeconvError("--label names the true class for --classes; add --classes.")
    if len(FLAGS.label) not in (1, count):
        raise DeconvError(f"--label gives {len(FLAGS.label)} classes for {count} images: give "
                          f"one for all, or one per image.")
    try:
        return [int(label) for label in FLAGS.label] * (count // len(FLAGS.label))
    except ValueError:
        raise DeconvError(f"--label takes class ids; received {FLAGS.label}.") from None


def _classifier(model):
    """`(classifier, class names)` for --classes, or Nones: --classifier, the model itself with
    --include_top, or the application (any of Keras's) with its classifier."""
    if not FLAGS.classes:
        return None, None
    if FLAGS.classifier:
        return loading.load_model(FLAGS.classifier), None
    if FLAGS.include_top:
        classifier = model
    elif loading.named(FLAGS.model) is None:
        raise DeconvError("--classes with a .keras --model needs --classifier PATH.keras.")
    else:
        weights = FLAGS.classifier_weights or ("random" if FLAGS.weights == "random"
                                               else "imagenet")
        classifier = loading.load_classifier(FLAGS.model, weights, FLAGS.seed)
    expected = tuple(classifier.input_shape[1:3])
    if None not in expected and expected != (FLAGS.size, FLAGS.size):
        raise DeconvError(f"{FLAGS.model}'s classifier takes {expected[0]}x{expected[1]} images: "
                          f"pass --size {expected[0]} (or leave out --classes); received "
                          f"{FLAGS.size}.")
    names = [c[1] for c in classes.imagenet_classes()] if classifier.output_shape[-1] == 1000 \
        else None
    return classifier, names


def _farthest(transform):
    """The index of the amount farthest from no change (0, or 1 for a scale; a rotation's
    distance goes round the circle)."""
    def away(amount):
        if transform.kind == "rotate":
            return min(amount % 360, 360 - amount % 360)
        return abs(amount - (1.0 if transform.kind == "scale" else 0.0))
    return max(range(len(transform.amounts)), key=lambda i: away(transform.amounts[i]))


def _summary(result, written):
    far = _farthest(result.transform)
    lines = [f"{names.short(layer)}: mean distance "
             f"{np.nanmean(result.distances[layer][:, far]):.3f} at "
             f"{result.transform.amounts[far]:g} {invariance.UNITS[result.transform.kind]}"
             + (f" ({np.isnan(result.distances[layer][:, 0]).sum()} images without activation "
                f"left out)" if np.isnan(result.distances[layer][:, 0]).any() else "")
             for layer in result.layers]
    if result.probability is not None:
        lines.append(f"p(true class): mean {result.original_probability.mean():.3f} on the "
                     f"originals, {result.probability.min(axis=1).mean():.3f} at each image's "
                     f"lowest")
    return "\n".join(lines + [f"wrote {', '.join(written.values())}"])


@_cli.one_line_errors
def main(argv):
    paths, pixels = _images(argv)
    transform = invariance.Transform(FLAGS.transform, _amounts(FLAGS.range), FLAGS.fill,
                                     FLAGS.axis).checked()
    invariance_plot.require_matplotlib()
    labels = _labels(len(paths))
    model, load_weights = _net.load_keras_model(FLAGS.model, FLAGS.weights, FLAGS.seed,
                                                FLAGS.include_top, FLAGS.size)
    net = Deconvnet(model, FLAGS.preprocessing)
    layers = FLAGS.layers or features_lib.default_layers(net)
    own = [layer for layer in layers if not FLAGS.classes
           or features_lib.find_layer(net, layer) is not None]  # others: the classifier's
    if own:
        features_lib.FeatureModel(net, own, pool=FLAGS.pool).check(pixels)
    outputs.check_targets([os.path.join(FLAGS.out, name) for name in
                           invariance_plot.file_names(transform).values()], inputs=paths)
    load_weights()
    classifier, class_names = _classifier(model)
    with _cli.progress_bar(FLAGS.progress, len(paths), "img") as update:
        result = invariance.invariance_curves(
            net, layers, pixels, transform=transform, classifier=classifier, labels=labels,
            pool=FLAGS.pool, batch_size=FLAGS.batch_size, progress=update,
            classifier_preprocessing=(
                None if FLAGS.classifier_preprocessing == "auto"
                else FLAGS.classifier_preprocessing))
    title = FLAGS.title or (f"{os.path.basename(FLAGS.model)}, weights "
                            f"{os.path.basename(FLAGS.weights)}")
    written = invariance_plot.write(FLAGS.out, pixels, result, paths, {
        "model": FLAGS.model, "weights": FLAGS.weights, "size": FLAGS.size,
        "aspect": FLAGS.aspect, "classifier": FLAGS.classifier}, class_names, title)
    print(_summary(result, written))


if __name__ == "__main__":
    _cli.run(main)
