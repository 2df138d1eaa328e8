"""Weight files: finding the ImageNet VGG weights, reading every supported format, loading safely.

Supported files:
  * Keras HDF5 weights in the legacy layout (`vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5`,
    what `keras.applications` downloads) or in the Keras 3 layout (`*.weights.h5`);
  * a `.npy` dict `{"conv1_1": [W, b], ...}` as in the TF1 VGG projects (`vgg19.npy`). Its pickle
    is read by an unpickler that builds only dicts, lists and NumPy arrays, so a weights file
    cannot run code.
Every layer's shapes are checked before anything is assigned.
"""
import hashlib
import os
import pickle
import re

from absl import logging
import h5py
import keras
import numpy as np

from deconv.core import names
from deconv.errors import DeconvError

_KERAS_ORIGIN = "https://storage.googleapis.com/tensorflow/keras-applications/{arch}/{fname}"

# Keras's "notop" files: name, and the md5 Keras pins in `keras.applications`.
KERAS_FILES = {
    "vgg19": ("vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",
              "253f8cb515780f3b799900260a226db6"),
    "vgg16": ("vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
              "6d6bbae143d832006294945121d1f1fc"),
}

# The same with the classifier (`include_top`), for occlusion's class probabilities.
KERAS_TOP_FILES = {
    "vgg19": ("vgg19_weights_tf_dim_ordering_tf_kernels.h5",
              "cbe5617147190e668d6c5d5026f83318"),
    "vgg16": ("vgg16_weights_tf_dim_ordering_tf_kernels.h5",
              "64373286793e3c8b2b4e3219cbf3544b"),
}

PRETRAINED_ENV = "DECONV_PRETRAINED"
OFFLINE_ENV = "DECONV_OFFLINE"  # set: never try Keras's download

# The TF1 VGG dicts name the classifier fc6..fc8; Keras names it fc1, fc2, predictions.
_NPY_CLASSIFIER = {"fc6": "fc1", "fc7": "fc2", "fc8": "predictions"}


def pretrained_dirs():
    """Returns the folders searched for local weight files, in order.

    `$DECONV_PRETRAINED` alone when it is set; else `./pretrained` and the `pretrained/` folder
    of the source checkout this package runs from.
    """
    if os.environ.get(PRETRAINED_ENV):
        return [os.path.expanduser(os.environ[PRETRAINED_ENV])]
    here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    dirs = []
    for folder in (os.path.join(os.getcwd(), "pretrained"), os.path.join(here, "pretrained")):
        if os.path.realpath(folder) not in map(os.path.realpath, dirs):
            dirs.append(folder)
    return dirs


def keras_cache_dir():
    """Returns the folder where Keras caches downloaded model weights (as `get_file` picks it)."""
    base = os.path.expanduser(os.environ.get("KERAS_HOME", os.path.join("~", ".keras")))
    if os.path.isdir(base) and not os.access(base, os.W_OK):
        base = os.path.join("/tmp", ".keras")
    return os.path.join(base, "models")


def local_candidates(arch, top=False):
    """Returns the file names that count as ImageNet weights for `arch` in a pretrained folder
    (`top`: with the classifier; a `.npy` dict holds it too)."""
    if top:
        return [KERAS_TOP_FILES[arch][0], f"{arch}_top.weights.h5", f"{arch}.npy"]
    return [KERAS_FILES[arch][0], f"{arch}.weights.h5", f"{arch}.npy"]


def file_identity(path):
    """Returns `path` with its size and modification time: cheap, and changes with the file."""
    stat = os.stat(path)
    return [os.path.abspath(path), stat.st_size, stat.st_mtime_ns]


def _digest(path, kind):
    digest = hashlib.new(kind)
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def md5(path):
    """The MD5 of a file (what Keras pins for its downloads)."""
    return _digest(path, "md5")


def file_record(path):
    """Returns `{"path", "bytes", "sha256"}` of a file, JSON-ready: which file a result came
    from, and a hash that tells whether another copy is the same."""
    return {"path": os.path.abspath(path), "bytes": os.path.getsize(path),
            "sha256": _digest(path, "sha256")}


def _check_keras_file(path, arch, top=False):
    fname, expected = (KERAS_TOP_FILES if top else KERAS_FILES)[arch]
    if os.path.basename(path) != fname:
        return
    found = md5(path)
    if found != expected:
        logging.warning("%s has md5 %s, not Keras's published %s; loading it anyway (shapes are "
                        "checked).", path, found, expected)


def numbered(places):
    """`places` as one line: "(1) first; (2) second", for errors that list where we looked."""
    return "; ".join(f"({i}) {place}" for i, place in enumerate(places, 1))


