"""What every command-line module shares: quiet start-up, quiet logging, one-line errors, the
common flags, progress bars, and building the network before its weights are loaded.

Import this module before anything that imports TensorFlow (the command-line modules do so
first). TensorFlow's C++ side prints start-up lines on every run (oneDNN notices, CUDA probing on
machines without a GPU) that its TF_CPP_MIN_LOG_LEVEL no longer silences; this module loads
TensorFlow with standard error captured and passes on every line but those known ones. With
`-v`/`--verbosity` on the command line, nothing is filtered.
"""
import contextlib
import functools
import os
import re
import sys
import tempfile

from absl import flags
from absl import logging

from deconv.errors import DeconvError
from deconv.io import images as image_files

_STARTUP_NOISE = re.compile(
    r"All log messages before absl::InitializeLog|oneDNN custom operations are on|"
    r"Could not find cuda drivers|failed call to cuInit|This TensorFlow binary is optimized|"
    r"To enable the following instructions|Unable to register cu(DNN|FFT|BLAS) factory|"
    r"TF-TRT Warning|computation placer already registered|cuda_platform|cudart_stub")


def _load_tensorflow_quietly():
    if "tensorflow" in sys.modules or any(
            arg == "-v" or arg.startswith(("--verbosity", "-v=")) for arg in sys.argv[1:]):
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # older TensorFlow releases honour it
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow as tf
            tf.config.list_physical_devices()  # device probing prints its lines now
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            for line in captured.read().decode(errors="replace").splitlines():
                if line.strip() and not _STARTUP_NOISE.search(line):
                    print(line, file=sys.stderr)


_load_tensorflow_quietly()


def one_line_errors(main):
    """Wraps an absl `main(argv)` so a `DeconvError` prints `prog: error: message` and exits 2.

    Logging shows warnings and errors unless `--verbosity` (`-v`) is given.
    """

    @functools.wraps(main)
    def wrapped(argv):
        if not flags.FLAGS["verbosity"].present:  # TensorFlow's INFO lines drown our output
            logging.set_verbosity(logging.WARNING)
        spec = getattr(sys.modules.get(main.__module__), "__spec__", None)
        prog = f"python -m {spec.name}" if spec else os.path.basename(sys.argv[0])
        try:
            return main(argv)
        except DeconvError as error:
            print(f"{prog}: error: {error}", file=sys.stderr)
            sys.exit(2)
        except KeyboardInterrupt:
            print(f"{prog}: interrupted. Files written so far are complete; a sweep resumes "
                  f"where it stopped when the same command is run again.", file=sys.stderr)
            sys.exit(130)

    return wrapped


def no_arguments(argv, hint):
    """Raises a one-line error if a command that takes only flags got positional arguments;
    `hint` says where that input goes instead."""
    if len(argv) > 1:
        raise DeconvError(f"Unexpected arguments: {' '.join(argv[1:])}; {hint}")


def one_image(argv, size, aspect, command):
    """Reads the single IMAGE argument of `python -m deconv.<command>`, resized to `size`.

    Returns:
      `(path, pixels)`.
    """
    if len(argv) != 2:
        raise DeconvError(f"Give one IMAGE, e.g. python -m deconv.{command} photo.jpg; see "
                          f"--help.")
    if size < 1:
        raise DeconvError(f"The image size must be at least 1; received {size}.")
    pixels, _, reason = image_files.read_image(argv[1], size, aspect)
    if reason is not None:
        raise DeconvError(f"Cannot read {argv[1]}: {reason}.")
    return argv[1], pixels


