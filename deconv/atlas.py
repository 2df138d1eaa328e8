"""The unit atlas: every feature map of every chosen layer, its top activations across an image
folder, projected to pixel space and browsable as a static site.

    python -m deconv.atlas --images DIR --out atlas/              # every conv layer of VGG19
    python -m deconv.atlas --model vgg16 --layers conv1_2,conv3_3 --top 9 --out atlas/
    python -m deconv.atlas --config configs/atlas/vgg16.toml      # the same from a file

Pass 1 streams the images once through the network and keeps a top-k of every map of every
layer; pass 2 groups the winners by image and projects each image's winners together
(Zeiler & Fergus 2014, section 4 and Fig. 2). Outputs, in --out: atlas.json (the data, see the
README), index.html, a page per layer (its units as thumbnails; a unit at LAYER.html#unit-ID),
unit strips, thumbnail sheets and source images. Resumable: re-running a killed command
continues where it stopped; running again with more --layers adds them.
"""
import os
import time

from absl import flags

from deconv import _cli  # first: quiets TensorFlow before it loads
from deconv import _engine
from deconv import _net
from deconv.errors import DeconvError
from deconv.io import images as image_files
from deconv.io import render
from deconv.io import words
from deconv.sweeps import config as run_config_lib
from deconv.unit_atlas import build
from deconv.unit_atlas import config as config_lib
from deconv.unit_atlas import records

DEFAULT_IMAGES = _cli.EXAMPLE_IMAGES

FLAGS = flags.FLAGS
flags.DEFINE_string("images", DEFAULT_IMAGES, "Folder of images, searched recursively. Default: "
                    "the photos shipped in examples/images.")
flags.DEFINE_string("out", "atlas", "Output folder of the atlas (and its site).")
flags.DEFINE_list("layers", ["all"], "Layers: all (every convolutional layer) or names, e.g. "
                  "conv1_2,conv3_4 (paper or Keras style).")
_cli.integer_flag("top", 9, "Activations shown per unit (the paper shows 9).")
_cli.integer_flag("per_image", 1, "How many of a unit's activations may come from one image.")
_cli.define_model_flags(rule=True)
_cli.define_folder_flags()
flags.DEFINE_enum("normalize", "symmetric", render.NORMALISATIONS, "Display of projections: "
                  "symmetric keeps zero at mid-gray; minmax stretches each to [0, 255].")
_cli.define_crop_flag()
_cli.integer_flag("tile", 96, "Side in pixels of a projection or patch in a unit's view.",
                  bounds=build.RANGES["tile"])
_cli.integer_flag("thumb", 64, "Side in pixels of a unit's thumbnail on its layer's page.",
                  bounds=build.RANGES["thumb"])
_cli.integer_flag("project_batch", 32, "Projections per reverse pass in pass 2 (memory grows "
                  "with it: with 64 at 224 px the whole process reached 5.9 GB on conv5).",
                  bounds=build.RANGES["project_batch"])
flags.DEFINE_bool("maximize", False, "Also a feature visualization per unit, shown beside its "
                  "top-k with its activation against the top-1 (python -m deconv.maximize's "
                  "best parameterisation; slow: 512 steps per batch of 16 maps at 224 px).")
_cli.integer_flag("checkpoint_every", 10, "Save pass 1's state every this many batches.")
flags.DEFINE_bool("restart", False, "Discard the atlas in --out (its own files only) and start "
                  "afresh.")
flags.DEFINE_string("config", None, "A TOML file whose keys are these flags' names (see "
                    "configs/atlas/vgg16.toml); flags on the command line override it.")
_cli.define_engine_flags()


def _apply_config(path):
    """Sets the flags the command line did not give from the configuration at `path`; returns
    the names of those it set."""
    _net.input_file(path, "a TOML configuration", "--config")
    applied = set()
    for key, value in config_lib.load(path, config_lib.KEYS).items():
        if FLAGS[key].present:
            continue
        try:
            FLAGS[key].parse(config_lib.as_flag_text(value))
        except (flags.Error, ValueError) as error:
            raise DeconvError(f"{os.path.basename(path)}: {key} = {value!r}: "
                              f"{_cli.flag_problem(error)}") from None
        applied.add(key)
    return applied


def _scan(from_file):
    """`scan_folder` of --images; an error names the configuration if it gave the folder."""
    try:
        return image_files.scan_folder(FLAGS.images, image_files.parse_extensions(FLAGS.imtype),
                                       exclude=[FLAGS.out])
    except DeconvError as error:
        if "images" not in from_file:
            raise
        raise DeconvError(run_config_lib.where_images(
            FLAGS.images, f"{os.path.basename(FLAGS.config)}: ", error)) from None


