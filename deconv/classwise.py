"""Class-wise top feature maps from the command line (FeatureMapVisualizer's method).

    python -m deconv.classwise --images DIR --feat conv5_4
    python -m deconv.classwise --images DIR --feat conv5_3 --per_image 25 --per_class 25 \
                               --model vgg16 --weights my.weights.h5 --out maps

DIR holds one sub-folder per class. In one streaming pass, each image's --per_image maps with the
largest mean activation are found; per class, the --per_class maps that are most often among its
images' top maps are kept. Writes, in the --out folder, {feat}.json, {class: [map ids]} (most
recurrent first), and {feat}_details.json: per class its images and each map's count, share and
mean activation; the files skipped (corrupt, truncated, not images) with their reasons. The maps
feed `python -m deconv.overlay --class_maps`.
"""
import os
import time

from absl import flags

from deconv import _cli  # first: quiets TensorFlow before it loads
from deconv import _net
from deconv.analysis import class_maps
from deconv.core import names
from deconv.errors import DeconvError
from deconv.io import images as image_files
from deconv.io import outputs
from deconv.io import streaming
from deconv.io import words

FLAGS = flags.FLAGS
flags.DEFINE_string("images", None, "Folder with one sub-folder of images per class (searched "
                    "recursively; an image directly in the folder belongs to no class).")
flags.DEFINE_string("feat", None, "Layer: conv1_1 ... conv5_4, pool1 ... pool5, or Keras names "
                    "such as block5_conv4.")
_cli.integer_flag("per_image", 25, "Top maps per image, by mean activation (more than the "
                  "layer's maps: all).", bounds=class_maps.COUNT_RANGE)
_cli.integer_flag("per_class", 25, "Maps kept per class: those most often among its images' "
                  "top maps.", bounds=class_maps.COUNT_RANGE)
flags.DEFINE_string("out", "classwise", "Output folder: <feat>.json ({class: [map ids]}) and "
                    "<feat>_details.json go there.")
_cli.define_model_flags()
_cli.define_folder_flags()


@_cli.one_line_errors
def main(argv):
    _cli.no_arguments(argv, "give the folder with --images.")
    if not FLAGS.images or not FLAGS.feat:
        raise DeconvError("--images and --feat are required, e.g. --images data/train "
                          "--feat conv5_4; see --help.")
    reading = streaming.Reading(FLAGS.size, FLAGS.aspect, FLAGS.batch_size)
    started = time.perf_counter()
    net, load_weights = _net.load_net(FLAGS.model, FLAGS.weights, FLAGS.seed,
                                      preprocessing=FLAGS.preprocessing,
                                      include_top=FLAGS.include_top, size=FLAGS.size)
    layer = net.resolve(FLAGS.feat)
    feat = names.short(layer)
    class_maps.check_counts(FLAGS.per_image, FLAGS.per_class)
    class_maps.check_image_size(net, layer, FLAGS.size)
    extensions = image_files.parse_extensions(FLAGS.imtype)
    folder = class_maps.scan_classes(FLAGS.images, extensions)
    reading.for_count(int((folder.labels >= 0).sum()))
    maps_file, details_file = (os.path.join(FLAGS.out, name)
                               for name in (f"{feat}.json", f"{feat}_details.json"))
    outputs.check_targets([maps_file, details_file])
    outputs.ensure_folder(FLAGS.out)
    record = load_weights()
    with _cli.progress_bar(FLAGS.progress, int((folder.labels >= 0).sum()), "img") as update:
        result = class_maps.class_maps(net, layer, FLAGS.images, per_image=FLAGS.per_image,
                                       per_class=FLAGS.per_class, reading=reading,
                                       extensions=extensions, progress=update)
    outputs.write_json(maps_file, result.maps)
    outputs.write_json(details_file, class_maps.details(
        result, images=FLAGS.images, **record, size=FLAGS.size, aspect=FLAGS.aspect))
    print(f"{FLAGS.images}: " + words.skip_summary(int(result.images.sum()), result.skipped,
                                                   result.ignored, len(result.outside)))
    classes = ", ".join(f"{name} ({int(n)})" for name, n in zip(result.classes, result.images))
    print(f"{feat}: {words.plural(len(result.classes), 'class')}: {classes}; "
          f"{time.perf_counter() - started:.1f} s; wrote {maps_file} and {details_file}")


if __name__ == "__main__":
    _cli.run(main)
