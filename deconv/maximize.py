"""Activation maximization from the command line: the image each feature map (or class)
responds to most, with its quality measured.

    python -m deconv.maximize --feat conv4_4 --id 350
    python -m deconv.maximize --feat conv4_3 --id 0-15 --model vgg16 --weights my.weights.h5
    python -m deconv.maximize --feat conv4_4 --id 350 --init_size 56 --steps 20 --rounds 12 \
                              --factor 1.2 --lr 0.1 --blur 0.5 --seed 0 --out maximize
    python -m deconv.maximize --model efficientnet_lite0 --feat block5c_add --id 0-7 \
                              --param fourier --images examples/images
    python -m deconv.maximize --model efficientnet_lite0 --include_top --feat predictions \
                              --id 1,281 --param maco --judge efficientnet_lite2

--param pixel (the default): each map starts from a small gray image with faint noise, its
mean raised by gradient ascent (Adam) on the pixels, the image enlarged with a light blur
between rounds (Erhan et al. 2009; the schedule of the PyTorch VGG16 tools). --param fourier:
Lucid's decorrelated Fourier image under its robustness transformations (512 Adam steps of
0.05). --param maco: MACO's phase-only image, its magnitude a natural image's, seen through
random crops with noise (256 steps), with a transparency map. The objective: a conv map's
pre-ReLU mean (--nopre_relu: after the ReLU; --objective centre: its centre neuron;
--objective sum: one image for the weighted sum of the --id maps, --coefficients); on a
classifier's logits (--feat predictions --include_top), the class logit. --diversity N: N images
per map, pushed apart by the diversity term. All --id targets run together, as one batch.
Writes, in --out, {feat}_{id}.png per image, {feat}_grid.png and {feat}.json (settings, the
objective at the start and the end; with --images, each unit's activation against its
strongest natural activation over that folder; with --judge, each class's rank and probability
under that classifier). The same --seed gives the same pictures.
"""
import time

from absl import flags

from deconv import _cli  # first: quiets TensorFlow before it loads
from deconv import _net
from deconv.analysis import maximization
from deconv.analysis import maximization_files as files_lib
from deconv.analysis import maximization_objectives as objectives
from deconv.analysis import maximization_quality as quality
from deconv.analysis import maximization_steps as steps
from deconv.analysis import maximization_transforms as transforms
from deconv.core import map_ids
from deconv.core import names
from deconv.errors import DeconvError
from deconv.io import images as image_files
from deconv.io import outputs
from deconv.io import words

FLAGS = flags.FLAGS
flags.DEFINE_string("feat", None, "Layer: conv1_1 ... conv5_4, pool1 ... pool5, Keras names "
                    "such as block4_conv4, or a classifier's logits (predictions, with "
                    "--include_top).")
flags.DEFINE_list("id", None, "Feature maps (or classes) of --feat, comma-separated; ranges "
                  "allowed, e.g. 350 or 0-15,40. All are optimised together as one batch.")
flags.DEFINE_enum("param", "pixel", list(maximization.PARAMS), "How the image is made: pixel "
                  "(gradient ascent on growing, blurred pixels), fourier (Lucid's decorrelated "
                  "Fourier image, with --transforms) or maco (phase only, natural magnitude, "
                  "random crops with noise; writes transparency maps).")
_RANGES = maximization.RANGES
_cli.integer_flag("steps", None, "Adam steps: per round for pixel (default 20), in all for "
                  "fourier (512) and maco (256).", bounds=(1, steps.MAX_STEPS))
_cli.float_flag("lr", None, "Adam's step: for pixel in standard deviations of ImageNet pixels "
                "(default 0.1: about 6 of 255); fourier 0.05; maco 0.5.", bounds=_RANGES["lr"][:2])
_PIXEL = {"init_size": 56, "rounds": 12, "factor": 1.2, "blur": 0.5}
_cli.integer_flag("init_size", None, "pixel: side of the random start (default 56).",
                  bounds=_RANGES["init_size"][:2])
_cli.integer_flag("rounds", None, "pixel: rounds; the image is enlarged by --factor between "
                  "rounds (56 px, 12 rounds, 1.2: a 408 px result; default 12).",
                  bounds=_RANGES["rounds"][:2])
