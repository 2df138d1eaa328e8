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
import sys
import time

from absl import app
from absl import flags
from absl import logging

from deconv import cli  # first: quiets TensorFlow before it loads
from deconv import class_maps
from deconv import class_plot
from deconv import images as image_files
from deconv import map_ids
from deconv import models
from deconv import names
from deconv import outputs
from deconv import overlays
from deconv import render
from deconv.errors import DeconvError

FLAGS = flags.FLAGS
flags.DEFINE_string("feat", None, "Layer: conv1_1 ... conv5_4, pool1 ... pool5, or Keras names "
                    "such as block5_conv4.")
flags.DEFINE_integer("top", 16, "One image: show its this many most activated maps (by mean).")
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
flags.DEFINE_float("alpha", 0.55, "Weight of the heat map in the blend (0-1).")
flags.DEFINE_integer("max_images", 36, "--images: at most this many images in the grid.")
flags.DEFINE_enum("order", "folder", ["folder", "strongest"], "--images: grid in folder order, "
                  "or the images with the largest mean of the (summed) map first.")
flags.DEFINE_bool("each", False, "--images: also write every image's overlay, one PNG each.")
cli.define_model_flags()
cli.define_folder_flags()


def _scale(default):
    return default if FLAGS.scale == "auto" else FLAGS.scale


def _label(features, summed=True):
    """The file-name part for maps `features`: `map12`, `sum3_12+40+41` (summed over images)
    or `maps12+40` (one tile each)."""
    shown = features if len(features) <= 6 else [*features[:3], "...", features[-1]]
    kind = "map" if len(features) == 1 else (f"sum{len(features)}_" if summed else "maps")
    return kind + "+".join(map(str, shown))


def _progress(total):
    if not FLAGS.progress:
        return None, None
    from tqdm import tqdm  # a dependency of the command line only
    bar = tqdm(total=total, unit="img", file=sys.stderr, dynamic_ncols=True)
    return bar, lambda done, _: bar.update(done - bar.n)


def one_image(net, layer, path, image, features):
    """Mode (a): one image's strongest (or chosen) maps; returns the files written."""
    feat = names.short(layer)
    found = overlays.top_maps(net, image, layer, FLAGS.top, features)
    captions = [f"map {f}: mean {m:.3g}" for f, m in zip(found.features, found.means)]
    scale = _scale("each")
    title = (f"{feat}: {'top ' + str(FLAGS.top) if features is None else 'chosen'} maps, "
             + ("each coloured from 0 to its maximum" if scale == "each" else "activation"))
    picture = overlays.overlay_grid(image, found.heats, captions, FLAGS.alpha, scale, title,
                                    first=image)
    stem = os.path.splitext(os.path.basename(path))[0]
    what = f"top{FLAGS.top}" if features is None else _label(features, summed=False)
    out = os.path.join(FLAGS.out, f"{stem}_{feat}_{what}")
    outputs.write_png(f"{out}.png", picture)
    outputs.write_json(f"{out}.json", {
        "image": path, "layer": feat, "size": FLAGS.size, "scale": scale,
        "maps": [{"map": int(f), "mean": float(m), "max": float(x)}
                 for f, m, x in zip(found.features, found.means, found.maxima)]})
    return [f"{out}.png", f"{out}.json"]


def _overlay_of(net, layer, path, low_res):
    """Re-reads one image; returns `(pixels, heat)` with the map upsampled to it, each cell at
    its true centre."""
    pixels = image_files.read_image(path, FLAGS.size, FLAGS.aspect)[0]
    return pixels, overlays.to_image(net, layer, low_res, pixels.shape[:2])


def _write_each(net, layer, folder, paths, found, bounds):
    for position in range(len(found.numbers)):
        path = paths[found.numbers[position]]
        pixels, heat = _overlay_of(net, layer, path, found.sums[position])
        low, high = bounds if bounds else overlays.colour_range(heat[None], "each")[0]
        name = os.path.splitext(os.path.basename(path))[0]
        outputs.write_png(os.path.join(folder, f"{position:05d}_{name}.png"),
                          render.overlay(pixels, heat, FLAGS.alpha, low, high))


