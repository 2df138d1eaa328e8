"""The dataset runner: the strongest activations of a layer or feature map across image folders.

    python -m deconv.run --feat conv4_4 --id 350          # map 350: its top 9 across the images
    python -m deconv.run --feat conv4_4                   # top 9 over all maps of conv4_4
    python -m deconv.run --feat conv3_4 --images ~/photos --imtype .jpg --top 16 --out results
    python -m deconv.run --config configs/tf1_figures.toml  # many layers and maps, one pass

Pass 1 streams the images through the network (VGG19 by default; any Keras application or
.keras model: --model) and keeps a running top-k; pass 2 re-reads only the winners
and projects them to pixel space with the deconvnet (Zeiler & Fergus 2014). Outputs, in --out:
{feat}_feat[_{id}].png (reconstructions) and {feat}_im[_{id}].png (image patches), both cropped to
each activation's receptive field, and the manifest {feat}[_{id}].json; index.html shows them all.
Runs are resumable: re-running a killed command continues where it stopped. With --engine beam
both passes run as an Apache Beam pipeline (locally on several processes, or on a Flink, Spark or
Dataflow cluster: --beam_options), with the same outputs.
"""
import dataclasses
import os
import time

from absl import flags

from deconv import _cli  # first: quiets TensorFlow before it loads
from deconv import _engine
from deconv import _net
from deconv.core import selection
from deconv.errors import DeconvError
from deconv.io import outputs
from deconv.io import render
from deconv.io import words
from deconv.sweeps import config as config_lib
from deconv.sweeps import plan as plan_lib
from deconv.sweeps import report
from deconv.sweeps import runner

DEFAULT_IMAGES = _cli.EXAMPLE_IMAGES

FLAGS = flags.FLAGS
flags.DEFINE_string("feat", None, "Layer to look at, one with maps or a classifier's logits: the "
                    "model's Keras names (block4_conv4, conv4_block6_out, predictions); for VGG "
                    "also paper style (conv1_1 ... conv5_4, pool1 ... pool5).")
flags.DEFINE_integer("id", None, "Feature map of --feat. Given: the top activations of that map. "
                     "Omitted: the top activations over all maps of the layer.")
_cli.integer_flag("top", 9, "How many activations to show (the paper shows 9).")
_cli.integer_flag("per_image", 1, "How many of the top activations may come from one image.")
flags.DEFINE_string("images", DEFAULT_IMAGES, "Folder of images, searched recursively (class "
                    "sub-folders are fine). Default: the photos shipped in examples/images.")
_cli.define_model_flags(rule=True)
_cli.define_folder_flags()
flags.DEFINE_string("out", "results", "Output folder.")
flags.DEFINE_enum("normalize", "symmetric", render.NORMALISATIONS, "Display of reconstructions: "
                  "symmetric keeps zero at mid-gray; minmax stretches each to [0, 255].")
_cli.integer_flag("min_tile", 64, "Enlarge tiles smaller than this many pixels.")
_cli.define_crop_flag()
flags.DEFINE_enum("mode", "activation", selection.MODES, "What is projected for each of the top "
                  "activations: the activation alone, or its whole feature map in that image.")
flags.DEFINE_string("config", None, "A TOML run configuration (see configs/README.md): datasets, "
                    "model, weights, output and a list of sweeps, all served by one pass over "
                    "each dataset. Flags given on the command line override the file.")
flags.DEFINE_string("tensorboard", None, "Also write every sweep's grids and manifest as "
                    "TensorBoard summaries to this folder.")
_cli.integer_flag("checkpoint_every", 10, "Save pass 1's state every this many batches, so a "
                  "killed run resumes where it stopped when the same command is run again.")
flags.DEFINE_bool("restart", False, "Discard the saved state of an unfinished run in --out and "
                  "start afresh.")
_cli.define_engine_flags()


def _progress_factory(enabled):
    """Returns `start(name, total) -> on_batch`, one progress bar per dataset's pass 1, or None.

    Each bar closes when its pass 1 ends, so its rate is pass 1's.
    """
    bars = _cli.bar_sequence(enabled)
    if bars is None:
        return None

    def start(name, total):
        update = bars(f"pass 1 {name}", total, "img")
        return lambda state: update(state.cursor)

    start.close = bars.close
    return start


_OVERRIDABLE = (*config_lib.RUN_KEYS, "images", *config_lib.DATASET_KEYS,
                *config_lib.SWEEP_KEYS)


def run_config():
    """The `RunConfig` of this command: --config's file with the flags given, or the flags."""
    if FLAGS.id is not None and not FLAGS.feat:
        raise DeconvError("--id needs --feat: the layer whose map it names.")
    flag_sweep = config_lib.SweepConfig(FLAGS.feat, FLAGS.id, FLAGS.top, FLAGS.per_image,
                                        FLAGS.mode) if FLAGS.feat else None
    if FLAGS.config:
        _net.input_file(FLAGS.config, "a TOML configuration", "--config")
        config = config_lib.load(FLAGS.config)
        given = {name: FLAGS[name].value for name in _OVERRIDABLE if FLAGS[name].present}
        config = config_lib.override(config, **given)
        if flag_sweep is not None:
            config.sweeps = [flag_sweep]
        if not config.datasets:  # the file names no folder: --images, with the file's defaults
            defaults = {"imtype": FLAGS.imtype, "size": FLAGS.size, "aspect": FLAGS.aspect,
                        **config.dataset_defaults}
            config.datasets = [config_lib.dataset_from(FLAGS.images, **defaults)]
    elif flag_sweep is None:
        raise DeconvError("--feat is required (or --config), e.g. --feat conv4_4; see --help.")
    else:
        config = config_lib.RunConfig(
            [config_lib.dataset_from(FLAGS.images, imtype=FLAGS.imtype, size=FLAGS.size,
                                     aspect=FLAGS.aspect)],
            [flag_sweep], **{name: FLAGS[name].value for name in config_lib.RUN_KEYS})
    config_lib.check(config)
    return config


