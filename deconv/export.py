"""Exports a layer's deconvnet as a TensorFlow SavedModel, reusable without deconv.

    python -m deconv.export --feat conv4_4 --out exported/vgg19_conv4_4
    python -m deconv.export --all_layers --model vgg16 --weights my.weights.h5 --out exported/vgg16

Signatures (preprocessing inside, dynamic batch and image size): project, activations and top_k
for the layer, or <layer>_project, ... for every conv layer with --all_layers. A README.txt
beside the model says how to load and call it.
"""
import os

from absl import flags

from deconv import _cli  # first: quiets TensorFlow before it loads
from deconv import _net
from deconv.errors import DeconvError
from deconv.saved_models import saved_model

FLAGS = flags.FLAGS
flags.DEFINE_string("feat", None, "The layer to export, e.g. conv4_4 or block4_conv4.")
flags.DEFINE_bool("all_layers", False, "Export every conv layer in one SavedModel, with "
                  "signatures named by layer (conv4_4_project, ...).")
flags.DEFINE_string("out", None, "The SavedModel folder to write.")
_cli.define_model_flags(rule=True)


@_cli.one_line_errors
def main(argv):
    _cli.no_arguments(argv, "the layer is given with --feat; see --help.")
    if not FLAGS.out:
        raise DeconvError("--out is required: the SavedModel folder to write; see --help.")
    if bool(FLAGS.feat) == FLAGS.all_layers:
        raise DeconvError("Give either --feat LAYER or --all_layers; see --help.")
    net, load_weights = _net.load_net(FLAGS.model, FLAGS.weights, FLAGS.seed, FLAGS.rule,
                                      FLAGS.preprocessing, FLAGS.include_top)
    layers = (net.projectable(net.conv_layers) if FLAGS.all_layers
              else [net.check_projectable(FLAGS.feat)])
    saved_model.check_out_dir(FLAGS.out)
    record = load_weights()
    signatures = saved_model.export_saved_model(net, layers, FLAGS.out, described(record))
    size = sum(os.path.getsize(os.path.join(folder, name))
               for folder, _, files in os.walk(FLAGS.out) for name in files)
    print(f"wrote {FLAGS.out} ({size / 1e6:.1f} MB): signatures {', '.join(signatures)}; see "
          f"{FLAGS.out}/README.txt")


def described(record):
    """The model and weights in one line, for README.txt: files with their SHA-256."""
    text = f"{record['model']} with weights {record['weights']}"
    if "seed" in record:
        text += f" (seed {record['seed']})"
    for key in ("model_file", "weights_file"):
        if key in record:
            text += f"; {key.split('_')[0]} file {record[key]['path']} (sha256 " \
                    f"{record[key]['sha256']})"
    return text


if __name__ == "__main__":
    _cli.run(main)
