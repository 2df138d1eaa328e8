"""The commands' flags: parsed in our error style (one line, `prog: error: ...`, exit 2), every
number in a range (`deconv.limits`), and the flags several commands share, each with one meaning
and one help text everywhere.

A flag is filed under the command that defines it (its --help lists it), and defined once: a
command that imports another's flags keeps theirs.
"""
import os
import re
import sys

from absl import flags

from deconv import limits
from deconv._cli.signals import prog
from deconv.io import images as image_files
from deconv.io import tiles as tiles_lib

# The photos a clone ships in examples/images: the default --images of the commands.
EXAMPLE_IMAGES = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
    "examples", "images")


class _FiniteFloatParser(flags.FloatParser):
    """A float flag that refuses NaN and infinities as out of range."""

    def is_outside_bounds(self, val):
        return val != val or val in (float("inf"), float("-inf")) or super().is_outside_bounds(val)


def flag_problem(error):
    """The one-line message for an absl flags error: the flag, what is valid, what was given."""
    text = " ".join(str(error).split())
    unknown = re.match(r"Unknown command line flag '([^']+)'(.*)", text)
    if unknown:
        return f"Unknown flag --{unknown.group(1)}{unknown.group(2)}; see --help."
    found = re.match(r"flag --([\w-]+)=(.*?): (.*)$", text)
    if not found or found.group(1) not in flags.FLAGS:
        return text
    name, value = found.group(1), found.group(2)
    parser = flags.FLAGS[name].parser
    if isinstance(parser, flags.EnumParser):
        valid = f"one of {', '.join(parser.enum_values)}"
    elif isinstance(parser, (flags.IntegerParser, flags.FloatParser)) and (
            parser.lower_bound is not None and parser.upper_bound is not None):
        valid = limits.describe(parser.lower_bound, parser.upper_bound,
                                isinstance(parser, flags.IntegerParser))
    elif isinstance(parser, (flags.IntegerParser, flags.FloatParser)):
        valid = "an integer" if isinstance(parser, flags.IntegerParser) else "a finite number"
    else:
        return f"--{name} {value!r}: {found.group(3)}"
    return f"--{name} must be {valid}; received {value!r}."


def parse_flags(argv):
    """absl's flags parser with our error style: one line, `prog: error: ...`, exit 2."""
    try:
        return flags.FLAGS(argv)
    except flags.Error as error:
        print(f"{prog()}: error: {flag_problem(error)}", file=sys.stderr)
        sys.exit(2)


