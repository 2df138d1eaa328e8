"""Building the models deconv looks inside: Keras's VGG19/VGG16 conv stacks, or a user's `.keras`;
and the whole VGG with its classifier, for occlusion's class probabilities.

The VGG models are `keras.applications` models without the classifier, input `(None, None, 3)`,
layers keeping Keras's names (`block1_conv1` ... `block5_pool`). Weights are loaded last.
"""
import os

import keras
import numpy as np

from deconv.core import names
from deconv.models import weights as weight_files
from deconv.errors import DeconvError

ARCHS = {"vgg19": keras.applications.VGG19, "vgg16": keras.applications.VGG16}


def _seeded_init(model, seed):
    """Re-initialises every kernel Glorot-uniform and every bias to zero, reproducibly."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if not layer.weights:
            continue
        kernel = layer.weights[0]
        *window, fan_in_channels, fan_out_channels = kernel.shape
        receptive = int(np.prod(window)) if window else 1
        limit = np.sqrt(6.0 / (receptive * (fan_in_channels + fan_out_channels)))
        kernel.assign(rng.uniform(-limit, limit, kernel.shape).astype(np.float32))
        for extra in layer.weights[1:]:
            extra.assign(np.zeros(extra.shape, np.float32))


def _check_seed(seed):
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))
                             or seed < 0):
        raise DeconvError(f"seed must be a non-negative integer or None; received {seed!r}.")


def _load_keras_file(path, weights, seed):
    if not os.path.isfile(path):
        raise DeconvError(f"Model file not found: {path!r}.")
    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as error:  # Keras raises many types for a bad file; report it in one line.
        reason = " ".join(str(error).split())
        raise DeconvError(f"Cannot load model {path!r} (safe_mode on): {reason}") from None
    if weights == "random":
        _seeded_init(model, seed)
    elif weights not in (None, "imagenet"):
        weight_files.load_into(model, weights)
    return model


def load_model(arch="vgg19", weights="imagenet", seed=None):
    """Returns the convolutional part of VGG19 or VGG16, or a user's `.keras` model.

    Args:
      arch: `"vgg19"`, `"vgg16"`, or the path of a `.keras` model (loaded with `safe_mode`;
        it keeps its own weights for `"imagenet"` or None, loads `weights` if it is a path, and
        is re-initialised for `"random"`).
      weights: `"imagenet"`: the ImageNet weights, from `pretrained/` (or `$DECONV_PRETRAINED`),
        Keras's cache, or Keras's download, in that order; a path to a Keras `.h5` /
        `.weights.h5` file or a `vgg19.npy`-style dict; `None` (or `"random"`): random
        initialisation.
      seed: with random weights, makes them reproducible (Glorot-uniform kernels, zero biases).

    Returns:
      A `keras.Model` with input `(None, None, 3)`.

    Raises:
      DeconvError: unknown `arch`, or weights that cannot be found, read or fitted; the message
        names the file or the places searched.
    """
    arch = os.fspath(arch) if isinstance(arch, os.PathLike) else arch
    _check_seed(seed)
    if isinstance(arch, str) and arch.endswith(".keras"):
        return _load_keras_file(arch, weights, seed)
    if arch not in ARCHS:
        raise DeconvError(f"Unknown arch {arch!r}. Valid: {', '.join(ARCHS)}, or the path of a "
                          f".keras model.")
    model = ARCHS[arch](include_top=False, weights=None, input_shape=(None, None, 3))
    if weights is None or weights == "random":
        if seed is not None:
            _seeded_init(model, seed)
        return model
    load_weights(model, arch, weights)
    return model


def load_weights(model, arch, weights):
    """Loads `weights` (`"imagenet"` or a file path) into a model built by `load_model`.

    Lets a caller check a model's layers before the (large) weights are read.

    Returns:
      The path the weights came from.
    """
    if isinstance(weights, os.PathLike):
        weights = os.fspath(weights)
    if not isinstance(weights, str):
        raise DeconvError(f"weights must be 'imagenet', a file path or None; received {weights!r}.")
    path = weight_files.find_imagenet(arch) if weights == "imagenet" else weights
    weight_files.load_into(model, path)
    return path


def npy_arch(found):
    """Returns the VGG a `{paper layer name: arrays}` dict is for: VGG19 if it has `conv5_4`."""
    return "vgg19" if "conv5_4" in found else "vgg16"


def convert_npy(npy_path, out_path, arch=None):
    """Writes the Keras weights file equivalent to a `vgg19.npy`-style dict.

    Args:
      npy_path: the `.npy` dict `{"conv1_1": [W, b], ...}` (TF1 VGG layout).
      out_path: where to write; must end with `.weights.h5` (Keras 3's weights format). A
        format string may use `{arch}`.
      arch: `"vgg19"` or `"vgg16"`; default: from the dict (`npy_arch`).

    Returns:
      `(arch, out_path)`: the architecture and the file written.
    """
    found = weight_files.read_npy_dict(os.fspath(npy_path))
    arch = arch or npy_arch(found)
    out_path = os.fspath(out_path).format(arch=arch)
    if not out_path.endswith(".weights.h5"):
        raise DeconvError(f"The output file must end with .weights.h5; received {out_path!r}.")
    model = ARCHS[arch](include_top=False, weights=None, input_shape=(None, None, 3))
    weight_files.assign(model, {names.keras_name(key) or key: value
                                for key, value in found.items()}, npy_path)
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    model.save_weights(out_path)
    return arch, out_path


def load_classifier(arch="vgg19", weights="imagenet", seed=None):
    """Returns the whole VGG19/VGG16, classifier included (224x224 RGB in, 1,000 softmax out).

    Args:
      arch: `"vgg19"` or `"vgg16"`.
      weights: `"imagenet"` (Keras's with-top file, or a `vgg19.npy` with fc6-fc8, searched as
        `load_model` does), a file path, or None / `"random"` (reproducible with `seed`).

    Raises:
      DeconvError: unknown arch, or weights that cannot be found or fitted.
    """
    _check_seed(seed)
    if arch not in ARCHS:
        raise DeconvError(f"The classifier needs arch vgg19 or vgg16; received {arch!r}.")
    model = ARCHS[arch](include_top=True, weights=None)
    if weights is None or weights == "random":
        if seed is not None:
            _seeded_init(model, seed)
        return model
    path = weight_files.find_imagenet(arch, top=True) if weights == "imagenet" else weights
    weight_files.load_into(model, os.fspath(path))
    return model
