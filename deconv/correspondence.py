"""Correspondence of object parts (Zeiler & Fergus 2014, table 1) from the command line.

    python -m deconv.correspondence --parts parts.json [--images DIR] [--layers conv4_3,conv5_3]
                                    [--fill gray] [--trials 10] [--size 224] [--out DIR]

parts.json gives, per image (a path relative to --images, which defaults to the file's
folder), a box per part in the original image's pixels, half-open [top, left, bottom, right]:

    {"dog1.jpg": {"left_eye": [80, 60, 110, 95], "nose": [130, 90, 170, 140]}, ...}

For each part, it is occluded in every image that has it, and the signs of the feature changes
at each layer are compared over all pairs of those images: Delta, the mean Hamming distance as
a fraction of the feature vector's length (lower: more consistent), beside Delta for boxes of
the same sizes at random places (--trials per image, seeded by --random_seed). Writes
correspondence.md (the table) and correspondence.json (every pair, every box) in --out and
prints the table. --model may be any Keras model (.keras); with VGG's classifier as a .keras,
--layers block5_conv3,fc2 gives the paper's layers 5 and 7.
"""
import os

from absl import flags

from deconv import _cli  # first: quiets TensorFlow before it loads
from deconv import _net
from deconv import limits
from deconv.analysis import correspondence
from deconv.analysis import features as features_lib
from deconv.analysis import occlusion
from deconv.core.deconvnet import Deconvnet
from deconv.errors import DeconvError
from deconv.io import images as image_files
from deconv.io import outputs

FLAGS = flags.FLAGS
flags.DEFINE_string("parts", None, "A JSON file: {image path: {part name: [top, left, bottom, "
                    "right]}}, boxes in the original image's pixels.")
flags.DEFINE_string("images", None, "The folder the image paths of --parts are relative to; "
                    "default: the folder of --parts.")
flags.DEFINE_list("layers", None, "Layers whose features are compared; default: the last conv "
                  "layer (and a classifier's last hidden dense layer).")
flags.DEFINE_string("fill", "gray", "The occluder's colour: gray (the ImageNet mean), black, "
                    "white, mean (each image's), a value 0-255 or r,g,b.")
_cli.integer_flag("trials", 10, "Random boxes per image and part, for the baseline.",
                  bounds=(1, 100_000))
_cli.integer_flag("random_seed", 0, "Seed of the random boxes.", bounds=(0, limits.MAX_SEED))
_cli.float_flag("tolerance", 1e-6, "A change at most this fraction of the layer's largest "
                "activation in the image counts as no change (sign 0).", bounds=(0, 1))
_cli.define_model_flags(model_help="vgg19, vgg16, or any .keras model with one image input.")
_cli.integer_flag("size", 224, "Images are resized to size x size (boxes with them).")
flags.DEFINE_enum("aspect", "stretch", image_files.ASPECTS, "How an image becomes square.")
_cli.integer_flag("batch_size", 16, "Images per forward batch.")
_cli.define_progress_flag()
flags.DEFINE_string("out", "correspondence", "Output folder.")


@_cli.one_line_errors
def main(argv):
    _cli.no_arguments(argv, "the images and their boxes are given with --parts; see --help.")
    if not FLAGS.parts:
        raise DeconvError("--parts is required, e.g. --parts parts.json; see --help.")
    root = FLAGS.images or os.path.dirname(os.path.abspath(FLAGS.parts))
    paths, pixels, parts = correspondence.read_parts(FLAGS.parts, root, FLAGS.size,
                                                      FLAGS.aspect)
    occlusion.fill_color(FLAGS.fill, pixels[0])
    model, load_weights = _net.load_keras_model(FLAGS.model, FLAGS.weights, FLAGS.seed,
                                                FLAGS.include_top, FLAGS.size)
    net = Deconvnet(model, FLAGS.preprocessing)
    layers = FLAGS.layers or correspondence.default_layers(net)
    features_lib.FeatureModel(net, layers).check(pixels)
    written = [os.path.join(FLAGS.out, "correspondence.md"),
               os.path.join(FLAGS.out, "correspondence.json")]
    outputs.check_targets(written, inputs=[FLAGS.parts, *paths])
    load_weights()
    count = len({part for boxes in parts for part in boxes})
    with _cli.progress_bar(FLAGS.progress, count, "part") as update:
        result = correspondence.part_correspondence(
            net, layers, pixels, parts=parts, fill=FLAGS.fill, trials=FLAGS.trials,
            seed=FLAGS.random_seed, tolerance=FLAGS.tolerance, batch_size=FLAGS.batch_size,
            progress=update)
    table = correspondence.table(result)
    outputs.ensure_folder(FLAGS.out)
    outputs.write_bytes(written[0], table.encode())
    outputs.write_json(written[1], correspondence.summary(result, paths, **{
        "model": FLAGS.model, "weights": FLAGS.weights, "size": FLAGS.size,
        "aspect": FLAGS.aspect, "fill": FLAGS.fill, "trials": FLAGS.trials,
        "random_seed": FLAGS.random_seed, "tolerance": FLAGS.tolerance}))
    print(table + f"wrote {', '.join(written)}")


if __name__ == "__main__":
    _cli.run(main)
