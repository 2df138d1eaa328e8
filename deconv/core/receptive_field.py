"""`receptive_field`: the input pixels one activation of a layer can see, for a `Deconvnet` or a
Keras model, with its arguments checked (the arithmetic is `deconv.core.geometry.field`)."""
import operator

from deconv.core import geometry
from deconv.core import graph
from deconv.core import names
from deconv.errors import DeconvError


def _steps_of(model):
    """Accepts a `Deconvnet` (anything with `.steps`) or a Keras model."""
    steps = getattr(model, "steps", None)
    return steps if steps is not None else graph.chain_steps(model)


def _pair(value, what, example):
    try:
        pair = tuple(operator.index(v) for v in value)
    except TypeError:
        raise DeconvError(f"{what} must be two integers {example}; received {value!r}.") from None
    if len(pair) != 2:
        raise DeconvError(f"{what} must be two integers {example}; received {value!r}.")
    return pair


def receptive_field(model, layer, position, image_size=None, clip=True):
    """Returns the input pixels that one activation of `layer` can see.

    Args:
      model: a `Deconvnet` or a Keras model (a chain of layers `deconv` supports).
      layer: the layer's name, paper style (`conv4_4`) or Keras style (`block4_conv4`).
      position: `(y, x)` of the activation in the layer's feature maps.
      image_size: `(height, width)` of the input. Needed to clip the box at the bottom and right
        edges, and for layers that pad "same" with a stride above 1.
      clip: False returns the whole, unclipped window.

    Returns:
      `(top, left, bottom, right)`: a half-open box in input pixels, clipped to the image (to
      its top-left corner only, when `image_size` is None).

    Raises:
      DeconvError: unknown layer, or a position outside the layer's maps.
    """
    steps = _steps_of(model)
    layer_names = [step.name for step in steps]
    index = layer_names.index(names.resolve(layer, layer_names))
    y, x = _pair(position, "position", "(y, x)")
    if image_size is not None:
        image_size = _pair(image_size, "image_size", "(height, width)")
        height, width = geometry.map_sizes(steps[:index + 1], image_size)[-1]
        if not (0 <= y < height and 0 <= x < width):
            raise DeconvError(f"Position {(y, x)} is outside the {height}x{width} maps of layer "
                              f"{layer!r} for a {image_size[0]}x{image_size[1]} image.")
    elif y < 0 or x < 0:
        raise DeconvError(f"Position {(y, x)} must not be negative.")
    return geometry.field(steps, index, (y, x), image_size, clip)
