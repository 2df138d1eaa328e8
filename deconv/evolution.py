"""Feature evolution during training (Zeiler & Fergus 2014, figure 4) from the command line.

    python -m deconv.evolution --checkpoints ckpt/ --images data/train --feat conv5_3 \\
                               [--id 3,40-42 | --maps 8] --model vgg16 [--out evolution]
    python -m deconv.evolution --checkpoints a.weights.h5,b.weights.h5 --images DIR \\
                               --feat c1,c2 --model my_cnn.keras --preprocessing unit

For each checkpoint (a folder's weight files in natural order of their names, or a list), the
strongest activation of each chosen map across the images, projected and cropped to its
receptive field exactly as `python -m deconv.run --feat LAYER --id N --top 1` finds it with that
checkpoint's weights. Writes, per layer, {layer}_evolution_feat.png (reconstructions) and
{layer}_evolution_im.png (image patches), maps down and checkpoints across, labelled with the
checkpoint names, and {layer}_evolution.json (per map and checkpoint: image, position, value,
boxes). Without --id, each layer's --maps strongest maps at the last checkpoint are shown. A
classifier's .keras model is cut after the deepest --feat, so its head does not matter. Every
input and checkpoint is checked before any image is read.
"""
import os
import time

from absl import flags

from deconv import _cli  # first: quiets TensorFlow before it loads
from deconv.analysis import evolution
from deconv.analysis import evolution_pictures
from deconv.core import map_ids
from deconv.core import names
from deconv.core.deconvnet import Deconvnet
from deconv.errors import DeconvError
from deconv.io import images as image_files
from deconv.io import outputs
from deconv.io import render
from deconv.io import streaming
from deconv.models import checkpoints as checkpoint_files
from deconv.models import loading

FLAGS = flags.FLAGS
flags.DEFINE_string("checkpoints", None, "The checkpoints, one column each: a folder of weight "
                    "files (.weights.h5, .h5, .keras, .npy; natural order of their names) or a "
                    "comma-separated list of files in order.")
flags.DEFINE_string("images", None, "Folder of images the strongest activations are looked for "
                    "in (the training set, or part of it), searched recursively.")
flags.DEFINE_list("feat", None, "Layer(s) to look at, comma-separated: conv5_3, block5_conv3, or "
                  "a .keras model's own layer names. One pass per checkpoint serves them all.")
flags.DEFINE_list("id", None, "Feature maps (rows) of --feat, e.g. 3,40-42; only with one "
                  "layer. Default: the --maps strongest at the last checkpoint.")
_cli.integer_flag("maps", 8, "Without --id: how many of each layer's strongest maps (at the "
                  "last checkpoint) to show, strongest first.", bounds=(1, 4096))
_cli.define_model_flags(model_help="A Keras application (vgg19, resnet50, ...; any spelling) or a "
                        ".keras model (a classifier is fine: it is cut after the deepest "
                        "--feat); its weights are the checkpoints'.",
                        rule=True)
_cli.define_folder_flags()
flags.DEFINE_enum("normalize", "symmetric", render.NORMALISATIONS, "Display of reconstructions: "
                  "symmetric keeps zero at mid-gray; minmax stretches each to [0, 255].")
_cli.integer_flag("min_tile", 64, "Enlarge tiles smaller than this many pixels.")
_cli.define_crop_flag()
flags.DEFINE_string("out", "evolution", "Output folder.")


def _check_flags():
    for name in ("checkpoints", "images", "feat"):
        if not FLAGS[name].value:
            raise DeconvError(f"--{name} is required; see --help.")
    for name in ("weights", "seed"):
        if FLAGS[name].present:
            raise DeconvError(f"--{name}: the weights are the --checkpoints' (one column each).")
    if FLAGS.id and len(FLAGS.feat) > 1:
        raise DeconvError(f"--id names maps of one layer; --feat gives {len(FLAGS.feat)} "
                          f"({','.join(FLAGS.feat)}). Use one --feat, or --maps N.")


def _net():
    """The deconvnet of --model cut after the deepest --feat; weights come from checkpoints."""
    model = loading.load_model(FLAGS.model, weights=None,  # a .keras keeps its own until then
                               size=FLAGS.size)
    return Deconvnet(evolution.conv_part(model, FLAGS.feat), FLAGS.preprocessing, FLAGS.rule)


def _progress(bars):
    """A progress callback whose bar opens at the first image, once every input is checked."""
    def update(done, total):
        if not bars:
            bars.append(_cli.new_bar(total, "img"))
        bars[0].update(done - bars[0].n)
    return update


def _summary(result, written, seconds):
    lines = [f"{len(result.checkpoints)} checkpoints ({', '.join(result.checkpoints)}), "
             f"{result.counts['read']} images read, {result.counts['skipped']} skipped; "
             f"{seconds:.1f} s"]
    for layer, (paths, _, _) in written.items():
        maps = ",".join(str(feature) for feature in result.features[layer])
        lines.append(f"{names.short(layer)}: maps {maps}; wrote {', '.join(paths.values())}")
        lines += [f"note: {note}" for note in evolution_pictures.notes(result, layer)]
    return "\n".join(lines)


@_cli.one_line_errors
def main(argv):
    _cli.no_arguments(argv, "the images are given as a folder with --images; see --help.")
    started = time.perf_counter()
    _check_flags()
    net = _net()
    layers = [net.resolve(layer) for layer in FLAGS.feat]
    features = (map_ids.parse(FLAGS.id, net.feature_count(layers[0]), layers[0])
                if FLAGS.id else None)
    reading = streaming.Reading(FLAGS.size, FLAGS.aspect, FLAGS.batch_size)
    paths, ignored = image_files.scan_folder(FLAGS.images,
                                             image_files.parse_extensions(FLAGS.imtype))
    checkpoints = checkpoint_files.checkpoint_files(FLAGS.checkpoints)
    outputs.check_targets([os.path.join(FLAGS.out, name) for layer in layers
                           for name in evolution_pictures.file_names(layer).values()],
                          inputs=checkpoints)
    bars = []
    try:
        result = evolution.feature_evolution(
            net, layers, paths, checkpoints=checkpoints, features=features, maps=FLAGS.maps,
            reading=reading, normalize=FLAGS.normalize, min_tile=FLAGS.min_tile, crop=FLAGS.crop,
            progress=_progress(bars) if FLAGS.progress else None)
    finally:
        for bar in bars:
            bar.close()
    result.counts["ignored_by_extension"] = ignored
    described = {"model": FLAGS.model, "images": os.path.abspath(FLAGS.images),
                 "size": FLAGS.size, "aspect": FLAGS.aspect, "preprocessing":
                 net.preprocessing.name, "rule": FLAGS.rule, "normalize": FLAGS.normalize,
                 "crop": FLAGS.crop}
    written = evolution_pictures.write(FLAGS.out, result, described,
                                       [os.path.abspath(path) for path in checkpoints])
    print(_summary(result, written, time.perf_counter() - started))


if __name__ == "__main__":
    _cli.run(main)
