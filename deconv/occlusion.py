"""Occlusion sensitivity (Zeiler & Fergus 2014, figure 7) from the command line.

    python -m deconv.occlusion IMAGE [--occluder 50 --stride 8 --fill gray]
                               [--feat conv5_4 [--id N]] [--classes [--label N]] [--out DIR]

Slides a square over the image and records, for every position, the total activation of a
feature map (the strongest map of the unoccluded image unless --id is given) and, with
--classes, the probability of the correct class (--label, else the unoccluded image's top class)
and the most probable class, using the whole application with its classifier, the model itself
if it is a classifier, or --classifier (fed images preprocessed as the model's: --preprocessing,
unless --classifier_preprocessing). Writes
heat maps overlaid on the image with a colour bar (NAME_feature.png, NAME_probability.png,
NAME_top_class.png, NAME being the image's name), the raw arrays (.npy) and NAME.json, in the
--out folder. Without classifier weights, the class part says why and the feature part still
runs. Every input is checked before anything is written.
"""
import os

from absl import flags

from deconv import _cli  # first: quiets TensorFlow before it loads
from deconv import _net
from deconv import limits
from deconv.analysis import occlusion
from deconv.core import names
from deconv.errors import DeconvError
from deconv.io import images as image_files
from deconv.io import outputs
from deconv.models import classes
from deconv.models import loading

FLAGS = flags.FLAGS
_cli.integer_flag("occluder", 50, "Side of the occluding square, in pixels of the resized "
                  "image.", bounds=limits.RANGES["size"])
flags.DEFINE_string("size", None, "Not used here: the occluder's side is --occluder, the "
                    "image's --image_size.")
_cli.integer_flag("stride", 8, "Step between the square's positions, in pixels.",
                  bounds=limits.RANGES["size"])
flags.DEFINE_string("fill", "gray", "The square's colour: gray (the ImageNet mean), black, white, "
                    "mean (the image's), a value 0-255 or r,g,b.")
flags.DEFINE_string("feat", None, "Layer whose feature map is watched; default: the last conv "
                    "layer (conv5_4 of VGG19, conv5_3 of VGG16).")
flags.DEFINE_integer("id", None, "Feature map to watch; default: the strongest map of the "
                     "unoccluded image.")
flags.DEFINE_bool("classes", False, "Also record the correct class's probability and the most "
                  "probable class, with the whole application (classifier included), the "
                  "model itself if it is a classifier, or --classifier.")
flags.DEFINE_integer("label", None, "The correct class (0-999); default: the top class of the "
                     "unoccluded image.")
_cli.define_model_flags(model_help="A Keras application (vgg19, resnet50, ...; any "
                        "spelling) or a .keras model (with --classes: a classifier itself, "
                        "or --classifier).")
_cli.define_progress_flag()
_cli.define_classifier_flags()
_cli.integer_flag("image_size", 224, "The image is resized to this square (a classifier takes "
                  "the size it was trained at: 224 for most applications).")
flags.DEFINE_enum("aspect", "stretch", image_files.ASPECTS, "How the image becomes square.")
_cli.integer_flag("batch_size", 16, "Occluded images per forward batch (at most the number of "
                  "positions).")
flags.DEFINE_string("out", "occlusion", "Output folder: <image name>_feature.png and the rest "
                    "go there.")


def _check_size(expected, what):
    """Raises unless --image_size fits a classifier taking `expected` `(height, width)`."""
    if None not in expected and expected != (FLAGS.image_size, FLAGS.image_size):
        raise DeconvError(f"{what} takes {expected[0]}x{expected[1]} images: pass --image_size "
                          f"{expected[0]} (or leave out --classes); received {FLAGS.image_size}.")