def find_imagenet(arch, search_dirs=None, origin=None, top=False):
    """Returns the path of ImageNet weights for `arch`, downloading them the Keras way if needed.

    Looks, in order: in each folder of `search_dirs` (default `pretrained_dirs()`) for the names of
    `local_candidates`; in Keras's cache; then asks `keras.utils.get_file` to download Keras's file
    (hash-checked, cached for next time), unless `$DECONV_OFFLINE` is set.

    Args:
      arch: `"vgg19"` or `"vgg16"`.
      search_dirs: folders to look in before Keras's cache.
      origin: URL to download from instead of Keras's own (tests use an unreachable one).
      top: the weights of the whole network, classifier included.

    Raises:
      DeconvError: if every place fails; the message lists each place tried and how to fix it.
    """
    fname, file_hash = (KERAS_TOP_FILES if top else KERAS_FILES)[arch]
    candidates = local_candidates(arch, top)
    tried = []
    for folder in pretrained_dirs() if search_dirs is None else search_dirs:
        for candidate in candidates:
            path = os.path.join(folder, candidate)
            if os.path.isfile(path):
                _check_keras_file(path, arch, top)
                return path
        tried.append(f"{os.path.join(folder, '{' + ','.join(candidates) + '}')} (not found)")
    cached = os.path.join(keras_cache_dir(), fname)
    if os.path.isfile(cached):
        _check_keras_file(cached, arch, top)
        return cached
    tried.append(f"{cached} (Keras cache: not found)")
    url = origin or _KERAS_ORIGIN.format(arch=arch, fname=fname)
    if os.environ.get(OFFLINE_ENV):
        tried.append(f"download {url} (skipped: ${OFFLINE_ENV} is set)")
    else:
        # Keras prints "Downloading data from URL" before it fails: ask quietly first, so that
        # offline the user sees only the error below.
        reason = _unreachable(url)
        if reason is None:
            try:
                return keras.utils.get_file(fname, url, cache_subdir="models",
                                            file_hash=file_hash)
            except Exception as error:  # get_file raises bare Exception for network failures.
                reason = " ".join(str(error).split())
        tried.append(f"download {url} (failed: {reason})")
    what = "classifier (include_top) weights" if top else "weights"
    flag = "--classifier_weights" if top else "--weights"
    raise DeconvError(
        f"No ImageNet {what} for {arch}. Tried: {numbered(tried)}. Fix: on a connected "
        f"machine run once to let Keras download {fname}, or copy that "
        f"file (or {arch}.npy) into pretrained/ or ${PRETRAINED_ENV}, or pass weights=PATH "
        f"({flag} PATH); {flag} random runs with random weights.")


