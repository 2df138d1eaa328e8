"""Ranges of feature maps and activations of one image, as featuremap-InSights shows them.

    python -m deconv.visualize IMAGE -m 0.2 -a 9        # IMAGE mode: visualize/NAME.png
    python -m deconv.visualize IMAGE -g --out DIR       # GIF mode: DIR/NAME_<layer>.gif

NAME is the image's name; the files go in the --out folder.

IMAGE mode: for every conv layer, the -m strongest maps (ranked by their maximum activation) and
in each the -a strongest activations are projected together; one grid shows all layers. GIF
mode: per layer, frames from the single strongest map to all maps, in order of max activation.
For -m and -a, an integer from 1 to 1,000,000 is a count (capped at what there is), a number
in (0, 1) a fraction (rounded half up, at least 1: -a 0.5 keeps 3 of 5 and 4 of 7); anything
else is refused.
"""
import math
import os
import sys

from absl import flags

from deconv import _cli  # first: quiets TensorFlow before it loads
from deconv import _net
from deconv.analysis import ranges
from deconv.core import names
from deconv.errors import DeconvError
from deconv.io import images as image_files
from deconv.io import outputs
from deconv.io import render
from deconv.io import words

FLAGS = flags.FLAGS
flags.DEFINE_string("out", "visualize", "Output folder: <image name>.png and .json, or "
                    "<image name>_<layer>.gif, go there.")
flags.DEFINE_string("maps", "1", "Maps kept per layer: a count >= 1 or a fraction in (0, 1) "
                    "of the layer's maps (rounded half up, at least 1).", short_name="m")
flags.DEFINE_string("activations", "1", "Activations kept per map: a count >= 1 or a fraction "
                    "in (0, 1) of the map's activations (rounded half up, at least 1).",
                    short_name="a")
flags.DEFINE_bool("gif", False, "GIF mode: per layer, frames from the strongest map to all.",
                  short_name="g")
_cli.integer_flag("frames", 24, "GIF mode: at most this many frames per layer (maps are added "
                  "1, 2, 3, ... then geometrically; as many frames as maps: every count).",
                  bounds=(1, 1_000_000))
_cli.integer_flag("duration", 300, "GIF mode: milliseconds per frame.", bounds=(1, 655_350))
flags.DEFINE_list("layers", None, "Layers to show; default: every conv layer.")
_cli.define_model_flags(rule=True)
_cli.integer_flag("size", 224, "The image is resized to size x size, as featuremap-InSights "
                  "does.")
flags.DEFINE_enum("aspect", "stretch", image_files.ASPECTS, "How the image becomes square.")
flags.DEFINE_enum("normalize", "symmetric", render.NORMALISATIONS, "Display normalisation.")
_cli.define_progress_flag()


MAX_COUNT = 1_000_000


def count_rule(text, flag="--maps"):
    """Parses -m / -a: an integer from 1 to `MAX_COUNT` (a count) or a number in (0, 1) (a
    fraction).

    Raises:
      DeconvError: anything else (NaN, 0, negative, 2.5, words), naming `flag`.
    """
    try:
        value = float(text)
    except (TypeError, ValueError):
        value = math.nan
    if 1 <= value <= MAX_COUNT and value.is_integer():
        return int(value)
    if 0 < value < 1:
        return value
    raise DeconvError(f"{flag} must be a count (an integer from 1 to {MAX_COUNT:,}) or a "
                      f"fraction (a number between 0 and 1); received {text!r}.")


@_cli.one_line_errors
def main(argv):
    maps, activations = count_rule(FLAGS.maps, "--maps"), count_rule(FLAGS.activations,
                                                                       "--activations")
    path, image = _cli.one_image(argv, FLAGS.size, FLAGS.aspect, "visualize")
    out = os.path.join(FLAGS.out, os.path.splitext(os.path.basename(path))[0])
    net, load_weights = _net.load_net(FLAGS.model, FLAGS.weights, FLAGS.seed, FLAGS.rule,
                                      FLAGS.preprocessing, FLAGS.include_top, FLAGS.size)
    layers = ([net.check_projectable(layer) for layer in FLAGS.layers] if FLAGS.layers
              else net.projectable(net.conv_layers))
    _net.warn_if_image_independent(net, layers)
    outputs.check_targets([f"{out}_{names.short(layer)}.gif" for layer in layers]
                          if FLAGS.gif else [f"{out}.png", f"{out}.json"], inputs=[path])
    record = load_weights()
    outputs.ensure_folder(FLAGS.out)
    if FLAGS.gif:
        written = []
        with _cli.progress_bar(FLAGS.progress, len(layers), "layer") as update:
            for layer in layers:
                frames = ranges.layer_frames(net, layer, image, frames=FLAGS.frames,
                                             normalize=FLAGS.normalize)
                written.append(f"{out}_{names.short(layer)}.gif")
                ranges.write_gif(written[-1], frames, FLAGS.duration)
                print(f"{written[-1]}: {words.plural(len(frames), 'frame')}", file=sys.stderr)
                if update:
                    update(len(written))
        print(f"wrote {words.plural(len(written), 'GIF')}: {', '.join(written)}")
        return
    results = []
    with _cli.progress_bar(FLAGS.progress, len(layers), "layer") as update:
        for layer in layers:
            results += ranges.layer_ranges(net, [layer], image, maps=maps,
                                           activations=activations)
            if update:
                update(len(results))
    written = ranges.write_ranges(out, image, results, {
        "image": path, "maps": FLAGS.maps, "activations": FLAGS.activations, **record},
        FLAGS.normalize)
    print(f"wrote {' and '.join(written)}")


if __name__ == "__main__":
    _cli.run(main)