def summary(name, outcome, engine="local"):
    """The one-line summary of a dataset's run. On Beam both passes are one pipeline: its time,
    then the drawing's."""
    state = outcome.state
    counts = outcome.manifests[0]["counts"]
    views = len(outcome.written)
    files = (", ".join(path for written in outcome.written.values() for path in written.values())
             if views <= 3 else f"{views} sweeps' grids and manifests")
    scanned = outcome.files_scanned
    rate = scanned / outcome.scan_seconds if outcome.scan_seconds > 0 else float("inf")
    resumed = f" for the last {words.plural(scanned, 'file')}" if scanned < state.cursor else ""
    read = words.skip_summary(state.read, state.skipped, counts["ignored_by_extension"])
    times = (f"pass 1 {outcome.scan_seconds:.1f} s{resumed} ({rate:.1f} img/s), pass 2 "
             f"{outcome.project_seconds:.1f} s" if engine == "local" else
             f"Beam pipeline (both passes) {outcome.scan_seconds:.1f} s ({rate:.1f} img/s), "
             f"drawing {outcome.project_seconds:.1f} s")
    return f"{name}: {read}; {times}; wrote {files}"


def _run_on_beam(net, config, record, described, found, board, options, progress):
    """Both passes on Beam (`deconv.distributed.engine`), pass 1's bar moved as the workers
    report; returns `(outcomes, index path)`. Nothing to resume: a failed run leaves --out as
    it was."""
    engine = _engine.beam_engine("engine")
    spec = _engine.beam_engine("spec").NetSpec.from_record(
        record, config.rule, config.preprocessing, config.datasets[0].size)
    with _engine.workers_stopped(), _engine.workers_quiet():
        outcomes, index, counters = engine.run_config(
            net, spec, config, described, options, found,
            board.add if board is not None else None, progress=progress)
    for name, counted in counters.items():
        print(f"{name}: counted on the workers: " + ", ".join(
            f"{key} {value}" for key, value in sorted(counted.items()) if "worker ms" not in key)
            + "; workers busy: pass 1 {:.1f} s, pass 2 {:.1f} s".format(
                counted.get("pass 1 worker ms", 0) / 1000,
                counted.get("pass 2 worker ms", 0) / 1000))
    return outcomes, index


def _run(net, config, load_weights, found, beam_options):
    """Loads the weights and runs `config` on --engine's engine, with progress bars and
    TensorBoard summaries if asked for; returns `(outcomes, index path)`."""
    board = None
    if config.tensorboard:
        from deconv.sweeps import summaries  # TensorBoard's summary ops, only when asked for
        board = summaries.Writer(config.tensorboard)
    record = load_weights()
    identity = {**record, "preprocessing": net.preprocessing.name}
    progress = _progress_factory(FLAGS.progress)
    described = {**{k: v for k, v in dataclasses.asdict(config).items()
                    if k not in ("datasets", "sweeps")}, **record,
                 "sweeps": [config_lib.recorded(s) for s in config.sweeps]}
    try:
        if FLAGS.engine == "beam":
            return _run_on_beam(net, config, record, described, found, board, beam_options,
                                progress)
        return runner.run_config(net, config, identity, described, FLAGS.restart, progress,
                                 board.add if board is not None else None, found)
    finally:
        if progress is not None:
            progress.close()
        if board is not None:
            board.close()


@_cli.one_line_errors(resumes=lambda: FLAGS.engine == "local")
def main(argv):
    _cli.no_arguments(argv, "the images are given as a folder with --images; see --help.")
    started = time.perf_counter()
    config = run_config()
    beam_options = _engine.options_from_flags()
    net, load_weights = _net.load_net(config.model, config.weights, config.seed, config.rule,
                                      config.preprocessing, config.include_top,
                                      config.datasets[0].size)
    planned = plan_lib.plan(net, config)  # every sweep checked before any file is read
    outputs.check_targets(plan_lib.targets(net, config, planned))
    _net.warn_if_image_independent(net, [sweep.layer for sweep in config.sweeps])
    for dataset in config.datasets:
        if dataset.images == DEFAULT_IMAGES and not os.path.isdir(DEFAULT_IMAGES):
            raise DeconvError(f"The default image folder {DEFAULT_IMAGES} is missing: it comes "
                              f"with a clone of the repository (installed with pip install -e "
                              f".). Pass --images DIR, a folder of your own images.")
    found = runner.find_datasets(config)
    # A failed run leaves no empty output folder (the local engine's saved state stays).
    with outputs.new_folders([plan_lib.dataset_folder(config, d) for d in config.datasets]):
        outcomes, index = _run(net, config, load_weights, found, beam_options)
    for name, outcome in outcomes.items():
        for line in report.note_lines(outcome.notes):
            print(f"note: {line}")
        print(summary(name, outcome, FLAGS.engine))
    print(f"done in {time.perf_counter() - started:.1f} s; open {index}")


if __name__ == "__main__":
    _cli.run(main)