def _command_module():
    """The name absl files a command line's own flags under (its --help lists them)."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__") == __name__:
        frame = frame.f_back
    name = frame.f_globals.get("__name__") if frame is not None else None
    return sys.argv[0] if name in (None, "__main__") else name


def _define(kind, name, default, help_text, enum_values=None, bounds=None, **extra):
    """Defines a flag for the calling command line, unless one imported beside it did. Numbers
    get `bounds` (default: `limits.RANGES[name]`); floats also refuse NaN and infinities."""
    if name in flags.FLAGS:
        return
    module = _command_module()
    if kind == "enum":
        flags.DEFINE_enum(name, default, enum_values, help_text, module_name=module, **extra)
    elif kind == "integer":
        low, high = bounds or limits.RANGES[name]
        flags.DEFINE_integer(name, default, help_text, lower_bound=low, upper_bound=high,
                             module_name=module, **extra)
    elif kind == "float":
        flags.DEFINE(_FiniteFloatParser(*bounds), name, default, help_text,
                     serializer=flags.ArgumentSerializer(), module_name=module, **extra)
    else:
        getattr(flags, f"DEFINE_{kind}")(name, default, help_text, module_name=module, **extra)


def integer_flag(name, default, help_text, bounds=None, **extra):
    """An integer flag of the calling command, range-checked as it is parsed."""
    _define("integer", name, default, help_text, bounds=bounds, **extra)


def float_flag(name, default, help_text, bounds, **extra):
    """A float flag of the calling command: finite and inside `bounds`, checked as it is parsed."""
    _define("float", name, default, help_text, bounds=bounds, **extra)


def define_model_flags(model_help=None, rule=False, seed_help="Seed of --weights random."):
    """--model, --weights, --seed, --preprocessing (and --rule): one meaning in every command."""
    from deconv.core import preprocessing  # here: TensorFlow must load quietly first
    from deconv.core.rules.base import RELU_RULES
    _define("string", "model", "vgg19", model_help or "A Keras application (vgg19, resnet50, "
            "inceptionv3, mobilenetv2, efficientnetb0, convnexttiny, ...; any spelling), "
            "efficientnet_lite0/1/2, or the path of a .keras model (loaded with safe_mode).")
    _define("bool", "include_top", False, "Load the application with its classifier (its "
            "input size is then the one it was trained at; its softmax layer projects from the "
            "class logits).")
    _define("string", "weights", "imagenet", "imagenet: see pretrained/README.md; a weights "
            "file (.h5, .weights.h5, vgg19.npy, .pth); or random (an untrained network, seeded "
            "by --seed: smoke tests only).")
    _define("integer", "seed", 0, seed_help)
    _define("enum", "preprocessing", "auto", "Input preprocessing; auto: the application's own "
            "(caffe for VGG and ResNet, tf for Inception, Xception, MobileNet, ResNetV2, torch for "
            "DenseNet, EfficientNet-Lite, none where the model preprocesses inside), none for a "
            ".keras model.",
            enum_values=["auto", *preprocessing.SCHEMES])
    if rule:
        _define("enum", "rule", "deconvnet", "How ReLUs are reversed: deconvnet (the paper) or "
                "guided (guided backpropagation).", enum_values=list(RELU_RULES))


def define_folder_flags():
    """--imtype, --size, --aspect, --batch_size, --progress: how a folder of images is read."""
    _define("string", "imtype", None, "Only files with these extensions, e.g. '.jpg' or "
            "'jpg,png'. Default: every type Pillow reads.")
    _define("integer", "size", 224, "Images are resized to size x size pixels (see --aspect).")
    _define("enum", "aspect", "stretch", "How a non-square image becomes size x size: stretch "
            "resizes both sides, changing the aspect ratio (as the TF1 deconvnet does); crop "
            "resizes the shorter side to --size and keeps the centre square.",
            enum_values=list(image_files.ASPECTS))
    _define("integer", "batch_size", 16, "Images per forward batch (at most the number of "
            "images).")
    define_progress_flag()


def define_progress_flag():
    """--progress: a progress bar on standard error."""
    _define("bool", "progress", True, "Show a progress bar on stderr.")


def define_crop_flag():
    """--crop: what a projection's tile shows (`deconv.io.tiles`)."""
    _define("enum", "crop", "auto", tiles_lib.HELP, enum_values=list(tiles_lib.CROPS))


ENGINES = ("local", "beam")


def define_engine_flags():
    """--engine and --beam_options: which engine runs the passes over the images."""
    _define("enum", "engine", "local", "local: this process (the default); beam: an Apache "
            "Beam pipeline (pip install -e '.[beam]'), on the DirectRunner's local processes "
            "or a cluster's runner, chosen with --beam_options.", enum_values=list(ENGINES))
    _define("string", "beam_options", "", "With --engine beam: Beam's own pipeline options, "
            "e.g. '--runner=DirectRunner --direct_num_workers=2 "
            "--direct_running_mode=multi_processing' (the default, one process per core), "
            "'--runner=FlinkRunner --flink_master=HOST:8081 ...' or '--runner=DataflowRunner "
            "--project P --region R --temp_location gs://...'.")



def define_classifier_flags():
    """--classifier, --classifier_preprocessing and --classifier_weights: the classifier whose
    probabilities a command records with --classes (occlusion, invariance)."""
    from deconv.core import preprocessing  # here: TensorFlow must load quietly first
    _define("string", "classifier", None, "A .keras classifier (preprocessed images -> class "
            "probabilities) to use instead of the application's own.")
    _define("enum", "classifier_preprocessing", "auto", "The classifier's input "
            "preprocessing; auto: the model's (--preprocessing: the application's own, none "
            "for a .keras model).", enum_values=["auto", *preprocessing.SCHEMES])
    _define("string", "classifier_weights", None, "Weights of the application's classifier: "
            "imagenet (for VGG Keras's with-top file or a vgg19.npy), a file, or random; "
            "default: random with --weights random, else imagenet.")