_cli.float_flag("factor", None, "pixel: enlargement between rounds (1: none; default 1.2).",
                bounds=_RANGES["factor"][:2])
_cli.float_flag("blur", None, "pixel: sigma, in pixels, of the Gaussian blur after each "
                "enlargement (0: none; default 0.5); it reaches 3 sigma, at most the image side "
                "minus one.", bounds=_RANGES["blur"][:2])
_cli.integer_flag("size", 224, "fourier and maco: the image's side.", bounds=(8, 2048))
flags.DEFINE_bool("transforms", True, "fourier and maco: the robustness transformations "
                  "(fourier: Lucid's pad, jitter, scale, rotate, jitter; maco: its crops and "
                  "noise); --notransforms: the network sees the image as it is.")
_cli.integer_flag("pad", 12, "fourier: gray border, in pixels.", bounds=(0, 512))
_cli.integer_flag("jitter", 8, "fourier: first jitter, in pixels.", bounds=(0, 512))
flags.DEFINE_list("scale", ["0.9", "1.1"], "fourier: the range of the random scaling.")
_cli.float_flag("rotate", 10.0, "fourier: the random rotation's range, +- degrees.",
                bounds=(0, 180))
_cli.integer_flag("jitter2", 4, "fourier: last jitter, in pixels.", bounds=(0, 512))
_cli.integer_flag("crops", 4, "maco: crops per image and step.", bounds=(1, 256))
flags.DEFINE_list("box", ["0.9", "0.4"], "maco: the crops' mean side, as a share of the "
                  "image's, at the first and the last step.")
_cli.float_flag("noise", 0.04, "maco: noise added to the crops (pixels in [0, 1]).",
                bounds=(0, 1))
flags.DEFINE_enum("objective", "mean", list(objectives.KINDS), "What is raised: a map's mean, "
                  "its centre neuron, or (sum) the weighted sum of the --id maps' means, in one "
                  "image. Logits: the class logit (or their sum).")
flags.DEFINE_list("coefficients", None, "--objective sum: one coefficient per --id map "
                  "(default 1 each).")
_cli.integer_flag("diversity", 1, "Images per map, pushed apart by the diversity term.",
                  bounds=(1, 64))
_cli.float_flag("diversity_weight", objectives.DIVERSITY_WEIGHT, "The diversity term's weight.",
                bounds=(0, 1e6))
flags.DEFINE_string("diversity_layer", None, "The layer whose Gram matrices the diversity "
                    "term compares (default: --feat, or the last maps before logits).")
flags.DEFINE_bool("pre_relu", True, "Raise a conv map before its ReLU, as the PyTorch tools "
                  "do (a map that is zero at the start still gets a gradient); --nopre_relu "
                  "raises the activation itself.")
_cli.integer_flag("batch_size", 0, "Maps per batch; 0: all together (lower it if memory runs "
                  "short: a VGG at 400 px takes about 0.5 GB per map).",
                  bounds=_RANGES["batch_size"][:2])
flags.DEFINE_string("images", None, "A folder of natural images: each unit's activation is "
                    "measured against its strongest natural activation there.")
_cli.integer_flag("image_size", 224, "--images are resized to this square.", bounds=(1, 4096))
flags.DEFINE_string("judge", None, "For classes: an independent ImageNet classifier (e.g. "
                    "efficientnet_lite2) whose rank and probability of each class are recorded.")
flags.DEFINE_string("out", "maximize", "Output folder.")
_cli.integer_flag("tile", 0, "Side of each tile of the grid, resized (bilinear); 0: the "
                  "images' own size, enlarged (nearest) to at least 128 px. The per-map PNGs "
                  "keep their size.", bounds=(0, 1024))
_cli.define_model_flags(seed_help="Seeds the random starts and transformations (and "
                        "--weights random).")
_cli.define_progress_flag()
_FOURIER = ("size", "transforms", "pad", "jitter", "scale", "rotate", "jitter2", "crops", "box",
            "noise")


def _numbers(name, count=2):
    try:
        found = tuple(float(value) for value in FLAGS[name].value)
    except ValueError:
        found = ()
    if len(found) != count:
        raise DeconvError(f"--{name} takes {count} numbers, e.g. --{name} "
                          f"{','.join(FLAGS[name].default)}; received {FLAGS[name].value}.")
    return found