def settings_from_flags():
    """The `AtlasSettings` of the flags."""
    return build.AtlasSettings(
        top=FLAGS.top, per_image=FLAGS.per_image, size=FLAGS.size, aspect=FLAGS.aspect,
        batch_size=FLAGS.batch_size, project_batch=FLAGS.project_batch,
        normalize=FLAGS.normalize, tile=FLAGS.tile, thumb=FLAGS.thumb,
        checkpoint_every=FLAGS.checkpoint_every, maximize=FLAGS.maximize, crop=FLAGS.crop)


def summary(outcome, started):
    """The closing line: what was made and reused, counts and times."""
    atlas = outcome.atlas
    units = sum(layer["units"] for layer in atlas["layers"])
    dataset = atlas["dataset"]
    read = words.skip_summary(dataset["read"], [(s["path"], s["reason"])
                                                for s in dataset["skipped"]],
                              dataset["ignored_by_extension"])
    earlier = len(atlas["layers"]) - len(outcome.made)
    reused = f", {earlier} from earlier runs" if earlier else ""
    pass2 = sum(outcome.project_seconds.values())
    return (f"{words.plural(len(atlas['layers']), 'layer')} ({len(outcome.made)} made{reused}), "
            f"{words.plural(units, 'unit')}; {read}; pass 1 {outcome.scan_seconds:.1f} s, "
            f"pass 2 {pass2:.1f} s; done in {time.perf_counter() - started:.1f} s; "
            f"open {outcome.index}")


def _on_beam(record, settings, options):
    """Both passes of the atlas on Beam (`deconv.distributed.atlas`), with --beam_options;
    the pipeline runs with its workers' output kept off the terminal."""
    spec = _engine.beam_engine("spec").NetSpec.from_record(record, FLAGS.rule,
                                                           FLAGS.preprocessing, FLAGS.size)
    beam = _engine.beam_engine("atlas").AtlasOnBeam(options, spec, settings)
    scan = beam.scan_layers

    def quietly(*args):
        # The pipeline's output only: pass 2's progress bars stay.
        with _engine.workers_stopped(), _engine.workers_quiet():
            return scan(*args)

    beam.scan_layers = quietly
    return beam


@_cli.one_line_errors(resumes=True)
def main(argv):
    _cli.no_arguments(argv, "the images are given as a folder with --images; see --help.")
    started = time.perf_counter()
    from_file = _apply_config(FLAGS.config) if FLAGS.config else set()
    settings = settings_from_flags()
    beam_options = _engine.options_from_flags()
    net, load_weights = _net.load_net(FLAGS.model, FLAGS.weights, FLAGS.seed, FLAGS.rule,
                                      FLAGS.preprocessing, FLAGS.include_top, FLAGS.size)
    layers = build.choose_layers(net, FLAGS.layers, settings)  # before any image is read
    _net.warn_if_image_independent(net, layers)
    if FLAGS.images == DEFAULT_IMAGES and not os.path.isdir(DEFAULT_IMAGES):
        raise DeconvError(f"The default image folder {DEFAULT_IMAGES} is missing: pass --images "
                          f"DIR, a folder of your own images.")
    if os.path.abspath(FLAGS.out) == os.path.abspath(FLAGS.images):
        raise DeconvError(f"--out {FLAGS.out!r} is the --images folder: the atlas goes to a "
                          f"folder of its own; choose another --out.")
    paths, ignored = _scan(from_file)
    settings = build.AtlasSettings(**{**settings.__dict__,
                                      "batch_size": min(settings.batch_size, len(paths))})
    records.check_claim(FLAGS.out, records.identity(load_weights.given, net, settings,
                                                    FLAGS.images, paths),
                        FLAGS.restart, loaded=False)  # another atlas: refused before the weights
    record = load_weights()
    progress = _cli.bar_sequence(FLAGS.progress)
    beam = _on_beam(record, settings, beam_options) if beam_options is not None else None
    try:
        outcome = build.build_atlas(
            net, paths, FLAGS.images, layers, FLAGS.out, settings, record, ignored,
            FLAGS.restart, progress, scan=beam and beam.scan_layers,
            projected=beam and beam.projected)
    finally:
        if progress is not None:
            progress.close()
        if beam is not None:
            beam.close()
    for layer in outcome.atlas["layers"]:
        for note in layer.get("notes", []):
            print(f"note: {layer['name']}: {note}")
    print(summary(outcome, started))


if __name__ == "__main__":
    _cli.run(main)
