"""The layer-rule registry: which reverse rule and which geometry each layer type gets.

`rule_for` picks a layer's rule by its exact type and configuration: the paper's rules
(`deconv.core.chain_rules`: rectify, tied transposed convolution, unpooling by switches), the
explicit rules of `deconv.core.graph_rules`, or the generic rule (the layer's own
vector-Jacobian product at the forward point) for every other layer and operation. Layers that
cannot be reversed this way (recurrent or stateful layers, attention with masks, layers whose
outputs are not floats) are refused with the reason. `geometry_of` gives what each output
position reads (`deconv.core.geometry`).

A new layer type is one entry in `EXPLICIT` (and, if it moves pixels, in `geometry_of`).
"""
import keras

from deconv.core import chain_rules
from deconv.core import geometry as geometry_lib
from deconv.core import graph_rules
from deconv.core.chain_rules import RELU_FAMILY
from deconv.core.chain_rules import activation_name

_L = keras.layers
_IDENTITY = chain_rules.IdentityRule()
_RELU = chain_rules.ReluRule()
_GENERIC = graph_rules.GenericRule()


def _conv_like(rule):
    """A rule for a layer with a fused activation: itself for a ReLU-family or linear one, the
    generic rule for any other (its exact gradient)."""
    def choose(layer):
        if activation_name(layer) in (*RELU_FAMILY, "linear"):
            return rule
        return _GENERIC
    return choose


def _relu_layer(layer):
    plain = not layer.negative_slope and not layer.threshold
    return _RELU if plain else _GENERIC


def _activation_layer(layer):
    name = activation_name(layer)
    return _RELU if name in RELU_FAMILY else _IDENTITY if name == "linear" else _GENERIC


def _last_axis(rule):
    def choose(layer):
        axis = layer.axis if isinstance(layer.axis, (list, tuple)) else [layer.axis]
        return rule if list(axis) in ([-1], [3]) else _GENERIC
    return choose


def _conv2d(layer):
    return _conv_like(chain_rules.Conv2DRule())(layer) if layer.groups == 1 else _GENERIC


# Explicit rules by exact type (`isinstance` would let a subclass with another `call` through):
# a rule, or a function of the layer choosing one.
EXPLICIT = {
    _L.Conv2D: _conv2d,
    _L.DepthwiseConv2D: _conv_like(graph_rules.DepthwiseRule()),
    _L.SeparableConv2D: _conv_like(graph_rules.SeparableRule()),
    _L.Dense: _conv_like(graph_rules.DenseRule()),
    _L.MaxPooling2D: chain_rules.MaxPool2DRule(),
    _L.ReLU: _relu_layer,
    _L.Activation: _activation_layer,
    _L.BatchNormalization: _last_axis(graph_rules.BatchNormRule()),
    _L.Add: graph_rules.AddRule(),
    _L.Concatenate: _last_axis(graph_rules.ConcatenateRule()),
    _L.Flatten: graph_rules.ReshapeRule(),
    _L.Reshape: graph_rules.ReshapeRule(),
    _L.ZeroPadding2D: graph_rules.PaddingRule(),
    _L.Cropping2D: graph_rules.CroppingRule(),
    _L.AveragePooling2D: graph_rules.AveragePoolRule(),
    _L.GlobalAveragePooling2D: graph_rules.GlobalAveragePoolRule(),
    **{layer_type: _IDENTITY for layer_type in (
        _L.Dropout, _L.SpatialDropout2D, _L.GaussianNoise, _L.GaussianDropout, _L.AlphaDropout,
        _L.ActivityRegularization)},
}

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


def rule_for(layer):
    """The reverse rule of `layer` (see the module's docstring)."""
    choice = EXPLICIT.get(type(layer))
    if choice is None:
        return _GENERIC
    return choice(layer) if callable(choice) else choice


def is_explicit(layer):
    """Whether `layer` is reversed by an explicit rule rather than the generic one."""
    return rule_for(layer) is not _GENERIC


# Pointwise layers beyond activations and merges: per position, across channels at most.
_POINTWISE = (_L.Activation, _L.ReLU, _L.LeakyReLU, _L.PReLU, _L.ELU, _L.Softmax,
              _L.Rescaling, _L.Add, _L.Subtract, _L.Multiply, _L.Average, _L.Maximum,
              _L.Minimum, _L.Dropout, _L.SpatialDropout2D, _L.GaussianNoise,
              _L.GaussianDropout, _L.AlphaDropout, _L.ActivityRegularization)
# Keras's own elementwise operations (`x + y`, `keras.ops.multiply`) and the scaling layers of
# keras.applications models, by class name.
_POINTWISE_NAMES = {"Add", "Subtract", "Multiply", "Divide", "TrueDivide", "Maximum", "Minimum",
                    "Negative", "Absolute", "Square", "Sqrt", "Exp", "Log", "Sigmoid", "Tanh",
                    "Relu", "Relu6", "Silu", "Gelu", "HardSigmoid", "HardSilu", "Power",
                    "LayerScale", "CustomScaleLayer", "StochasticDepth"}


def _axes(layer):
    axis = getattr(layer, "axis", -1)
    return list(axis) if isinstance(axis, (list, tuple)) else [axis]


def geometry_of(layer, in_shapes):
    """What each output position of `layer` reads: a `deconv.core.geometry` kind."""
    kind = type(layer)
    if kind in (_L.Conv2D, _L.DepthwiseConv2D, _L.SeparableConv2D):
        return geometry_lib.Geometry(tuple(layer.kernel_size), tuple(layer.strides),
                                     tuple(layer.dilation_rate), layer.padding)
    if kind in (_L.MaxPooling2D, _L.AveragePooling2D):
        return geometry_lib.Geometry(tuple(layer.pool_size), tuple(layer.strides), (1, 1),
                                     layer.padding)
    if kind in (_L.ZeroPadding2D, _L.Cropping2D):
        amounts = layer.padding if kind is _L.ZeroPadding2D else layer.cropping
        (top, bottom), (left, right) = amounts
        return geometry_lib.Shift((top, left), (bottom, right), kind is _L.ZeroPadding2D)
    if kind is _L.UpSampling2D and layer.interpolation == "nearest":
        return geometry_lib.Upsample(tuple(layer.size))
    last_axis = all(axis in (-1, len(in_shapes[0]) - 1) for axis in _axes(layer)) if (
        in_shapes) else False
    if kind in (_L.BatchNormalization, _L.LayerNormalization, _L.Normalization,
                _L.UnitNormalization, _L.Concatenate) and last_axis:
        return None
    if kind is _L.Dense and in_shapes and len(in_shapes[0]) == 4:
        return None  # on the channels of each position
    if isinstance(layer, _POINTWISE) or kind.__name__ in _POINTWISE_NAMES:
        return None
    return geometry_lib.WHOLE
