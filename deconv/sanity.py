"""A trust report from the command line: do the pictures show the model, or only the image?

    python -m deconv.sanity --model efficientnet_lite0 --include_top --images DIR --out report/
    python -m deconv.sanity --model vgg16 --weights W.h5 --layer block4_conv3 --id 12

For the class logit of each image (a model with its classifier: its top class unless --id) or
for one unit of --layer (map --id, else each image's strongest; at --position, else that map's
maximum), five methods' maps (the deconvnet projection, guided backprop, the gradient,
gradient x input, occlusion) are compared with themselves as the model's blocks are randomised,
from the top block down (cascading) and one at a time (independent): Spearman's rank
correlation of the absolute and the signed maps, SSIM and HOG correlation (Adebayo et al.,
NeurIPS 2018). Deletion and insertion curves (Petsiuk et al., BMVC 2018) against a random order,
and the deconvnet's and guided backprop's measured image dependence. Writes report.json (every
number), report.html, the figures and a grid of maps per image in --out. The model's weights are
restored after each randomisation.
"""
import os
import time

from absl import flags
from absl import logging

from deconv import _cli  # first: quiets TensorFlow before it loads
from deconv import _net
from deconv import limits
from deconv.errors import DeconvError

FLAGS = flags.FLAGS
flags.DEFINE_string("images", _cli.EXAMPLE_IMAGES, "Folder of images (searched recursively).")
_cli.integer_flag("max_images", 16, "At most this many images (the first, sorted by path): "
                  "every map is kept in memory.", bounds=(1, 1000))
flags.DEFINE_string("layer", None, "The layer explained; default: the classifier's softmax "
                    "layer (its class logits; needs --include_top for an application).")
flags.DEFINE_integer("id", None, "The class (logits) or feature map explained, the same in "
                     "every image; default: each image's top class, or strongest map.")
flags.DEFINE_list("position", None, "y,x of the unit in --layer's maps; default: the map's "
                  "maximum in each image.")
flags.DEFINE_list("methods", None, "Methods compared (default: all): deconvnet, guided, "
                  "gradient, gradient_x_input, occlusion.")
flags.DEFINE_bool("cascading", True, "Randomise the blocks from the top down, cumulatively.")
flags.DEFINE_bool("independent", True, "Randomise each block alone.")
flags.DEFINE_enum("randomisation", "reinitialise", ["reinitialise", "shuffle"], "reinitialise: "
                  "each layer's own initializers (Adebayo et al.'s); shuffle: each weight "
                  "tensor's values permuted (keeps the activations' scale).")
_cli.integer_flag("steps", 25, "Deletion and insertion steps (each moves 1/steps of the "
                  "pixels).", bounds=(2, 1000))
flags.DEFINE_string("fill", "gray", "Colour of deleted pixels: gray (the ImageNet mean), black, "
                    "white, mean, a value 0-255 or r,g,b.")
_cli.integer_flag("occluder", 0, "Side of the occlusion method's square; 0: a quarter of "
                  "--size.", bounds=(0, limits.MAX_SIDE))
_cli.integer_flag("stride", 0, "Step of the occluder; 0: an eighth of --size.",
                  bounds=(0, limits.MAX_SIDE))
_cli.integer_flag("dependence_units", 10, "Distinct units whose image dependence is measured "
                  "(0: none).", bounds=(0, 100))
flags.DEFINE_string("out", "sanity", "Output folder: report.json, report.html and the figures.")
_cli.define_model_flags(seed_help="Seed of the randomisation and of the random pixel order "
                        "(and of --weights random).")
_cli.define_folder_flags()


def _images():
    """`(paths, pixels)`: the readable images of --images, at most --max_images; unreadable files
    are skipped with a warning."""
    import numpy as np

    from deconv.io import images as image_files
    from deconv.io import words
    paths, ignored = image_files.scan_folder(
        FLAGS.images, image_files.parse_extensions(FLAGS.imtype), exclude=[FLAGS.out])
    read, pixels, skipped = [], [], []
    for path in paths:
        if len(read) == FLAGS.max_images:
            break
        image, _, reason = image_files.read_image(path, FLAGS.size, FLAGS.aspect)
        if reason is not None:
            logging.warning(f"skipped {path}: {reason}")
            skipped.append((path, reason))
            continue
        read.append(path)
        pixels.append(image)
    if not read:
        raise DeconvError(f"No readable image in {FLAGS.images!r}.")
    print(f"{FLAGS.images}: " + words.skip_summary(len(read), skipped, ignored) + (
        f"; kept the first {FLAGS.max_images} (--max_images)" if len(paths) > len(read)
        + len(skipped) else ""))
    return read, np.stack(pixels).astype(np.float32)