def _unreachable(url, timeout=15):
    """Why `url` cannot be fetched now (a HEAD request), or None if it answers."""
    import urllib.error
    import urllib.request
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"),
                                    timeout=timeout):
            return None
    except urllib.error.HTTPError as error:
        return f"HTTP {error.code} {error.reason}"
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", None) or error
        return " ".join(str(reason).split()) or type(error).__name__


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """Builds only containers and NumPy arrays: any other global in the stream is refused."""

    _ALLOWED = {
        ("numpy._core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "scalar"), ("numpy.core.multiarray", "scalar"),
        ("numpy", "ndarray"), ("numpy", "dtype"),
        ("_codecs", "encode"),  # how protocol-2 pickles spell bytes
        ("collections", "OrderedDict"),
    }

    def find_class(self, module, name):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(
                f"global {module}.{name} is not allowed in a weights file")
        if (module, name) == ("_codecs", "encode"):
            return _latin1_encode
        if module.startswith("numpy.core.") and int(np.__version__.split(".")[0]) >= 2:
            module = module.replace("numpy.core.", "numpy._core.")  # pickles from NumPy 1
        return super().find_class(module, name)


def _latin1_encode(text, encoding="latin1"):
    """`_codecs.encode` as protocol-2 pickles use it for bytes: latin-1 only."""
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise pickle.UnpicklingError(f"_codecs.encode with {encoding!r} is not allowed")
    return text.encode("latin1")


def read_npy_dict(path):
    """Returns the `{layer: [arrays]}` dict pickled in a `.npy` file, refusing anything else."""
    try:
        with open(path, "rb") as stream:
            version = np.lib.format.read_magic(stream)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            _, _, dtype = read_header(stream)
            if dtype.kind != "O":
                raise DeconvError(f"{path} holds a plain {dtype} array, not a dict of layers "
                                  f"like {{'conv1_1': [W, b], ...}}.")
            loaded = _ArrayOnlyUnpickler(stream, encoding="latin1").load()
    except DeconvError:
        raise
    except Exception as error:  # a crafted pickle can raise anything its allowed calls raise
        reason = " ".join(str(error).split()) or type(error).__name__
        raise DeconvError(f"Cannot read weights file {path}: {reason}.") from None
    content = loaded.item() if isinstance(loaded, np.ndarray) and loaded.shape == () else loaded
    if not isinstance(content, dict) or not all(
            isinstance(key, str) and isinstance(value, (list, tuple))
            and all(isinstance(a, np.ndarray) for a in value) for key, value in content.items()):
        raise DeconvError(f"{path} must hold a dict {{'conv1_1': [W, b], ...}} of NumPy arrays.")
    return {str(key): [np.asarray(a) for a in value] for key, value in content.items()}


def _snake_case(name):
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def _keras3_paths(model):
    """Returns `{layer name: group path}` as Keras 3's `save_weights` names a model's layers."""
    counts, paths = {}, {}
    for layer in model.layers:
        base = _snake_case(type(layer).__name__)
        count = counts.get(base, 0)
        counts[base] = count + 1
        paths[layer.name] = f"layers/{base}" + (f"_{count}" if count else "")
    return paths


def _text(value):
    return value.decode() if isinstance(value, bytes) else value


def _read_h5(path, model):
    """Returns `{model layer name: [arrays]}` from a legacy or Keras 3 HDF5 weights file."""
    try:
        with h5py.File(path, "r") as h5:
            root = h5["model_weights"] if "model_weights" in h5 else h5
            if "layer_names" in root.attrs:  # legacy layout, keyed by layer name
                found = {}
                for layer_name in map(_text, root.attrs["layer_names"]):
                    group = root[layer_name]
                    found[layer_name] = [np.asarray(group[_text(w)])
                                         for w in group.attrs["weight_names"]]
                return found
            if "layers" in root:  # Keras 3 layout, keyed by position
                found = {}
                for layer_name, group_path in _keras3_paths(model).items():
                    if f"{group_path}/vars" in root and len(root[f"{group_path}/vars"]):
                        variables = root[f"{group_path}/vars"]
                        found[layer_name] = [np.asarray(variables[str(i)])
                                             for i in range(len(variables))]
                return found
    except (OSError, KeyError, TypeError) as error:
        raise DeconvError(f"Cannot read weights file {path}: {error}.") from None
    raise DeconvError(f"{path} is an HDF5 file but not a Keras weights file (no layer_names "
                      f"attribute and no layers/ group).")


def read_weights(path, model):
    """Returns `{model layer name: [arrays]}` read from a weights file of any supported format.

    Raises:
      DeconvError: if the file is missing, unreadable or of an unsupported format.
    """
    if os.path.isdir(path):
        raise DeconvError(f"Weights {path!r} is a folder, not a weights file: pass a Keras "
                          f".h5/.weights.h5 file, a vgg19.npy-style dict, 'imagenet' or 'random'.")
    if not os.path.isfile(path):
        raise DeconvError(f"Weights file not found: {path!r}. Pass a Keras .h5/.weights.h5 file, "
                          f"a vgg19.npy-style dict, 'imagenet' or 'random'.")
    if path.endswith(".npy"):
        return {_NPY_CLASSIFIER.get(key) or names.keras_name(key) or key: value
                for key, value in read_npy_dict(path).items()}
    if path.endswith((".h5", ".hdf5")):
        return _read_h5(path, model)
    raise DeconvError(f"Unsupported weights file {path!r}: use a Keras .h5 / .weights.h5 file or "
                      f"a .npy dict {{'conv1_1': [W, b], ...}}.")


def load_into(model, path):
    """Loads the weights in `path` into `model`, after checking every layer's shapes.

    Raises:
      DeconvError: naming the first layer the file lacks or whose shapes differ.
    """
    assign(model, read_weights(path, model), path)


def assign(model, found, path):
    """Assigns `{layer name: [arrays]}` read from `path` to `model`, all shapes checked first."""
    assignments = []
    weighted = [layer for layer in model.layers if layer.weights]
    hint = ("" if len(found) == len(weighted) else
            f" The file has weights for {len(found)} layers, the model {model.name!r} "
            f"{len(weighted)}: is it for another architecture (another --model)?")
    for layer in weighted:
        expected = [tuple(w.shape) for w in layer.weights]
        if layer.name not in found:
            raise DeconvError(f"Weights file {path} has no weights for layer {layer.name!r} "
                              f"(it has: {', '.join(sorted(found)) or 'none'}).{hint}")
        got = [tuple(a.shape) for a in found[layer.name]]
        if got != expected:
            raise DeconvError(f"Weights file {path} does not fit layer {layer.name!r}: the model "
                              f"expects shapes {expected}, the file has {got}.{hint}")
        for array in found[layer.name]:
            if array.dtype.kind not in "fiu" or not np.isfinite(array).all():
                raise DeconvError(f"Weights file {path} has {array.dtype} or non-finite values "
                                  f"for layer {layer.name!r}; weights must be finite numbers.")
        assignments.append((layer, found[layer.name]))
    for layer, arrays in assignments:
        layer.set_weights(arrays)
    unused = sorted(set(found) - {layer.name for layer, _ in assignments})
    if unused:
        logging.debug("Ignored weights in %s for layers the model lacks: %s", path,
                     ", ".join(unused))
