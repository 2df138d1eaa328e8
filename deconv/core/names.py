"""Layer names: the paper's style (`conv4_4`, `pool3`) and Keras's (`block4_conv4`, `block3_pool`).

Both spellings are accepted everywhere a layer is named. Models whose layers do not follow the
VGG pattern keep their own names only.
"""
import re

from deconv.errors import DeconvError

# Keras's VGG names and their paper-style aliases, as (pattern, the other spelling's template).
_TO_PAPER = ((re.compile(r"^block(\d+)_conv(\d+)$"), "conv{}_{}"),
             (re.compile(r"^block(\d+)_pool$"), "pool{}"))
_TO_KERAS = ((re.compile(r"^conv(\d+)_(\d+)$"), "block{}_conv{}"),
             (re.compile(r"^pool(\d+)$"), "block{}_pool"))


def _translate(name, table):
    for pattern, template in table:
        match = pattern.match(name)
        if match:
            return template.format(*match.groups())
    return None


def paper_name(keras_name):
    """Returns the paper-style alias of a Keras VGG layer name, or None if it has none."""
    return _translate(keras_name, _TO_PAPER)


def short(name):
    """Returns the paper-style alias of a layer name if it has one, else the name itself."""
    return paper_name(name) or name


def keras_name(paper):
    """Returns the Keras VGG layer name for a paper-style name, or None if it is not one."""
    return _translate(paper, _TO_KERAS)


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