def _layer(net):
    """--layer, or the classifier's softmax layer."""
    from deconv.analysis import sanity_methods
    return net.resolve(FLAGS.layer) if FLAGS.layer else sanity_methods.logits_layer(net)


def _position():
    if FLAGS.position is None:
        return None
    try:
        y, x = (int(value) for value in FLAGS.position)
    except ValueError:
        raise DeconvError(f"--position takes y,x (two integers); received "
                          f"{','.join(FLAGS.position)}.") from None
    return (y, x)


def _settings(size):
    from deconv.analysis import occlusion
    from deconv.analysis import sanity
    from deconv.analysis import sanity_methods
    occluder = None
    if FLAGS.occluder or FLAGS.stride:
        occluder = occlusion.Occluder(FLAGS.occluder or max(1, size // 4),
                                      FLAGS.stride or max(1, size // 8))
    return sanity.SanitySettings(
        methods=tuple(FLAGS.methods or sanity_methods.METHODS),
        cascading=FLAGS.cascading, independent=FLAGS.independent,
        randomisation=FLAGS.randomisation, seed=FLAGS.seed, steps=FLAGS.steps, fill=FLAGS.fill,
        occluder=occluder, batch_size=FLAGS.batch_size,
        dependence_units=FLAGS.dependence_units).checked((size, size))


def _print(content, out, started):
    for method, row in content["table"].items():
        similarity = (f"Spearman |map| {row['spearman_abs']['mean']:.3f} "
                      f"± {row['spearman_abs']['std']:.3f} after every block; "
                      if "spearman_abs" in row else "")
        print(f"{method}: {similarity}deletion {row['deletion']:.3f} (random "
              f"{row['deletion_random']:.3f}), insertion {row['insertion']:.3f} (random "
              f"{row['insertion_random']:.3f})")
    for relu_rule, found in content["image_dependence"].items():
        between, blank = (f"{value:.3f}" if value is not None else "not measured"
                          for value in (found["between_images"], found["to_blank"]))
        print(f"image dependence, {relu_rule}: between images {between}, to a blank image "
              f"{blank}; the graph: {found['derived']['verdict']}")
    for text in content["verdicts"].values():
        print(f"- {text}")
    print(f"{time.perf_counter() - started:.1f} s; wrote {os.path.join(out, 'report.html')}, "
          f"report.json and {len(content['files']) - 2} figures")


@_cli.one_line_errors
def main(argv):
    _cli.no_arguments(argv, "give the folder with --images.")
    started = time.perf_counter()
    from deconv.analysis import sanity
    from deconv.analysis import sanity_figures
    from deconv.analysis import sanity_html
    from deconv.io import outputs
    from deconv.models import classes
    sanity_figures.require_matplotlib()
    position = _position()
    settings = _settings(FLAGS.size)
    paths, pixels = _images()
    net, load_weights = _net.load_net(FLAGS.model, FLAGS.weights, FLAGS.seed,
                                      preprocessing=FLAGS.preprocessing,
                                      include_top=FLAGS.include_top)
    layer = _layer(net)
    net.check_image_size(layer, FLAGS.size, "--size")
    outputs.check_targets(sanity_html.files(FLAGS.out, paths, FLAGS.cascading,
                                            FLAGS.independent))
    record = load_weights()
    outputs.ensure_folder(FLAGS.out)
    with _cli.progress_bar(FLAGS.progress, 1, "map") as update:
        report = sanity.sanity_check(net, layer, pixels, feature=FLAGS.id, position=position,
                                     settings=settings, progress=update)
    report.seconds["total"] = time.perf_counter() - started
    class_names = ([c[1] for c in classes.imagenet_classes()]
                   if report.target.logits and net.feature_count(layer) == 1000 else None)
    content = sanity_html.write(FLAGS.out, pixels, report, paths, {
        **record, "images_folder": FLAGS.images, "size": FLAGS.size, "aspect": FLAGS.aspect,
        "preprocessing": net.preprocessing.name}, class_names)
    _print(content, FLAGS.out, started)


if __name__ == "__main__":
    _cli.run(main)