def _refuse(flag_names, param):
    given = [f"--{name}" for name in flag_names if FLAGS[name].present]
    if given:
        raise DeconvError(f"{', '.join(given)} {'does' if len(given) == 1 else 'do'} not apply "
                          f"to --param {param}.")


def _schedule():
    """The `Schedule` or `Optimization` the flags ask for."""
    if FLAGS.param == "pixel":
        _refuse(_FOURIER, "pixel")
        chosen = {name: _PIXEL[name] if FLAGS[name].value is None else FLAGS[name].value
                  for name in _PIXEL}
        return maximization.Schedule(steps=20 if FLAGS.steps is None else FLAGS.steps,
                                     lr=0.1 if FLAGS.lr is None else FLAGS.lr,
                                     seed=FLAGS.seed, batch_size=FLAGS.batch_size or None,
                                     **chosen)
    _refuse(_PIXEL, FLAGS.param)
    _refuse(("crops", "box", "noise") if FLAGS.param == "fourier"
            else ("pad", "jitter", "scale", "rotate", "jitter2"), FLAGS.param)
    chosen = None
    if FLAGS.transforms and FLAGS.param == "fourier":
        chosen = transforms.Robustness(FLAGS.pad, FLAGS.jitter, _numbers("scale"), FLAGS.rotate,
                                       FLAGS.jitter2)
    elif FLAGS.transforms:
        chosen = transforms.Crops(FLAGS.crops, _numbers("box"), FLAGS.noise)
    return steps.Optimization(FLAGS.param, FLAGS.steps, FLAGS.lr, FLAGS.size, FLAGS.seed,
                              FLAGS.batch_size or None, chosen)


def _prepare(net, layer, features):
    """The maximizer, its schedule and `run`'s keywords, every setting checked (before the
    weights load), and the output files checked."""
    cls = (maximization.ActivationMaximizer if FLAGS.param == "pixel"
           else steps.FeatureVisualizer)
    maximizer = cls(net, layer, FLAGS.pre_relu, FLAGS.objective, FLAGS.diversity_layer)
    coefficients = (None if FLAGS.coefficients is None
                    else _numbers("coefficients", len(FLAGS.coefficients)))
    keywords = dict(copies=FLAGS.diversity, diversity_weight=FLAGS.diversity_weight,
                    coefficients=coefficients)
    schedule = _schedule()
    maximizer.check(features, schedule, FLAGS.diversity, coefficients)
    if isinstance(schedule, steps.Optimization):
        schedule = schedule.resolved()
    side = schedule.sizes[-1] if FLAGS.param == "pixel" else schedule.size
    count = (1 if maximizer.kind == "sum" else len(features)) * FLAGS.diversity
    files_lib.check_grid(count, side, FLAGS.tile)
    if maximizer.kind == "logit" and FLAGS.images:
        raise DeconvError("--images measures units against natural images; for classes, use "
                          "--judge.")
    if FLAGS.judge and maximizer.kind != "logit":
        raise DeconvError("--judge rates class visualizations: give a classifier's logits, e.g. "
                          "--feat predictions --include_top.")
    feat = names.short(layer)
    outputs.check_targets(files_lib.files(FLAGS.out, feat, features, FLAGS.diversity,
                                          maximizer.kind, FLAGS.param == "maco"))
    folder = (image_files.scan_folder(FLAGS.images, image_files.readable_extensions())
              if FLAGS.images else None)
    outputs.ensure_folder(FLAGS.out)
    return maximizer, schedule, keywords, folder


def _described(feat, record, result, schedule, maximizer):
    """The manifest's header: what ran, with which settings (a plain pixel run's as always)."""
    if FLAGS.param == "pixel":
        settings = {name: getattr(schedule, name) for name in (
            "init_size", "steps", "rounds", "factor", "lr", "blur", "seed")}
        settings["pre_relu"] = FLAGS.pre_relu
    else:
        settings = {"param": FLAGS.param, "steps": schedule.steps, "lr": schedule.lr,
                    "size": schedule.size, "seed": schedule.seed, "pre_relu": FLAGS.pre_relu,
                    "transforms": None if schedule.transforms is None else {
                        "kind": type(schedule.transforms).__name__.lower(),
                        **vars(schedule.transforms)}}
    extra = {name: FLAGS[name].value for name in ("objective", "coefficients", "diversity",
                                                  "diversity_weight", "images", "judge")
             if FLAGS[name].present}
    if FLAGS.diversity > 1:
        extra["diversity_layer"] = names.short(maximizer.diversity_layer)
    return {"layer": feat, **record, "objective": result.objective,
            "settings": {**settings, **extra}}