def _classifier(net, arch_or_path):
    """Returns `(classifier, names, note)`: the classifier, class names (or None), and why the
    class part is skipped (or None): --classifier, the model itself if it is a classifier
    (an application with --include_top, a .keras ending in a softmax), or the application with
    its classifier. Weights asked for explicitly must load; the default search for ImageNet
    weights may fail, which skips the class part with a note."""
    if FLAGS.classifier:
        _net.input_file(FLAGS.classifier, "a .keras classifier", "--classifier")
        classifier = loading.load_model(FLAGS.classifier)
        _check_size(tuple(classifier.input_shape[1:3]), "--classifier")
        return classifier, None, None
    if net.logits is not None:
        return net.model, _class_names(net.model), None
    if loading.named(arch_or_path) is None:
        return None, None, ("class part skipped: --model is a .keras model without a classifier; "
                            "pass --classifier PATH.keras")
    if arch_or_path in loading.ARCHS:  # checked before VGG's 500 MB of weights load
        _check_size((224, 224), f"{arch_or_path}'s classifier")
    weights = FLAGS.classifier_weights or ("random" if FLAGS.weights == "random" else "imagenet")
    if weights not in ("random", "imagenet"):
        _net.input_file(weights, "a weights file", "--classifier_weights")
    try:
        classifier = loading.load_classifier(arch_or_path, weights, FLAGS.seed)
    except DeconvError as error:
        if FLAGS.classifier_weights:
            raise
        return None, None, f"class part skipped: {error}"
    _check_size(tuple(classifier.input_shape[1:3]), f"{arch_or_path}'s classifier")
    return classifier, _class_names(classifier), None


def _class_names(classifier):
    """ImageNet's class names for a classifier of 1,000 classes, else None."""
    if classifier.output_shape[-1] != 1000:
        return None
    return [c[1] for c in classes.imagenet_classes()]


def _check_ids(net, layer, classifier):
    """Checks --id and --label against the layer and the classifier, before any output."""
    count = net.feature_count(layer)
    if FLAGS.id is not None and not 0 <= FLAGS.id < count:
        raise DeconvError(f"--id {FLAGS.id} is out of range for layer {names.short(layer)!r}, "
                          f"which has {count} feature maps (valid ids: 0 to {count - 1}).")
    classes_count = classifier.output_shape[-1] if classifier is not None else None
    if FLAGS.label is not None and classes_count is not None and not (
            0 <= FLAGS.label < classes_count):
        raise DeconvError(f"--label {FLAGS.label} is out of range: the classifier has "
                          f"{classes_count} classes (valid: 0 to {classes_count - 1}).")


def _check_flags():
    if FLAGS["size"].present:
        raise DeconvError(f"--size {FLAGS.size}: the occluder's side is --occluder (e.g. "
                          f"--occluder 50), the image's --image_size.")
    if FLAGS.label is not None and not FLAGS.classes:
        raise DeconvError("--label names the correct class for --classes; add --classes.")


@_cli.one_line_errors
def main(argv):
    _check_flags()
    path, image = _cli.one_image(argv, FLAGS.image_size, FLAGS.aspect, "occlusion")
    out = os.path.join(FLAGS.out, os.path.splitext(os.path.basename(path))[0])
    net, load_weights = _net.load_net(FLAGS.model, FLAGS.weights, FLAGS.seed,
                                      preprocessing=FLAGS.preprocessing,
                                      include_top=FLAGS.include_top, size=FLAGS.image_size)
    layer = net.resolve(FLAGS.feat) if FLAGS.feat else net.conv_layers[-1]
    net.check_image_size(layer, FLAGS.image_size, "--image_size")
    occluder = occlusion.Occluder(FLAGS.occluder, FLAGS.stride, FLAGS.fill)
    rows, columns = occlusion.grid(image.shape[:2], occluder.size, occluder.stride)
    occlusion.fill_color(occluder.fill, image)
    limits.check_batch_pixels(min(FLAGS.batch_size, len(rows) * len(columns)),
                              *image.shape[:2])
    outputs.check_targets(occlusion.files(out, FLAGS.classes), inputs=[path])
    record = load_weights()
    classifier, class_names, note = (_classifier(net, FLAGS.model) if FLAGS.classes
                                     else (None, None, None))
    _check_ids(net, layer, classifier)
    # Every input is checked: only now is anything written.
    outputs.ensure_folder(FLAGS.out)
    classifier_preprocessing = (net.preprocessing.name if FLAGS.classifier_preprocessing == "auto"
                                else FLAGS.classifier_preprocessing)
    with _cli.progress_bar(FLAGS.progress, len(rows) * len(columns), "pos") as update:
        result = occlusion.occlude(
            net, layer, image, feature=FLAGS.id, classifier=classifier, target=FLAGS.label,
            occluder=occluder, batch_size=FLAGS.batch_size,
            classifier_preprocessing=classifier_preprocessing, progress=update)
    written = occlusion.write(out, image, result, {
        "path": path, "fill": FLAGS.fill, "image_size": image.shape[:2], **record, "note": note,
        "classifier_preprocessing": classifier_preprocessing if classifier is not None else None},
        class_names)
    if note:
        print(f"note: {note}")
    print(f"wrote {', '.join(written.values())}")


if __name__ == "__main__":
    _cli.run(main)
