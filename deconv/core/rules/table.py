"""The layer-rule registry: one table giving each layer type its reverse rule and its geometry.

`rule_for` picks a layer's rule by its exact type and configuration: the paper's rules
(`paper`: rectify, tied transposed convolution, unpooling by switches), the other explicit
rules (`linear`, `merges`, `shapes`), the logits rule for a softmax classifier that ends the
model, or the generic rule (`generic`: the layer's own vector-Jacobian product at the forward
point) for every other layer and operation. Layers that cannot be reversed this way (recurrent
or stateful layers, attention with masks, layers whose outputs are not floats) are refused with
the reason (`refusal`). `geometry_of` gives what each output position reads
(`deconv.core.geometry`).

A new layer type is one row of `TABLE`: its rule (a `LayerRule`, or a function of the layer
choosing one), its geometry, and its logits rule if a fused softmax can end a classifier.
"""
import dataclasses

import keras

from deconv.core import geometry as geometry_lib
from deconv.core.rules import linear
from deconv.core.rules import merges
from deconv.core.rules import paper
from deconv.core.rules import shapes
from deconv.core.rules.base import RELU_FAMILY
from deconv.core.rules.base import activation_name
from deconv.core.rules.generic import GenericRule

_L = keras.layers
_IDENTITY = paper.IdentityRule()
_RELU = paper.ReluRule()
_GENERIC = GenericRule()
POINTWISE = None  # the geometry of a layer whose output position reads its input's position


@dataclasses.dataclass(frozen=True)
class Row:
    """One layer type's entry of `TABLE`.

    Attributes:
      rule: its `LayerRule`, or a function of the layer choosing one.
      geometry: what each output position reads: `POINTWISE`, `deconv.core.geometry.WHOLE`,
        or a function `(layer, in_shapes) -> geometry`.
      logits: the rule of such a layer whose softmax ends the model (projected from its
        logits), or None.
    """
    rule: object = _GENERIC
    geometry: object = geometry_lib.WHOLE
    logits: object = None


# Rules chosen by the layer's configuration.

def _conv_like(rule):
    """A rule for a layer with a fused activation: itself for a ReLU-family or linear one, the
    generic rule for any other (its exact gradient)."""
    def choose(layer):
        if activation_name(layer) in (*RELU_FAMILY, "linear"):
            return rule
        return _GENERIC
    return choose


def _conv2d(layer):
    return _conv_like(paper.Conv2DRule())(layer) if layer.groups == 1 else _GENERIC


def _relu_layer(layer):
    plain = not layer.negative_slope and not layer.threshold
    return _RELU if plain else _GENERIC


def _activation_layer(layer):
    name = activation_name(layer)
    return _RELU if name in RELU_FAMILY else _IDENTITY if name == "linear" else _GENERIC


def _last_axis_rule(rule):
    def choose(layer):
        axis = layer.axis if isinstance(layer.axis, (list, tuple)) else [layer.axis]
        return rule if list(axis) in ([-1], [3]) else _GENERIC
    return choose


# Geometries chosen by the layer's configuration.

def _kernel(layer, in_shapes):
    return geometry_lib.Geometry(tuple(layer.kernel_size), tuple(layer.strides),
                                 tuple(layer.dilation_rate), layer.padding)


def _pool(layer, in_shapes):
    return geometry_lib.Geometry(tuple(layer.pool_size), tuple(layer.strides), (1, 1),
                                 layer.padding)


def _shift(layer, in_shapes):
    padding = type(layer) is _L.ZeroPadding2D
    (top, bottom), (left, right) = layer.padding if padding else layer.cropping
    return geometry_lib.Shift((top, left), (bottom, right), padding)


def _upsample(layer, in_shapes):
    if layer.interpolation == "nearest":
        return geometry_lib.Upsample(tuple(layer.size))
    return geometry_lib.WHOLE


def _axes(layer):
    axis = getattr(layer, "axis", -1)
    return list(axis) if isinstance(axis, (list, tuple)) else [axis]


def _on_last_axis(layer, in_shapes):
    """Pointwise when the layer works across the channels of each position only."""
    last = bool(in_shapes) and all(axis in (-1, len(in_shapes[0]) - 1) for axis in _axes(layer))
    return POINTWISE if last else geometry_lib.WHOLE


def _dense(layer, in_shapes):
    """On the channels of each position, for maps."""
    return POINTWISE if in_shapes and len(in_shapes[0]) == 4 else geometry_lib.WHOLE


