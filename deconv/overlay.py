"""Activation overlays from the command line: feature maps as heat maps over the images.

    python -m deconv.overlay IMAGE --feat conv5_4 --top 16          # its 16 strongest maps
    python -m deconv.overlay IMAGE --feat conv5_4 --id 12,40        # chosen maps of one image
    python -m deconv.overlay --images DIR --feat conv5_4 --id 12    # one map over many images
    python -m deconv.overlay --images DIR --feat conv5_4 --id 12,40,41   # their sum
    python -m deconv.overlay --images DIR --feat conv5_4 --class_maps classwise.json \
                             --plot class_scores.png               # per class, over all images

Maps are upsampled bilinearly to the image, each cell at the centre of its receptive field, and
blended over it (viridis). One image: a grid of
the image and one tile per map, each captioned with the map's mean activation. Many images: one
streaming pass; a grid of --max_images images (in folder order, or --order strongest) with one
colour scale and its bar; --each also writes every image's overlay. With --class_maps (from
python -m deconv.classwise): per class, the summed mean activation of its maps in every image,
one line per class (needs matplotlib). Every picture has a JSON of its numbers beside it.
"""
import os
import time

from absl import flags

from deconv import _cli  # first: quiets TensorFlow before it loads
from deconv import _net
from deconv import limits
from deconv.analysis import class_maps
from deconv.analysis import class_plot
from deconv.analysis import overlay_pictures
from deconv.analysis import overlays
from deconv.core import map_ids
from deconv.core import names
from deconv.errors import DeconvError
from deconv.io import images as image_files
from deconv.io import outputs
from deconv.io import streaming
from deconv.io import words

FLAGS = flags.FLAGS
flags.DEFINE_string("feat", None, "Layer: conv1_1 ... conv5_4, pool1 ... pool5, or Keras names "
                    "such as block5_conv4.")
_cli.integer_flag("top", 16, "One image: show its this many most activated maps (by mean).",
                  bounds=(1, 4096))
flags.DEFINE_list("id", None, "Maps to show (one image) or to sum over the images (--images), "
                  "comma-separated; ranges allowed, e.g. 12 or 12,40-42.")
flags.DEFINE_string("images", None, "A folder of images (searched recursively), instead of one "
                    "IMAGE.")
flags.DEFINE_string("class_maps", None, "With --images: a {class: [map ids]} JSON (python -m "
                    "deconv.classwise) whose maps are scored in every image and plotted.")
flags.DEFINE_string("plot", None, "Where the class plot goes; default: "
                    "<out>/<feat>_class_scores.png.")
flags.DEFINE_string("out", "overlays", "Output folder.")
flags.DEFINE_enum("scale", "auto", ["auto", *overlays.SCALES], "Colours: each tile spans the "
                  "whole colour map, or one shared range with a colour bar; auto: each for one "
                  "image's maps, shared across images.")
_cli.float_flag("alpha", 0.55, "Weight of the heat map in the blend (0-1).", bounds=(0, 1))
_cli.integer_flag("max_images", 36, "--images: at most this many images in the grid.",
                  bounds=(1, 1000))
flags.DEFINE_enum("order", "folder", ["folder", "strongest"], "--images: grid in folder order, "
                  "or the images with the largest mean of the (summed) map first.")
flags.DEFINE_bool("each", False, "--images: also write every image's overlay, one PNG each.")
_cli.define_model_flags()
_cli.define_folder_flags()


def _check(argv):
    if len(argv) > 2:
        raise DeconvError(f"Give at most one IMAGE; received {len(argv) - 1}: "
                          f"{' '.join(argv[1:])}. For many images use --images DIR.")
    if (len(argv) == 2) == bool(FLAGS.images):
        raise DeconvError("Give either one IMAGE or --images DIR (with --id or --class_maps); "
                          "see --help.")
    if not FLAGS.feat:
        raise DeconvError("--feat is required, e.g. --feat conv5_4; see --help.")
    if FLAGS.images and not FLAGS.id and not FLAGS.class_maps:
        raise DeconvError("--images needs --id (the maps shown, summed if several) or "
                          "--class_maps (a classwise JSON to plot).")
    if FLAGS.images and FLAGS.id and FLAGS.class_maps:
        raise DeconvError("Give --id or --class_maps with --images, not both.")
    if (FLAGS.class_maps or FLAGS.plot) and not FLAGS.images:
        raise DeconvError("--class_maps and --plot need --images DIR (a folder of class "
                          "sub-folders).")


def _plot_path(layer):
    return FLAGS.plot or os.path.join(FLAGS.out, f"{names.short(layer)}_class_scores.png")


