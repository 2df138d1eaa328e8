"""Layer geometry: feature-map sizes and receptive-field boxes, from kernels, strides and paddings.

Pure arithmetic, importing no model code: a step is anything with a `name` and a `geometry` (a
`Geometry`, or None for a pointwise layer), as `deconv.core.graph.Step`. Padding follows TensorFlow:
`"valid"` pads nothing; `"same"` pads `max((out - 1) * stride + extent - in, 0)` in all, the
smaller half before. `input_sizes` and `window` also accept scalar tensors for sizes and
positions (pass `maximum=tf.maximum`), so a SavedModel computes boxes in its graph.
"""
import dataclasses

from deconv.errors import DeconvError


@dataclasses.dataclass(frozen=True)
class Geometry:
    """The spatial footprint of a windowed layer: kernel, stride and dilation per axis, padding."""
    kernel: tuple
    strides: tuple
    dilation: tuple
    padding: str


def grown(size, geometry):
    """The `(height, width)` of the input a layer reads to produce `size` outputs (before
    clipping to its maps): `(size - 1) * stride + (kernel - 1) * dilation + 1` per axis."""
    return tuple((size[a] - 1) * geometry.strides[a] + _extent(geometry, a) for a in (0, 1))


def _extent(geometry, axis):
    return (geometry.kernel[axis] - 1) * geometry.dilation[axis] + 1


def _out_size(size, geometry, axis):
    stride = geometry.strides[axis]
    if geometry.padding == "same":
        return -(-size // stride)
    return (size - _extent(geometry, axis)) // stride + 1


def pad_before(geometry, axis, in_size, layer_name, maximum=max):
    """The padding a windowed layer adds before its input along `axis` (TensorFlow's rule)."""
    extent, stride = _extent(geometry, axis), geometry.strides[axis]
    if geometry.padding == "valid":
        return 0
    if stride == 1:
        return (extent - 1) // 2
    if in_size is None:
        raise DeconvError(f"Layer {layer_name!r} pads 'same' with stride {stride}: its receptive "
                          f"field depends on the image size; pass image_size=(height, width).")
    out_size = -(-in_size // stride)
    return maximum((out_size - 1) * stride + extent - in_size, 0) // 2


def map_sizes(steps, image_size):
    """Returns the `(height, width)` of every step's output for an input of `image_size`.

    A size below 1 means the image is too small to reach that step.
    """
    sizes, current = [], tuple(image_size)
    for step in steps:
        geometry = step.geometry
        if geometry is not None and min(current) >= 1:
            current = tuple(_out_size(current[axis], geometry, axis) for axis in (0, 1))
        sizes.append(current)
    return sizes


def input_sizes(steps, image_size):
    """Returns the `(height, width)` each step reads, for an input of `image_size`, then that
    of the last step's output: `len(steps) + 1` sizes, unchecked."""
    sizes, current = [], tuple(image_size)
    for step in steps:
        sizes.append(current)
        geometry = step.geometry
        if geometry is not None:
            current = tuple(_out_size(current[axis], geometry, axis) for axis in (0, 1))
    return sizes + [current]


def window(steps, index, y, x, in_sizes=None, maximum=max):
    """Returns the unclipped half-open `(top, left, bottom, right)` seen by `steps[index]` at
    `(y, x)`; `in_sizes` (from `input_sizes`) is needed only for strided 'same' layers."""
    box = [[y, y + 1], [x, x + 1]]  # walked from the layer down to the pixels
    for i in range(index, -1, -1):
        geometry = steps[i].geometry
        if geometry is None:
            continue
        for axis in (0, 1):
            in_size = in_sizes[i][axis] if in_sizes else None
            pad = pad_before(geometry, axis, in_size, steps[i].name, maximum)
            lo, hi = box[axis]
            stride = geometry.strides[axis]
            box[axis] = [lo * stride - pad, (hi - 1) * stride - pad + _extent(geometry, axis)]
    return box[0][0], box[1][0], box[0][1], box[1][1]


def min_image_size(steps, index):
    """Returns the smallest square side whose maps at `steps[index]` are at least 1x1."""
    side = 1
    while min(map_sizes(steps[:index + 1], (side, side))[-1]) < 1:
        side += 1
    return side


def field(steps, index, position, image_size=None, clip=True):
    """Returns the input pixels that activation `position` = `(y, x)` of `steps[index]` sees:
    a half-open `(top, left, bottom, right)` box, clipped to the image (to its top-left corner
    only, when `image_size` is None) unless `clip` is False. Arguments are not checked (see
    `deconv.receptive_field`)."""
    y, x = position
    in_sizes = input_sizes(steps, image_size) if image_size is not None else None
    top, left, bottom, right = window(steps, index, y, x, in_sizes)
    if not clip:
        return top, left, bottom, right
    top, left = max(top, 0), max(left, 0)
    if image_size is not None:
        bottom, right = min(bottom, image_size[0]), min(right, image_size[1])
    return top, left, bottom, right
