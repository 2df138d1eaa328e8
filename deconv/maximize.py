"""Activation maximization from the command line: the image each feature map responds to most.

    python -m deconv.maximize --feat conv4_4 --id 350
    python -m deconv.maximize --feat conv4_3 --id 0-15 --model vgg16 --weights my.weights.h5
    python -m deconv.maximize --feat conv4_4 --id 350 --init_size 56 --steps 20 --rounds 12 \
                              --factor 1.2 --lr 0.1 --blur 0.5 --seed 0 --out maximize

Starts each map from a small gray image with faint noise, raises the map's mean by gradient
ascent (Adam), and enlarges the image with a light blur between rounds (Erhan et al. 2009; the
schedule of the PyTorch VGG16 tools). The objective is the pre-ReLU mean: the mean of a conv
map before its ReLU (--nopre_relu: the mean activation, after it). All --id maps are optimised
together, as one batch. Writes, in --out, {feat}_{id}.png per map, {feat}_grid.png (all maps,
each labelled with its final pre-ReLU mean) and {feat}.json (settings, the objective's name, its
value at the start and the end per map). The same --seed gives the same pictures.
"""
import time

from absl import flags

from deconv import _cli  # first: quiets TensorFlow before it loads
from deconv.analysis import maximization
from deconv.core import map_ids
from deconv.core import names
from deconv.errors import DeconvError
from deconv.io import outputs
from deconv.io import words

FLAGS = flags.FLAGS
flags.DEFINE_string("feat", None, "Layer: conv1_1 ... conv5_4, pool1 ... pool5, or Keras names "
                    "such as block4_conv4.")
flags.DEFINE_list("id", None, "Feature maps of --feat, comma-separated; ranges allowed, e.g. "
                  "350 or 0-15,40. All are optimised together as one batch.")
_RANGES = maximization.RANGES
_cli.integer_flag("init_size", 56, "Side of the random start, in pixels.",
                  bounds=_RANGES["init_size"][:2])
_cli.integer_flag("steps", 20, "Gradient-ascent (Adam) steps per round.",
                  bounds=_RANGES["steps"][:2])
_cli.integer_flag("rounds", 12, "Rounds; the image is enlarged by --factor between rounds "
                  "(56 px, 12 rounds, 1.2: a 408 px result).", bounds=_RANGES["rounds"][:2])
_cli.float_flag("factor", 1.2, "Enlargement between rounds (1: none).",
                bounds=_RANGES["factor"][:2])
_cli.float_flag("lr", 0.1, "Adam's step, in standard deviations of ImageNet pixels (0.1: "
                "about 6 of 255 per step).", bounds=_RANGES["lr"][:2])
_cli.float_flag("blur", 0.5, "Sigma, in pixels, of the Gaussian blur after each enlargement "
                "(0: none); it reaches 3 sigma, at most the image side minus one.",
                bounds=_RANGES["blur"][:2])
flags.DEFINE_bool("pre_relu", True, "Raise a conv map's pre-ReLU mean (before its ReLU), as "
                  "the PyTorch tools do (a map that is zero at the start still gets a gradient); "
                  "--nopre_relu raises the mean activation itself.")
_cli.integer_flag("batch_size", 0, "Maps per batch; 0: all together (lower it if memory runs "
                  "short: a VGG at 400 px takes about 0.5 GB per map).",
                  bounds=_RANGES["batch_size"][:2])
flags.DEFINE_string("out", "maximize", "Output folder.")
_cli.integer_flag("tile", 0, "Side of each tile of the grid, resized (bilinear); 0: the "
                  "images' own size, enlarged (nearest) to at least 128 px. The per-map PNGs "
                  "keep their size.", bounds=(0, 1024))
_cli.define_model_flags(seed_help="Seeds the random starts (and --weights random).")
_cli.define_progress_flag()


def _schedule():
    return maximization.Schedule(FLAGS.init_size, FLAGS.steps, FLAGS.rounds, FLAGS.factor,
                                 FLAGS.lr, FLAGS.blur, FLAGS.seed, FLAGS.batch_size or None)


@_cli.one_line_errors
def main(argv):
    _cli.no_arguments(argv, "the maps are chosen with --feat and --id.")
    if not FLAGS.feat:
        raise DeconvError("--feat is required, e.g. --feat conv4_4 --id 350; see --help.")
    started = time.perf_counter()
    net, load_weights = _cli.load_net(FLAGS.model, FLAGS.weights, FLAGS.seed,
                                      preprocessing=FLAGS.preprocessing,
                                      include_top=FLAGS.include_top)
    layer = net.resolve(FLAGS.feat)
    feat = names.short(layer)
    if not FLAGS.id:
        raise DeconvError(f"--id is required: the maps of {feat} to show (0 to "
                          f"{net.feature_count(layer) - 1}), e.g. --id 350 or --id 0-15.")
    features = map_ids.parse(FLAGS.id, net.feature_count(layer), layer)
    maximizer = maximization.ActivationMaximizer(net, layer, FLAGS.pre_relu)
    schedule = _schedule()
    maximizer.check(features, schedule)
    maximization.check_grid(len(features), schedule, FLAGS.tile)
    outputs.check_targets(maximization.files(FLAGS.out, feat, features))
    outputs.ensure_folder(FLAGS.out)
    record = load_weights()
    with _cli.progress_bar(FLAGS.progress, FLAGS.rounds * FLAGS.steps, "step") as update:
        result = maximizer.run(features, schedule, update)
    settings = ("init_size", "steps", "rounds", "factor", "lr", "blur", "seed", "pre_relu")
    written, grid, summary = maximization.write(FLAGS.out, feat, result, {
        "layer": feat, **record, "objective": result.objective,
        "settings": {name: FLAGS[name].value for name in settings}}, FLAGS.tile)
    files = ", ".join(written) if len(written) <= 3 else f"{len(written)} PNGs"
    print(f"{feat}: {words.plural(len(features), 'map')}, {result.sizes[0]} to "
          f"{result.sizes[-1]} px in {words.plural(len(result.sizes), 'round')}, "
          f"{result.objective} from "
          f"{result.start_values.mean():.3g} to {result.values.mean():.3g} on average; "
          f"{time.perf_counter() - started:.1f} s; wrote {files}, {grid} and {summary}")


if __name__ == "__main__":
    _cli.run(main)
