"""Layer geometry: feature-map sizes and receptive-field boxes, from kernels, strides and paddings.

Pure arithmetic, importing no model code: a step is anything with a `name`, `inputs` (the keys
of the tensors it reads), `in_shapes` (their static shapes) and a `geometry`, as
`deconv.core.graph.Step`. A geometry is a `Geometry` (convolutions, pools), a `Shift` (zero
padding, cropping), an `Upsample`, None for a pointwise layer (activations, normalizations,
merges: an input of static size 1x1 broadcasts), or `WHOLE` (global pools, flattening, dense
layers on vectors, and any layer deconv does not know: every output position reads the whole
input). Padding follows TensorFlow: `"valid"` pads nothing; `"same"` pads
`max((out - 1) * stride + extent - in, 0)` in all, the smaller half before.

The chain functions (`map_sizes`, `input_sizes`, `window`) serve the windowed reverse of chains
(VGG); the graph functions (`graph_sizes`, `graph_window`) any model. Sizes and positions may
be NumPy arrays or scalar tensors (pass `maximum`/`minimum`, e.g. `tf.maximum`), so a
SavedModel computes boxes in its graph.
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


# Every output position reads every input position (global pools, flatten, unknown layers).
WHOLE = "whole"


@dataclasses.dataclass(frozen=True)
class Shift:
    """`ZeroPadding2D` (`pad`) or `Cropping2D`: positions move by `before` `(top, left)`; the
    maps grow (pad) or shrink (crop) by `before + after` `(bottom, right)`."""
    before: tuple
    after: tuple
    pad: bool


@dataclasses.dataclass(frozen=True)
class Upsample:
    """`UpSampling2D`: output position `i` reads input position `i // factor`, per axis."""
    factor: tuple


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


def _spatial(shape):
    return shape is not None and len(shape) == 4


def broadcast(step, index):
    """Whether input `index` of a pointwise step is a static 1x1 map broadcast over the others."""
    shapes = step.in_shapes
    if tuple(shapes[index][1:3]) != (1, 1):
        return False
    return any(_spatial(shape) and tuple(shape[1:3]) != (1, 1) for shape in shapes)


def _size_of(step, sizes):
    """The `(height, width)` of a step's output from its inputs' sizes, or None if unknown."""
    geometry = step.geometry
    ins = [sizes.get(key) for key in step.inputs]
    if geometry == WHOLE or not ins:
        return None
    if geometry is None:  # pointwise: the size of its first map that is not broadcast
        for index, size in enumerate(ins):
            if size is not None and _spatial(step.in_shapes[index]) and not broadcast(step,
                                                                                       index):
                return size
        return next((size for size in ins if size is not None), None)
    size = ins[0]
    if size is None:
        return None
    if isinstance(geometry, Shift):
        sign = 1 if geometry.pad else -1
        return tuple(size[a] + sign * (geometry.before[a] + geometry.after[a]) for a in (0, 1))
    if isinstance(geometry, Upsample):
        return tuple(size[a] * geometry.factor[a] for a in (0, 1))
    return tuple(_out_size(size[a], geometry, a) for a in (0, 1))


def graph_sizes(steps, image_size, input_key="input"):
    """Returns `{key: (height, width)}` of every step's output for an input of `image_size`
    (None where the output is not a map, or its size is unknown)."""
    sizes = {input_key: tuple(image_size)}
    for step in steps:
        sizes[step.name] = _size_of(step, sizes)
    return sizes


def _box_below(step, index, box, sizes, maximum):
    """The box of input `index` that a box of the step's output reads, or WHOLE."""
    geometry = step.geometry
    if geometry == WHOLE or not _spatial(step.in_shapes[index]):
        return WHOLE
    if geometry is None:
        return ((0, 1), (0, 1)) if broadcast(step, index) else box
    if isinstance(geometry, Shift):
        sign = -1 if geometry.pad else 1
        return tuple((lo + sign * geometry.before[a], hi + sign * geometry.before[a])
                     for a, (lo, hi) in enumerate(box))
    if isinstance(geometry, Upsample):
        return tuple((lo // geometry.factor[a], (hi - 1) // geometry.factor[a] + 1)
                     for a, (lo, hi) in enumerate(box))
    in_size = sizes.get(step.inputs[index]) if sizes else None
    below = []
    for axis, (lo, hi) in enumerate(box):
        pad = pad_before(geometry, axis, None if in_size is None else in_size[axis], step.name,
                         maximum)
        stride = geometry.strides[axis]
        below.append((lo * stride - pad, (hi - 1) * stride - pad + _extent(geometry, axis)))
    return tuple(below)


def graph_window(steps, key, y, x, sizes=None, maximum=max, minimum=min, input_key="input"):
    """Returns the unclipped half-open `(top, left, bottom, right)` that position `(y, x)` of
    tensor `key` reads in the input, as the union of its boxes over every path (a bounding
    box: each step maps the ends of a box monotonically, so the union's bounding box is the
    bounding box of the unions), or `WHOLE`. `sizes` (from `graph_sizes`) is needed only for
    strided 'same' layers."""
    boxes = {key: ((y, y + 1), (x, x + 1))}
    for step in reversed(steps):
        box = boxes.pop(step.name, None)
        if box is None:
            continue
        for index, below_key in enumerate(step.inputs):
            below = _box_below(step, index, box, sizes, maximum)
            if below == WHOLE:
                return WHOLE
            if below_key in boxes:
                below = tuple((minimum(a[0], b[0]), maximum(a[1], b[1]))
                              for a, b in zip(boxes[below_key], below))
            boxes[below_key] = below
    box = boxes.get(input_key, WHOLE)
    return box if box == WHOLE else (box[0][0], box[1][0], box[0][1], box[1][1])


@dataclasses.dataclass(frozen=True)
class Span:
    """Where the input of a path reads, as a function of an activation's position `p` along
    one axis: the half-open `[scale * p + lo, scale * p + hi)`, unclipped."""
    scale: int
    lo: int
    hi: int


def _span_below(step, index, span, axis, sizes):
    """The `Span` of input `index` that `span` of the step's output reads, or `WHOLE` (also
    where the reading is not affine in the position: upsampling, a broadcast input)."""
    geometry = step.geometry
    if geometry == WHOLE or not _spatial(step.in_shapes[index]):
        return WHOLE
    if geometry is None:
        return WHOLE if broadcast(step, index) else span
    if isinstance(geometry, Shift):
        move = -geometry.before[axis] if geometry.pad else geometry.before[axis]
        return Span(span.scale, span.lo + move, span.hi + move)
    if isinstance(geometry, Upsample):
        return WHOLE
    in_size = sizes.get(step.inputs[index])
    pad = pad_before(geometry, axis, None if in_size is None else in_size[axis], step.name)
    stride = geometry.strides[axis]
    return Span(span.scale * stride, span.lo * stride - pad,
                (span.hi - 1) * stride - pad + _extent(geometry, axis))


def _union(a, b):
    if WHOLE in (a, b) or a.scale != b.scale:
        return WHOLE
    return Span(a.scale, min(a.lo, b.lo), max(a.hi, b.hi))


def graph_spans(steps, key, sizes):
    """Returns `{tensor key: (row Span, column Span) or WHOLE}` for every tensor `key`
    depends on: where each reads, as an affine function of the position of one activation
    of `key` (the union over every path: paths that meet scale alike in today's CNNs; where
    they do not, or a path reads the whole map, `WHOLE`).

    Args:
      sizes: `graph_sizes` of the image size (for strided 'same' layers).
    """
    spans = {key: (Span(1, 0, 1), Span(1, 0, 1))}
    for step in reversed(steps):
        span = spans.get(step.name)
        if span is None:
            continue
        for index, below_key in enumerate(step.inputs):
            below = (WHOLE if span == WHOLE else
                     tuple(_span_below(step, index, span[a], a, sizes) for a in (0, 1)))
            if WHOLE in below:
                below = WHOLE
            if below_key in spans:
                old = spans[below_key]
                below = WHOLE if WHOLE in (old, below) else tuple(
                    _union(old[a], below[a]) for a in (0, 1))
                below = WHOLE if WHOLE in below else below
            spans[below_key] = below
    return spans


def ancestors(steps, key):
    """The keys tensor `key` depends on (itself included)."""
    found = {key}
    for step in reversed(steps):
        if step.name in found:
            found.update(step.inputs)
    return found


def graph_fits(steps, key, image_size, input_key="input"):
    """Whether images of `image_size` reach tensor `key`: every map on the way is at least 1x1."""
    sizes = graph_sizes(steps, image_size, input_key)
    return all(sizes.get(name) is None or min(sizes[name]) >= 1
               for name in ancestors(steps, key))


def graph_min_side(steps, key, input_key="input", largest=4096):
    """The smallest square side whose images reach tensor `key` (`graph_fits`), or None if
    none up to `largest` does."""
    side = 1
    while not graph_fits(steps, key, (side, side), input_key):
        side += 1
        if side > largest:
            return None
    return side
