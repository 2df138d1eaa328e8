"""Keras's applications (ResNet, Inception, Xception, MobileNet, DenseNet, EfficientNet,
ConvNeXt, NASNet, VGG): built by Keras, their ImageNet weights found the Keras way.

`find` names a model from any spelling (`resnet50`, `ResNet50`, `efficientnet_b0`). `build`
builds it with random (seeded) or ImageNet weights. For ImageNet weights the model's own
constructor asks for its file (name, address and hash are Keras's); deconv answers from, in
order, `pretrained/` (or `$DECONV_PRETRAINED`), Keras's cache, then Keras's download, and
records which file it used; if none works, one error names every place it looked.
"""
import contextlib
import dataclasses
import os
import re
import sys

import keras
import numpy as np

from deconv.errors import DeconvError
from deconv.models import weights as weight_files


def key(name):
    """An application's name without case or separators: `ResNet50V2` -> `resnet50v2`."""
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


# The constructors of keras.applications, by their names without case or separators.
NAMES = {key(name): name for name in dir(keras.applications)
         if name[:1].isupper() and callable(getattr(keras.applications, name))}


def find(name):
    """Returns the Keras constructor name (`"ResNet50"`) of an application, or None."""
    return NAMES.get(key(name))


def choices():
    """The application names a user may give, lower case (`resnet50`, `efficientnetb0`, ...)."""
    return sorted(NAMES)


# Applications whose Keras builder reads static sizes from its input (NASNet's cells compare the
# sizes of two branches while they are built, so with `(None, None, 3)` they add maps of
# different sizes): built for one image size, their default unless `size` is given.
FIXED_SIZE = {"nasnetmobile": 224, "nasnetlarge": 331}


def input_shape(name, include_top=False, size=None):
    """The `input_shape` argument `build` gives application `name`'s constructor: none with
    the classifier (the size it was trained at), `(size, size, 3)` for an application of
    `FIXED_SIZE`, else `(None, None, 3)` (any size)."""
    if include_top:
        return {}
    fixed = FIXED_SIZE.get(key(name))
    return {"input_shape": (size or fixed, size or fixed, 3) if fixed else (None, None, 3)}


def _construct(constructor, name, **arguments):
    """Calls an application's constructor; its refusal of a size or setting is one line."""
    try:
        return constructor(**arguments)
    except ValueError as error:
        raise DeconvError(f"Cannot build {key(name)}: {' '.join(str(error).split())}") from None


@dataclasses.dataclass
class Found:
    """The weights file the constructor loaded: its path, where it came from."""
    path: str = None
    source: str = None


def seeded_init(model, seed):
    """Re-initialises every kernel Glorot-uniform and every bias to zero, reproducibly from
    `seed`; other weights (normalization statistics and scales) keep their initial values."""
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        shape = tuple(variable.shape)
        if len(shape) >= 2:
            *window, fan_in_channels, fan_out_channels = shape
            receptive = int(np.prod(window)) if window else 1
            limit = np.sqrt(6.0 / (receptive * (fan_in_channels + fan_out_channels)))
            variable.assign(rng.uniform(-limit, limit, shape).astype(np.float32))
        elif variable.name == "bias":
            variable.assign(np.zeros(shape, np.float32))


def _search(fname, name, top):
    """Local places for the file Keras asks for: `(path, place)` pairs, in order."""
    ours = f"{key(name)}{'_top' if top else ''}.weights.h5"
    places = [(os.path.join(folder, candidate), "pretrained")
              for folder in weight_files.pretrained_dirs() for candidate in (fname, ours)]
    return places + [(os.path.join(weight_files.keras_cache_dir(), fname), "Keras cache")]


@contextlib.contextmanager
def _answering(get_file):
    """Makes Keras's applications call `get_file` for their weights (restored after)."""
    module = sys.modules[keras.utils.get_file.__module__]
    original = module.get_file
    module.get_file = get_file
    try:
        yield original
    finally:
        module.get_file = original


def _keras_download(original, fname, origin, file_hash, tried):
    """Keras's own download (cached for next time), quietly; None if it fails."""
    if os.environ.get(weight_files.OFFLINE_ENV):
        tried.append(f"download {origin} (skipped: ${weight_files.OFFLINE_ENV} is set)")
        return None
    interactive = keras.config.is_interactive_logging_enabled()
    keras.config.disable_interactive_logging()  # no "Downloading data from" before an error
    try:
        return original(fname, origin, cache_subdir="models", file_hash=file_hash)
    except Exception as error:  # get_file raises bare Exception for network failures
        tried.append(f"download {origin} (failed: {' '.join(str(error).split())})")
        return None
    finally:
        if interactive:
            keras.config.enable_interactive_logging()


def build(name, weights=None, seed=None, include_top=False, size=None):
    """Builds application `name` (see `find`).

    Args:
      weights: `"imagenet"` (searched as the module says) or None (random; reproducible with
        `seed`).
      include_top: with the classifier (then the input size is the one it was trained at).
      size: the image size an application of `FIXED_SIZE` is built for (default: its own);
        the others take any size.

    Returns:
      `(model, Found)`.

    Raises:
      DeconvError: no ImageNet weights anywhere; the message lists each place tried.
    """
    constructor = getattr(keras.applications, find(name))
    shape = input_shape(name, include_top, size)
    found = Found()
    if weights != "imagenet":
        model = _construct(constructor, name, weights=None, include_top=include_top, **shape)
        if seed is not None:
            seeded_init(model, seed)
        return model, found
    tried = []

    def answer(fname, origin=None, file_hash=None, **unused):
        for path, place in _search(fname, name, include_top):
            if os.path.isfile(path):
                found.path, found.source = path, place
                return path
            tried.append(f"{path} ({place}: not found)")
        path = _keras_download(original, fname, origin, file_hash, tried)
        if path is None:
            what = f"{key(name)}{' with its classifier' if include_top else ''}"
            raise DeconvError(
                f"No ImageNet weights for {what}. Tried: {weight_files.numbered(tried)}. "
                f"Fix: on a connected machine run once to let Keras download {fname}, or "
                f"copy it into pretrained/ or ${weight_files.PRETRAINED_ENV}, or pass --weights "
                f"PATH; --weights random runs with random weights.")
        found.path, found.source = path, "download"
        return path

    with _answering(answer) as original:
        model = _construct(constructor, name, weights="imagenet", include_top=include_top,
                           **shape)
    return model, found
