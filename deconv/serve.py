"""The live explorer: a local web page where an image goes in, every map of a layer lights up,
and a click on a map projects its strongest activation (or a clicked position) to pixel space.

    python -m deconv.serve                                   # VGG19, http://127.0.0.1:8000/
    python -m deconv.serve --model vgg16 --weights w.h5 --atlas atlas/ --port 8080

Needs the serve extra: pip install -e ".[serve]". The model is loaded once; each layer's
projection graphs are built on first use and kept. Listens on 127.0.0.1 only, unless --host
says otherwise (then it warns: the explorer has no authentication). The JSON API behind the
page is in the README, section "The live explorer".
"""
import os
import socket

from absl import flags
from absl import logging

from deconv import _cli  # first: quiets TensorFlow before it loads
from deconv import _net
from deconv.errors import DeconvError
from deconv.io import images as image_files

EXAMPLES = _cli.EXAMPLE_IMAGES

FLAGS = flags.FLAGS
_cli.define_model_flags()
flags.DEFINE_string("atlas", None, "A unit atlas folder (python -m deconv.atlas --out FOLDER) "
                    "made with the same model and weights: each unit's dataset top-k is shown "
                    "beside its live projection. Only files inside it are served.")
flags.DEFINE_string("host", "127.0.0.1", "Address to listen on. Anything but a loopback "
                    "address makes the explorer reachable from other machines (it warns).")
_cli.integer_flag("port", 8000, "Port to listen on (0: any free port, printed at start).",
                  bounds=(0, 65535))
_cli.integer_flag("size", 224, "Images are resized to size x size pixels (see --aspect).")
flags.DEFINE_enum("aspect", "stretch", list(image_files.ASPECTS), "How a non-square image "
                  "becomes size x size: stretch resizes both sides; crop keeps the centre "
                  "square.")
_cli.integer_flag("workers", 1, "Requests computed at once (TensorFlow's own operations use "
                  "every core already).", bounds=(1, 16))
_cli.integer_flag("max_upload_mb", 20, "Largest image file accepted, in MiB.", bounds=(1, 1024))
_cli.integer_flag("max_megapixels", 50, "Most pixels an image file may have, in millions.",
                  bounds=(1, 1000))
_cli.integer_flag("cached_images", 4, "Images whose activations (every layer's) are kept in "
                  "memory; VGG19 at 224 px holds about 60 MB per image.", bounds=(1, 256))


def _listen(host, port):
    """A socket bound to `host`:`port`, listening; a one-line error if it cannot be. Its
    protocol is TCP's own number (from `getaddrinfo`), so asyncio sets TCP_NODELAY on each
    connection: with protocol 0 it does not, and delayed ACKs add 40 ms to every answer."""
    try:
        family, kind, protocol, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as error:
        raise DeconvError(f"--host {host!r} is not an address of this machine "
                          f"({error.strerror}).") from None
    sock = socket.socket(family, kind, protocol)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(128)
    except OSError as error:
        sock.close()
        raise DeconvError(f"Cannot listen on {host} port {port}: {error.strerror}; choose "
                          f"another --port (0: any free one).") from None
    return sock


def _about(record):
    """What the page shows of the model: its name and weights (a file by its name)."""
    weights = record.get("weights_file", {}).get("path") or record["weights"]
    about = {"model": record["model"], "weights": os.path.basename(str(weights))}
    if "seed" in record:
        about["seed"] = record["seed"]
    return about


def _same_model(a, b):
    """Whether two --model values name one model: the same text, or one Keras application in
    two spellings (`vgg16`, `VGG16`)."""
    from deconv.models import loading  # TensorFlow loads quietly first (in _cli)
    return a == b or (loading.named(str(a)) is not None
                      and loading.named(str(a)) == loading.named(str(b)))


@_cli.one_line_errors
def main(argv):
    _cli.no_arguments(argv, "images are chosen or dropped on the page; see --help.")
    try:
        import uvicorn

        from deconv.explorer import app as app_lib
        from deconv.explorer import atlas_folder
        from deconv.explorer import live
    except ImportError as error:
        raise DeconvError(f"python -m deconv.serve needs the serve extra: pip install -e "
                          f"\".[serve]\" ({error.name} is missing).") from None
    atlas = atlas_folder.AtlasFolder(FLAGS.atlas) if FLAGS.atlas else None
    sock = _listen(FLAGS.host, FLAGS.port)  # a port in use is told before the model loads
    net, load_weights = _net.load_net(FLAGS.model, FLAGS.weights, FLAGS.seed, "deconvnet",
                                      FLAGS.preprocessing, FLAGS.include_top, FLAGS.size)
    explorer = live.Explorer(net, live.Options(
        size=FLAGS.size, aspect=FLAGS.aspect, activations=FLAGS.cached_images,
        max_bytes=FLAGS.max_upload_mb << 20, max_pixels=FLAGS.max_megapixels * 1_000_000))
    loopback = app_lib.is_loopback(FLAGS.host)
    record = load_weights()
    mismatch = atlas and atlas.mismatch(record, FLAGS.size, net.preprocessing.name, _same_model)
    if mismatch:
        logging.warning("--atlas: %s; its top-k may not match the live projections.", mismatch)
    if app_lib.host_warning(FLAGS.host):
        logging.warning(app_lib.host_warning(FLAGS.host))
    app = app_lib.build_app(
        explorer, atlas=atlas, examples=EXAMPLES, about=_about(record),
        options=app_lib.ServerOptions(workers=FLAGS.workers,
                                      allowed_hosts=app_lib.LOOPBACK if loopback else None))
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    print(f"The live explorer of {FLAGS.model} is at http://{shown}:{port}/ (Ctrl-C stops it)",
          flush=True)
    uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False)).run(
        sockets=[sock])


if __name__ == "__main__":
    _cli.run(main)