def _measure(net, layer, result, class_names, folder):
    """Each image's quality (--images: `folder`, `(paths, ignored)`; --judge), or None."""
    natural = judge = None
    if folder:
        paths, ignored = folder
        with _cli.progress_bar(FLAGS.progress, len(paths), "img") as update:
            natural, read, skipped = quality.natural_top(
                net, layer, paths, quality.reading_for(FLAGS.image_size), update)
        print(f"{FLAGS.images}: " + words.skip_summary(read, skipped, ignored))
    if FLAGS.judge:
        judge_net, load = _net.load_net(FLAGS.judge, "imagenet", include_top=True)
        load()
        judge = quality.Judge(judge_net, quality.judge_size(judge_net, FLAGS.judge),
                              FLAGS.judge)
    return quality.measure(net, layer, result, natural, judge, class_names)


def _summary(found):
    """The quality in a few words, for the closing line."""
    ratios = [q["ratio"] for q in found or [] if q.get("ratio") is not None]
    if ratios:
        return (f"; activation / natural top-1 from {min(ratios):.2f} to {max(ratios):.2f} "
                f"({sum(r >= 1 for r in ratios)} of {len(ratios)} at least 1)")
    if found and "rank" in found[0]:
        return (f"; {found[0]['judge']} ranks {sum(q['rank'] == 1 for q in found)} of "
                f"{len(found)} first, {sum(q['rank'] <= 5 for q in found)} in its top 5")
    return ""


def _sizes(result, schedule):
    if FLAGS.param == "pixel":
        return (f"{result.sizes[0]} to {result.sizes[-1]} px in "
                f"{words.plural(len(result.sizes), 'round')}")
    return f"{schedule.size} px in {schedule.steps} {FLAGS.param} steps"


@_cli.one_line_errors
def main(argv):
    _cli.no_arguments(argv, "the maps are chosen with --feat and --id.")
    if not FLAGS.feat:
        raise DeconvError("--feat is required, e.g. --feat conv4_4 --id 350; see --help.")
    started = time.perf_counter()
    net, load_weights = _net.load_net(FLAGS.model, FLAGS.weights, FLAGS.seed,
                                      preprocessing=FLAGS.preprocessing,
                                      include_top=FLAGS.include_top)
    layer = net.resolve(FLAGS.feat)
    feat = names.short(layer)
    if not FLAGS.id:
        raise DeconvError(f"--id is required: the maps of {feat} to show (0 to "
                          f"{net.feature_count(layer) - 1}), e.g. --id 350 or --id 0-15.")
    features = map_ids.parse(FLAGS.id, net.feature_count(layer), layer)
    maximizer, schedule, keywords, folder = _prepare(net, layer, features)
    class_names = quality.class_names(net, layer)
    record = load_weights()
    with _cli.progress_bar(FLAGS.progress, None, "step") as update:
        result = maximizer.run(features, schedule, update, **keywords)
    found = _measure(net, layer, result, class_names, folder)
    written, grid, summary = files_lib.write(
        FLAGS.out, feat, result, _described(feat, record, result, schedule, maximizer), FLAGS.tile,
        class_names, found)
    shown = ", ".join(written) if len(written) <= 3 else f"{len(written)} PNGs"
    count = (words.plural(len(features), "map") if result.copies == 1 and result.kind != "sum"
             else words.plural(len(result.images), "image"))
    print(f"{feat}: {count}, {_sizes(result, schedule)}, {result.objective} from "
          f"{result.start_values.mean():.3g} to {result.values.mean():.3g} on average"
          f"{_summary(found)}; {time.perf_counter() - started:.1f} s; wrote {shown}, {grid} "
          f"and {summary}")


if __name__ == "__main__":
    _cli.run(main)