def _command_module():
    """The name absl files a command line's own flags under (its --help lists them)."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__") == __name__:
        frame = frame.f_back
    name = frame.f_globals.get("__name__") if frame is not None else None
    return sys.argv[0] if name in (None, "__main__") else name


def _define(kind, name, default, help_text, enum_values=None):
    """Defines a flag for the calling command line, unless one imported beside it did."""
    if name in flags.FLAGS:
        return
    module = _command_module()
    if kind == "enum":
        flags.DEFINE_enum(name, default, enum_values, help_text, module_name=module)
    else:
        getattr(flags, f"DEFINE_{kind}")(name, default, help_text, module_name=module)


def define_model_flags(model_help=None, rule=False):
    """--model, --weights, --seed, --preprocessing (and --rule): one meaning in every command."""
    from deconv.core import layers as deconv_layers  # here: TensorFlow must load quietly first
    from deconv.core import preprocessing
    _define("string", "model", "vgg19", model_help or "A Keras application (vgg19, vgg16, "
            "resnet50, resnet50v2, inceptionv3, xception, mobilenetv2, densenet121, "
            "efficientnetb0, convnexttiny, ...; any spelling) or the path of a .keras model "
            "(loaded with safe_mode).")
    _define("bool", "include_top", False, "Load the application with its classifier (its "
            "input size is then the one it was trained at; its softmax layer projects from the "
            "class logits).")
    _define("string", "weights", "imagenet", "imagenet: from pretrained/, Keras's cache or "
            "Keras's download (see pretrained/README.md); a weights file (.h5, .weights.h5, "
            "vgg19.npy); or random (an untrained network, seeded by --seed: smoke tests only).")
    _define("integer", "seed", 0, "Seed of --weights random.")
    _define("enum", "preprocessing", "auto", "Input preprocessing; auto: caffe (BGR, ImageNet "
            "mean) for vgg19/vgg16, none for a .keras model.",
            enum_values=["auto", *preprocessing.MODES])
    if rule:
        _define("enum", "rule", "deconvnet", "How ReLUs are reversed: deconvnet (the paper) or "
                "guided (guided backpropagation).", enum_values=list(deconv_layers.RELU_RULES))


def define_folder_flags():
    """--imtype, --size, --aspect, --batch_size, --progress: how a folder of images is read."""
    _define("string", "imtype", None, "Only files with these extensions, e.g. '.jpg' or "
            "'jpg,png'. Default: every type Pillow reads.")
    _define("integer", "size", 224, "Images are resized to size x size pixels (see --aspect).")
    _define("enum", "aspect", "stretch", "How a non-square image becomes size x size: stretch "
            "resizes both sides, changing the aspect ratio (as the TF1 deconvnet does); crop "
            "resizes the shorter side to --size and keeps the centre square.",
            enum_values=list(image_files.ASPECTS))
    _define("integer", "batch_size", 16, "Images per forward batch.")
    define_progress_flag()


def define_progress_flag():
    """--progress: a progress bar on standard error."""
    _define("bool", "progress", True, "Show a progress bar on stderr.")


class _AboveTheBar:
    """A stream for log records that prints them above tqdm's bar instead of through it."""

    def __init__(self, tqdm):
        self.tqdm = tqdm

    def write(self, text):
        if text.strip():
            self.tqdm.write(text.rstrip("\n"), file=sys.stderr)

    def flush(self):
        sys.stderr.flush()

    def close(self):
        """absl closes its stream at exit; standard error stays open."""


def new_bar(total, unit, desc=None):
    """A tqdm bar on standard error, with log records printed above it."""
    from tqdm import tqdm  # a dependency of the command lines only
    logging.get_absl_handler().python_handler.stream = _AboveTheBar(tqdm)
    return tqdm(total=total, unit=unit, desc=desc, file=sys.stderr, dynamic_ncols=True)


@contextlib.contextmanager
def progress_bar(enabled, total, unit):
    """Yields `update(done, total=None)`, which moves a progress bar on standard error to `done`
    (and its end to `total`), or None when `enabled` is False (--noprogress)."""
    if not enabled:
        yield None
        return
    bar = new_bar(total, unit)

    def update(done, total=None):
        if total is not None:
            bar.total = total
        bar.update(done - bar.n)

    try:
        yield update
    finally:
        bar.close()


def load_net(model, weights, seed=0, rule="deconvnet", preprocessing="auto", include_top=False):
    """Builds a `Deconvnet` now and defers loading large weights, so input can be checked first.

    Args:
      model: a Keras application's name (`"vgg19"`, `"resnet50"`, ...) or a `.keras` path.
      weights: `"imagenet"`, a weights file or `"random"` (seeded by `seed`).
      seed, rule, preprocessing, include_top: see `deconv.load_model` and `deconv.Deconvnet`.

    Returns:
      `(net, load)`: `load()` loads the weights (if not loaded yet), warns when they are random,
      and returns a JSON-ready identity of the model and weights (file paths with sizes and
      times, or the seed).
    """
    from deconv.core.deconvnet import Deconvnet  # here: TensorFlow must load quietly first
    from deconv.models import loading
    from deconv.models import weights as weight_files

    def warned(identity):
        if weights == "random":
            logging.warning("--weights random: the results show an untrained network.")
        return identity

    if model.endswith(".keras"):
        loaded = loading.load_model(model, weights=weights, seed=seed)
        identity = ["model", *weight_files.file_identity(model)]
        if weights == "random":
            identity += ["random", seed]
        elif weights != "imagenet":
            identity += weight_files.file_identity(weights)
        return Deconvnet(loaded, preprocessing, rule), lambda: warned(identity)
    random = weights == "random"
    loaded = loading.build(model, seed if random else None, include_top)
    net = Deconvnet(loaded, preprocessing, rule)
    if random:
        return net, lambda: warned([model, "random", seed])
    return net, lambda: [model, *weight_files.file_identity(
        loading.load_weights(loaded, model, weights, include_top))]
