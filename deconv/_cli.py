"""What every command-line module shares: quiet start-up, one-line errors and warnings, Ctrl-C in
one line, the common flags with their ranges, progress bars (from `deconv._progress`), and
building the network before its weights are loaded.

Import this module before anything that imports TensorFlow (the command-line modules do so
first). TensorFlow's C++ side prints start-up lines on every run (oneDNN notices, CUDA probing on
machines without a GPU) that its TF_CPP_MIN_LOG_LEVEL no longer silences; this module loads
TensorFlow with standard error captured and passes on every line but those known ones. With
`-v`/`--verbosity` on the command line, nothing is filtered.

Conventions, the same in every command: a usage error (a bad flag value, an unknown flag, bad
input) prints `python -m deconv.X: error: ...` on one line and exits 2; a warning prints
`warning: ...`; Ctrl-C prints one line and exits 130, at any moment (SIGTERM likewise, exit 143).
"""
import contextlib
import functools
import logging as std_logging
import os
import re
import signal
import sys
import tempfile

# Ctrl-C while Python and TensorFlow start: one line, not a traceback of the import.
_STATE = {"phase": "startup", "interrupted": False, "stderr": 2, "signal": signal.SIGINT}
_STOPPED = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated"}  # one line each
STOPPING = tuple(_STOPPED)


# The photos a clone ships in examples/images: the default --images of the commands.
EXAMPLE_IMAGES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                              "examples", "images")

def prog():
    """How the running command is typed: `python -m deconv.run`."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    return f"python -m {spec.name}" if spec else os.path.basename(sys.argv[0])


def _say(line):
    """Writes a line to the terminal's standard error, even while start-up captures fd 2."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os.write(_STATE["stderr"], f"{line}\n".encode(errors="replace"))


def _on_interrupt(signum, frame):
    if _STATE["phase"] == "main" and not _STATE["interrupted"]:
        _STATE.update(interrupted=True, signal=signum)
        raise KeyboardInterrupt
    # Start-up, after the command's work, or a second Ctrl-C: leave now, in one line.
    _say(f"{prog()}: {_STOPPED[signum]}." if _STATE["phase"] != "main" else
         f"{prog()}: {_STOPPED[signum]} again: stopped at once.")
    os._exit(128 + signum)


def _is_command():
    return prog().startswith("python -m deconv.")


if _is_command():
    for _signum in STOPPING:
        signal.signal(_signum, _on_interrupt)

from absl import app  # noqa: E402  (after the Ctrl-C handler: these imports take time too)
from absl import flags  # noqa: E402
from absl import logging  # noqa: E402

from deconv import limits  # noqa: E402
from deconv._net import input_file, load_keras_model, load_net  # noqa: E402, F401 (commands')
from deconv._progress import bar_sequence, new_bar, progress_bar  # noqa: E402, F401 (commands')
from deconv.errors import DeconvError  # noqa: E402
from deconv.io import images as image_files  # noqa: E402
from deconv.io import tiles as tiles_lib  # noqa: E402

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
    _STATE["stderr"] = saved
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow as tf
            tf.config.list_physical_devices()  # device probing prints its lines now
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            _STATE["stderr"] = 2
            os.close(saved)
            captured.seek(0)
            for line in captured.read().decode(errors="replace").splitlines():
                if line.strip() and not _STARTUP_NOISE.search(line):
                    print(line, file=sys.stderr)


_load_tensorflow_quietly()


# --- Flags: parsed in our error style, every number in a range. ---

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


def run(main):
    """Runs a command's `main(argv)` (wrapped by `one_line_errors`) with our flags parser."""
    app.run(main, flags_parser=parse_flags)


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
            enum_values=["auto", *preprocessing.MODES])
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


# --- Running main: one-line errors, plain warnings, Ctrl-C. ---

class _PlainFormatter(std_logging.Formatter):
    """`warning: message`, without absl's date, thread and file prefix."""

    def format(self, record):
        return f"{record.levelname.lower()}: {record.getMessage()}"


def _interrupted_line(resumes):
    return (f"{prog()}: {_STOPPED[_STATE['signal']]}. Files written so far are complete" + (
        "; the sweep resumes where it stopped when the same command is run again."
        if (resumes() if callable(resumes) else resumes) else "."))


def one_line_errors(main=None, *, resumes=False):
    """Wraps an absl `main(argv)`: a `DeconvError` prints `prog: error: message` and exits 2;
    Ctrl-C prints one line (saying the work resumes only if `resumes`, a bool or a function
    asked then) and exits 130 (SIGTERM: 143), even when
    TensorFlow turned the interrupt into another exception. Warnings print as `warning: ...`;
    logging shows warnings and errors unless `--verbosity` (`-v`) is given.

    Use as `@one_line_errors` or `@one_line_errors(resumes=True)`.
    """
    if main is None:
        return functools.partial(one_line_errors, resumes=resumes)

    @functools.wraps(main)
    def wrapped(argv):
        if not flags.FLAGS["verbosity"].present:  # TensorFlow's INFO lines drown our output
            logging.set_verbosity(logging.WARNING)  # and TensorFlow's Python warnings too:
            std_logging.getLogger("tensorflow").setLevel(std_logging.ERROR)  # its retracing
        logging.get_absl_handler().setFormatter(_PlainFormatter())
        std_logging.captureWarnings(True)  # Python warnings (Keras's) in the same style
        previous = {signum: signal.signal(signum, _on_interrupt) for signum in STOPPING}
        _STATE.update(phase="main", interrupted=False, signal=signal.SIGINT)
        try:
            return main(argv)
        except DeconvError as error:
            print(f"{prog()}: error: {error}", file=sys.stderr)
            sys.exit(2)
        except (KeyboardInterrupt, Exception) as error:
            if not (isinstance(error, KeyboardInterrupt) or _STATE["interrupted"]):
                raise
            print(_interrupted_line(resumes), file=sys.stderr)
            sys.exit(128 + _STATE["signal"])
        finally:
            _STATE["phase"] = "done"
            for signum, handler in previous.items() if not _is_command() else ():
                signal.signal(signum, handler)

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
    pixels, _, reason = image_files.read_image(argv[1], size, aspect)
    if reason is not None:
        raise DeconvError(f"Cannot read {argv[1]}: {reason}.")
    return argv[1], pixels
