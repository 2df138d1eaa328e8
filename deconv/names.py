"""Layer names: the paper's style (`conv4_4`, `pool3`) and Keras's (`block4_conv4`, `block3_pool`).

Both spellings are accepted everywhere a layer is named. Models whose layers do not follow the
VGG pattern keep their own names only.
"""
import re

from deconv.errors import DeconvError

_KERAS_CONV = re.compile(r"^block(\d+)_conv(\d+)$")
_KERAS_POOL = re.compile(r"^block(\d+)_pool$")
_PAPER_CONV = re.compile(r"^conv(\d+)_(\d+)$")
_PAPER_POOL = re.compile(r"^pool(\d+)$")


def paper_name(keras_name):
    """Returns the paper-style alias of a Keras VGG layer name, or None if it has none."""
    match = _KERAS_CONV.match(keras_name)
    if match:
        return f"conv{match.group(1)}_{match.group(2)}"
    match = _KERAS_POOL.match(keras_name)
    if match:
        return f"pool{match.group(1)}"
    return None


def short(name):
    """Returns the paper-style alias of a layer name if it has one, else the name itself."""
    return paper_name(name) or name


def keras_name(paper):
    """Returns the Keras VGG layer name for a paper-style name, or None if it is not one."""
    match = _PAPER_CONV.match(paper)
    if match:
        return f"block{match.group(1)}_conv{match.group(2)}"
    match = _PAPER_POOL.match(paper)
    if match:
        return f"block{match.group(1)}_pool"
    return None


def display_names(layer_names):
    """Returns `layer_names` with each name's paper-style alias after it, for error messages."""
    shown = []
    for name in layer_names:
        alias = paper_name(name)
        shown.append(f"{alias}/{name}" if alias else name)
    return shown


def resolve(name, layer_names):
    """Returns the model's own name for `name`, given in either spelling.

    Args:
        name: a layer name, e.g. `"conv4_4"` or `"block4_conv4"`.
        layer_names: the names of the model's layers that can be used here, in model order.

    Returns:
        The entry of `layer_names` that `name` denotes.

    Raises:
        DeconvError: if `name` denotes none of `layer_names`; the message lists them all.
    """
    if not isinstance(name, str):
        raise DeconvError(f"A layer name must be a string; received {name!r}.")
    if name in layer_names:
        return name
    alias = keras_name(name)
    if alias in layer_names:
        return alias
    raise DeconvError(
            f"Unknown layer {name!r}. Valid layers: {', '.join(display_names(layer_names))}.")