def _check_plot(net, layer):
    """Checks mode (d)'s inputs before weights are loaded; returns the folder's `ClassFolder`."""
    _net.input_file(FLAGS.class_maps, "a {class: [map ids]} JSON file", "--class_maps")
    maps = class_maps.load(FLAGS.class_maps)
    class_maps.check_maps(maps, net.feature_count(layer), layer, FLAGS.class_maps)
    folder = class_maps.scan_classes(FLAGS.images, image_files.parse_extensions(FLAGS.imtype))
    class_plot.require_matplotlib()  # fails now, not after the pass
    plot = _plot_path(layer)
    outputs.check_targets([plot, f"{os.path.splitext(plot)[0]}.json"],
                          inputs=[FLAGS.class_maps], named=bool(FLAGS.plot))
    if FLAGS.plot:
        outputs.ensure_folder(os.path.dirname(os.path.abspath(FLAGS.plot)), mark=False)
    return folder


def _check_pictures(net, layer, features, count):
    """Checks that the pictures of this mode are not too large, before any work."""
    if count is None:  # (a): the image, then one tile per map
        tiles = 1 + (len(features) if features is not None else FLAGS.top)
        limits.check_picture(tiles, FLAGS.size, "The overlay picture (lower --top or --size)")
        return
    streaming.Reading(FLAGS.size, FLAGS.aspect, FLAGS.batch_size).for_count(count)
    if features is not None:  # (b), (c): a grid of the images
        limits.check_picture(min(FLAGS.max_images, count), FLAGS.size,
                             "The grid (lower --max_images or --size)")


def _write(net, layer, argv, image, features, paths, record):
    """Runs the mode the flags chose; returns the files written and, with --images, the
    `(images read, files skipped)`."""
    reading = streaming.Reading(FLAGS.size, FLAGS.aspect, FLAGS.batch_size)
    style = overlay_pictures.Style(FLAGS.alpha, FLAGS.scale)
    if image is not None:  # (a)
        return overlay_pictures.image_maps(net, layer, argv[1], image, FLAGS.out, top=FLAGS.top,
                                           features=features, style=style,
                                           described=record), None
    extensions = image_files.parse_extensions(FLAGS.imtype)
    with _cli.progress_bar(FLAGS.progress, len(paths), "img") as update:
        if features is not None:  # (b) and (c)
            grid = overlay_pictures.FolderGrid(FLAGS.max_images, FLAGS.order == "strongest",
                                               FLAGS.each)
            written, found = overlay_pictures.folder_maps(
                net, layer, paths, FLAGS.out, features=features, root=FLAGS.images,
                reading=reading, style=style, grid=grid, progress=update, described=record)
            return written, (len(found.numbers), found.skipped)
        written, scores = overlay_pictures.class_scores_plot(  # (d)
            net, layer, FLAGS.images, _plot_path(layer), maps=class_maps.load(FLAGS.class_maps),
            described={"images": FLAGS.images, "class_maps": FLAGS.class_maps, **record},
            reading=reading, extensions=extensions, progress=update)
        return written, (len(scores.paths), scores.skipped)


@_cli.one_line_errors
def main(argv):
    _check(argv)
    started = time.perf_counter()
    image = None
    if len(argv) == 2:
        image, _, reason = image_files.read_image(argv[1], FLAGS.size, FLAGS.aspect)
        if reason is not None:
            raise DeconvError(f"Cannot read {argv[1]}: {reason}.")
    net, load_weights = _net.load_net(FLAGS.model, FLAGS.weights, FLAGS.seed,
                                      preprocessing=FLAGS.preprocessing,
                                      include_top=FLAGS.include_top, size=FLAGS.size)
    layer = overlays.maps_layer(net, FLAGS.feat)
    class_maps.check_image_size(net, layer, FLAGS.size)
    features = map_ids.parse(FLAGS.id, net.feature_count(layer), layer) if FLAGS.id else None
    paths = ignored = None
    if image is None and features is None:
        folder = _check_plot(net, layer)
        paths, ignored = folder.paths, folder.ignored
    elif image is None:
        paths, ignored = image_files.scan_folder(
            FLAGS.images, image_files.parse_extensions(FLAGS.imtype), exclude=[FLAGS.out])
    elif features is None and not 1 <= FLAGS.top <= net.feature_count(layer):
        raise DeconvError(f"--top must be from 1 to {net.feature_count(layer)} (the maps of "
                          f"{names.short(layer)}); received {FLAGS.top}.")
    _check_pictures(net, layer, features, None if paths is None else len(paths))
    if image is not None or features is not None:
        feat = names.short(layer)
        prefix = (overlay_pictures.image_maps_prefix(FLAGS.out, argv[1], feat, FLAGS.top,
                                                     features) if image is not None
                  else overlay_pictures.folder_maps_prefix(FLAGS.out, feat, features))
        outputs.check_targets([f"{prefix}.png", f"{prefix}.json"], inputs=argv[1:])
    if image is not None or features is not None or not FLAGS.plot:
        outputs.ensure_folder(FLAGS.out)
    record = load_weights()
    written, counts = _write(net, layer, argv, image, features, paths, record)
    if counts is not None:
        print(f"{FLAGS.images}: {words.skip_summary(*counts, ignored)}")
    print(f"{time.perf_counter() - started:.1f} s; wrote {', '.join(written)}")


if __name__ == "__main__":
    _cli.run(main)