# The table, by exact type (`isinstance` would let a subclass with another `call` through).
TABLE = {
    _L.Conv2D: Row(_conv2d, _kernel, linear.LogitsRule(linear.Conv2DLogits())),
    _L.DepthwiseConv2D: Row(_conv_like(linear.DepthwiseRule()), _kernel),
    _L.SeparableConv2D: Row(_conv_like(linear.SeparableRule()), _kernel),
    _L.Dense: Row(_conv_like(linear.DenseRule()), _dense, linear.LogitsRule(linear.DenseRule())),
    _L.MaxPooling2D: Row(paper.MaxPool2DRule(), _pool),
    _L.AveragePooling2D: Row(shapes.AveragePoolRule(), _pool),
    _L.GlobalAveragePooling2D: Row(shapes.GlobalAveragePoolRule()),
    _L.ReLU: Row(_relu_layer, POINTWISE),
    _L.Activation: Row(_activation_layer, POINTWISE, linear.LogitsRule()),
    _L.BatchNormalization: Row(_last_axis_rule(linear.BatchNormRule()), _on_last_axis),
    _L.Add: Row(merges.AddRule(), POINTWISE),
    _L.Concatenate: Row(_last_axis_rule(merges.ConcatenateRule()), _on_last_axis),
    _L.Flatten: Row(shapes.ReshapeRule()),
    _L.Reshape: Row(shapes.ReshapeRule()),
    _L.ZeroPadding2D: Row(shapes.PaddingRule(), _shift),
    _L.Cropping2D: Row(shapes.CroppingRule(), _shift),
    _L.UpSampling2D: Row(geometry=_upsample),
    **{layer_type: Row(geometry=_on_last_axis) for layer_type in (
        _L.LayerNormalization, _L.Normalization, _L.UnitNormalization)},
    **{layer_type: Row(_IDENTITY, POINTWISE) for layer_type in (
        _L.Dropout, _L.SpatialDropout2D, _L.GaussianNoise, _L.GaussianDropout, _L.AlphaDropout,
        _L.ActivityRegularization)},
    **{layer_type: Row(geometry=POINTWISE) for layer_type in (
        _L.LeakyReLU, _L.PReLU, _L.ELU, _L.Softmax, _L.Rescaling, _L.Subtract, _L.Multiply,
        _L.Average, _L.Maximum, _L.Minimum)},
}

# Pointwise beyond the table: subclasses of its pointwise layer types, Keras's own elementwise
# operations (`x + y`, `keras.ops.multiply`) and the scaling layers of keras.applications
# models, by class name; all reversed by the generic rule.
_POINTWISE_TYPES = tuple(kind for kind, row in TABLE.items() if row.geometry is POINTWISE)
_POINTWISE_NAMES = {"Add", "Subtract", "Multiply", "Divide", "TrueDivide", "Maximum", "Minimum",
                    "Negative", "Absolute", "Square", "Sqrt", "Exp", "Log", "Sigmoid", "Tanh",
                    "Relu", "Relu6", "Silu", "Gelu", "HardSigmoid", "HardSilu", "Power",
                    "LayerScale", "CustomScaleLayer", "StochasticDepth"}

# Refused: state, recurrence, lookups; a reverse rule cannot reproduce their inference.
_REFUSED = (_L.RNN, _L.LSTM, _L.GRU, _L.SimpleRNN, _L.ConvLSTM2D, _L.Bidirectional,
            _L.Embedding, _L.StringLookup, _L.IntegerLookup, _L.Hashing, _L.CategoryEncoding,
            _L.TextVectorization)


def refusal(layer, call, out_dtype=None):
    """Why `layer` (called as `call`) cannot be reversed, or None."""
    if isinstance(layer, _REFUSED) or getattr(layer, "stateful", False):
        return f"{type(layer).__name__} holds state or is recurrent"
    if isinstance(layer, _L.MultiHeadAttention) and any(
            key in call.kwargs for key in ("attention_mask", "query_mask", "value_mask",
                                           "key_mask")):
        return "attention with a mask"
    if getattr(layer, "data_format", "channels_last") != "channels_last":
        return "data_format must be channels_last"
    if out_dtype is not None and not str(out_dtype).startswith(("float", "bfloat")):
        return f"its output is {out_dtype}, not a float"
    return None


def rule_for(layer, ends_model=False):
    """The reverse rule of `layer`; `ends_model`: no other step reads its output (a softmax
    there is projected from its logits)."""
    row = TABLE.get(type(layer))
    if row is None:
        return _GENERIC
    if ends_model and row.logits is not None and activation_name(layer) == "softmax":
        return row.logits
    return row.rule(layer) if callable(row.rule) else row.rule


def geometry_of(layer, in_shapes):
    """What each output position of `layer` reads: a `deconv.core.geometry` kind (None:
    pointwise)."""
    row = TABLE.get(type(layer))
    if row is not None:
        return row.geometry(layer, in_shapes) if callable(row.geometry) else row.geometry
    if isinstance(layer, _POINTWISE_TYPES) or type(layer).__name__ in _POINTWISE_NAMES:
        return POINTWISE
    return geometry_lib.WHOLE
