"""Class-wise top feature maps from the command line (FeatureMapVisualizer's method).

    python -m deconv.classwise --images DIR --feat conv5_4
    python -m deconv.classwise --images DIR --feat conv5_3 --per_image 25 --per_class 25 \
                               --model vgg16 --weights my.weights.h5 --out classwise.json

DIR holds one sub-folder per class. In one streaming pass, each image's --per_image maps with the
largest mean activation are found; per class, the --per_class maps that are most often among its
images' top maps are kept. Writes --out, {class: [map ids]} (most recurrent first), and beside it
<out>_details.json: per class its images and each map's count, share and mean activation; the
files skipped (corrupt, truncated, not images) with their reasons. The maps feed
`python -m deconv.overlay --class_maps`.
"""
import os
import time

from absl import app
from absl import flags

from deconv import _cli  # first: quiets TensorFlow before it loads
from deconv.analysis import class_maps
from deconv.core import names
from deconv.errors import DeconvError
from deconv.io import images as image_files
from deconv.io import outputs
from deconv.io import streaming

FLAGS = flags.FLAGS
flags.DEFINE_string("images", None, "Folder with one sub-folder of images per class (searched "
                    "recursively; an image directly in the folder belongs to no class).")
flags.DEFINE_string("feat", None, "Layer: conv1_1 ... conv5_4, pool1 ... pool5, or Keras names "
                    "such as block5_conv4.")
flags.DEFINE_integer("per_image", 25, "Top maps per image, by mean activation.")
flags.DEFINE_integer("per_class", 25, "Maps kept per class: those most often among its images' "
                     "top maps.")
flags.DEFINE_string("out", "classwise.json", "Output JSON {class: [map ids]}; details go to "
                    "<out>_details.json.")
_cli.define_model_flags()
_cli.define_folder_flags()


def details_path(out):
    """`classwise.json` -> `classwise_details.json`."""
    stem, ext = os.path.splitext(out)
    return f"{stem}_details{ext or '.json'}"


@_cli.one_line_errors
def main(argv):
    _cli.no_arguments(argv, "give the folder with --images.")
    if not FLAGS.images or not FLAGS.feat:
        raise DeconvError("--images and --feat are required, e.g. --images data/train "
                          "--feat conv5_4; see --help.")
    reading = streaming.Reading(FLAGS.size, FLAGS.aspect, FLAGS.batch_size)
    started = time.perf_counter()
    net, load_weights = _cli.load_net(FLAGS.model, FLAGS.weights, FLAGS.seed,
                                      preprocessing=FLAGS.preprocessing,
                                      include_top=FLAGS.include_top)
    layer = net.resolve(FLAGS.feat)
    class_maps.check_counts(FLAGS.per_image, FLAGS.per_class)
    class_maps.check_image_size(net, layer, FLAGS.size)
    extensions = image_files.parse_extensions(FLAGS.imtype)
    folder = class_maps.scan_classes(FLAGS.images, extensions)
    outputs.ensure_folder(os.path.dirname(os.path.abspath(FLAGS.out)))
    identity = load_weights()
    with _cli.progress_bar(FLAGS.progress, int((folder.labels >= 0).sum()), "img") as update:
        result = class_maps.class_maps(net, layer, FLAGS.images, per_image=FLAGS.per_image,
                                       per_class=FLAGS.per_class, reading=reading,
                                       extensions=extensions, progress=update)
    outputs.write_json(FLAGS.out, result.maps)
    outputs.write_json(details_path(FLAGS.out), class_maps.details(
        result, images=FLAGS.images, weights=identity, size=FLAGS.size, aspect=FLAGS.aspect))
    for path, reason in result.skipped:
        print(f"note: skipped {path}: {reason}")
    if result.outside:
        count = len(result.outside)
        print(f"note: left out {count} image{'s' * (count != 1)} directly in {FLAGS.images} (in no "
              f"class sub-folder)")
    classes = ", ".join(f"{name} ({int(n)})" for name, n in zip(result.classes, result.images))
    print(f"{names.short(layer)}: read {int(result.images.sum())} images in "
          f"{len(result.classes)} classes: {classes}; skipped {len(result.skipped)}; "
          f"{time.perf_counter() - started:.1f} s; wrote {FLAGS.out} and "
          f"{details_path(FLAGS.out)}")


if __name__ == "__main__":
    app.run(main)