def many_images(net, layer, paths, features):
    """Modes (b) and (c): one map, or the sum of several, over a folder; returns the files."""
    feat = names.short(layer)
    bar, update = _progress(len(paths))
    try:
        found = overlays.stream_map_sums(net, layer, features, paths, FLAGS.size, FLAGS.aspect,
                                         FLAGS.batch_size, update)
    finally:
        if bar is not None:
            bar.close()
    if not len(found.numbers):
        raise DeconvError(f"No image of {FLAGS.images} could be read; e.g. "
                          f"{found.skipped[0][0]}: {found.skipped[0][1]}.")
    shown = found.order(FLAGS.order == "strongest")[:FLAGS.max_images]
    scale = _scale("shared")
    # One colour range over every image read, so the grid and --each files compare.
    bounds = overlays.colour_range(found.sums, "shared")[0] if scale == "shared" else None
    pixels, heats = zip(*(_overlay_of(net, layer, paths[found.numbers[p]], found.sums[p])
                          for p in shown))
    captions = [f"{os.path.basename(paths[found.numbers[p]])[:18]}: {found.sums[p].mean():.3g}"
                for p in shown]
    title = f"{feat} " + (f"map {features[0]}" if len(features) == 1 else
                          f"sum of {len(features)} maps")
    out = os.path.join(FLAGS.out, f"{feat}_{_label(features)}")
    outputs.write_png(f"{out}.png", overlays.overlay_grid(
        pixels, heats, captions, FLAGS.alpha, scale, title, bounds=bounds))
    outputs.write_json(f"{out}.json", {
        "images": FLAGS.images, "layer": feat, "maps": features, "size": FLAGS.size,
        "order": FLAGS.order, "scale": scale, "shown": [paths[found.numbers[p]] for p in shown],
        "per_image": [{"path": paths[n], "mean": float(s.mean()), "max": float(s.max())}
                      for n, s in zip(found.numbers, found.sums)],
        "skipped": [{"path": p, "reason": r} for p, r in found.skipped]})
    written = [f"{out}.png", f"{out}.json"]
    if FLAGS.each:
        _write_each(net, layer, out, paths, found, bounds)
        written.append(f"{len(found.numbers)} PNGs in {out}/")
    return written


def class_scores(net, layer, identity):
    """Mode (d): each class's maps scored in every image, one plot; returns the files."""
    plot = FLAGS.plot or os.path.join(FLAGS.out, f"{names.short(layer)}_class_scores.png")
    extensions = image_files.parse_extensions(FLAGS.imtype)
    bar, update = _progress(len(class_maps.scan_classes(FLAGS.images, extensions).paths))
    try:
        scores = class_plot.class_scores(net, layer, class_maps.load(FLAGS.class_maps),
                                         FLAGS.images, FLAGS.size, FLAGS.aspect,
                                         FLAGS.batch_size, extensions, update)
    finally:
        if bar is not None:
            bar.close()
    class_plot.plot(plot, scores)
    data = f"{os.path.splitext(plot)[0]}.json"
    outputs.write_json(data, class_plot.to_json(scores, images=FLAGS.images,
                                                class_maps=FLAGS.class_maps, weights=identity))
    return [plot, data]


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
    for name, good, valid in (("alpha", 0 <= FLAGS.alpha <= 1, "in [0, 1]"),
                              ("max_images", FLAGS.max_images >= 1, "at least 1"),
                              ("size", FLAGS.size >= 1, "at least 1"),
                              ("batch_size", FLAGS.batch_size >= 1, "at least 1")):
        if not good:
            raise DeconvError(f"--{name} must be {valid}; received {FLAGS[name].value}.")


def _check_plot(net, layer):
    """Checks mode (d)'s inputs before weights are loaded."""
    maps = class_maps.load(FLAGS.class_maps)
    class_plot.check_maps(maps, net.feature_count(layer), layer, FLAGS.class_maps)
    class_maps.scan_classes(FLAGS.images, image_files.parse_extensions(FLAGS.imtype))
    class_plot.require_matplotlib()  # fails now, not after the pass
    if FLAGS.plot:
        outputs.ensure_folder(os.path.dirname(os.path.abspath(FLAGS.plot)))


@cli.one_line_errors
def main(argv):
    _check(argv)
    started = time.perf_counter()
    image = None
    if len(argv) == 2:
        image, _, reason = image_files.read_image(argv[1], FLAGS.size, FLAGS.aspect)
        if reason is not None:
            raise DeconvError(f"Cannot read {argv[1]}: {reason}.")
    net, load_weights = models.deferred_net(FLAGS.model, FLAGS.weights, FLAGS.seed,
                                            preprocessing=FLAGS.preprocessing)
    layer = net.resolve(FLAGS.feat)
    class_maps.check_image_size(net, layer, FLAGS.size)
    features = map_ids.parse(FLAGS.id, net.feature_count(layer), layer) if FLAGS.id else None
    if image is None and features is None:
        _check_plot(net, layer)
    elif image is None:
        paths = image_files.find_images(FLAGS.images, image_files.parse_extensions(FLAGS.imtype))
    elif features is None and not 1 <= FLAGS.top <= net.feature_count(layer):
        raise DeconvError(f"--top must be from 1 to {net.feature_count(layer)} (the maps of "
                          f"{names.short(layer)}); received {FLAGS.top}.")
    if image is not None or features is not None or not FLAGS.plot:
        outputs.ensure_folder(FLAGS.out)
    identity = load_weights()
    if FLAGS.weights == "random":
        logging.warning("--weights random: the results show an untrained network.")
    if image is not None:
        written = one_image(net, layer, argv[1], image, features)
    elif features is not None:
        written = many_images(net, layer, paths, features)
    else:
        written = class_scores(net, layer, identity)
    print(f"{time.perf_counter() - started:.1f} s; wrote {', '.join(written)}")


if __name__ == "__main__":
    app.run(main)
