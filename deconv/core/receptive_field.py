"""`receptive_field`: the input pixels one activation of a layer can see, for a `Deconvnet` or a
Keras model, with its arguments checked (the arithmetic is `deconv.core.geometry`)."""
import operator

from deconv.core import geometry
from deconv.core.deconvnet import Deconvnet
from deconv.errors import DeconvError


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

    On a graph, the box is the bounding box of the union over every path from the layer down
    to the pixels; past a global pool, a flattening or a layer of unknown geometry, it is the
    whole image.

    Args:
      model: a `Deconvnet` or a Keras model (one `deconv` can reverse).
      layer: the layer's name, paper style (`conv4_4`) or Keras style (`block4_conv4`).
      position: `(y, x)` of the activation in the layer's feature maps.
      image_size: `(height, width)` of the input. Needed to clip the box at the bottom and right
        edges, for layers that pad "same" with a stride above 1, and for layers that see the
        whole image.
      clip: False returns the whole, unclipped window.

    Returns:
      `(top, left, bottom, right)`: a half-open box in input pixels, clipped to the image (to
      its top-left corner only, when `image_size` is None).

    Raises:
      DeconvError: unknown layer, or a position outside the layer's maps.
    """
    net = model if isinstance(model, Deconvnet) else Deconvnet(model)
    name = net.resolve(layer)
    y, x = _pair(position, "position", "(y, x)")
    sizes = None
    if image_size is not None:
        image_size = _pair(image_size, "image_size", "(height, width)")
        height, width = net.map_size(name, image_size)
        if not (0 <= y < height and 0 <= x < width):
            raise DeconvError(f"Position {(y, x)} is outside the {height}x{width} maps of layer "
                              f"{layer!r} for a {image_size[0]}x{image_size[1]} image.")
        sizes = geometry.graph_sizes(net.steps, image_size)
    elif y < 0 or x < 0:
        raise DeconvError(f"Position {(y, x)} must not be negative.")
    box = geometry.graph_window(net.steps, name, y, x, sizes)
    if box == geometry.WHOLE:
        if image_size is None:
            raise DeconvError(f"Layer {layer!r} sees the whole image: pass image_size=(height, "
                              f"width).")
        return (0, 0, *image_size)
    if not clip:
        return box
    top, left, bottom, right = box
    top, left = max(top, 0), max(left, 0)
    if image_size is not None:
        bottom, right = min(bottom, image_size[0]), min(right, image_size[1])
    return top, left, bottom, right
