"""Reverse rules by layer type, and the functional forward and deconv models built from them.

A model is read as a chain of steps, one per layer. Each supported layer type has a rule that says
how the layer runs forward (recording max-pool switches when asked), which forward tensors its
reverse needs, and how a signal goes back through it. Any other layer fails loudly, naming it.

Forward tensors are keyed by name: `"input"` is the preprocessed image, a layer's name its output,
and `"<pool>_switches"` a max-pool's switches.

Reference: Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks", ECCV 2014
(arXiv 1311.2901): the reverse of each layer is unpool -> rectify -> transposed filtering.
"""
import dataclasses

import keras
import tensorflow as tf

from deconv import geometry as geometry_lib
from deconv import layers as deconv_layers
from deconv import preprocessing
from deconv import window as window_lib
from deconv.errors import DeconvError

INPUT_KEY = "input"


def switches_key(layer_name):
    """Returns the key of a max-pool layer's switches among the forward tensors."""
    return f"{layer_name}_switches"


@dataclasses.dataclass(frozen=True)
class Geometry:
    """The spatial footprint of a windowed layer: kernel, stride and dilation per axis, padding."""
    kernel: tuple
    strides: tuple
    dilation: tuple
    padding: str


@dataclasses.dataclass(frozen=True)
class Step:
    """One layer of the chain: the layer, its rule, and the key of the tensor it reads."""
    layer: keras.layers.Layer
    rule: "LayerRule"
    input_key: str

    @property
    def name(self):
        return self.layer.name


def _activation_name(layer):
    return getattr(getattr(layer, "activation", None), "__name__", None)


def _rectify(step, signal, tensors, rule):
    """The reverse of a step's ReLU; guided backprop also reads the step's forward output."""
    rectify = deconv_layers.Rectify(rule, name=f"{step.name}_rectify")
    return rectify(signal, tensors[step.name]) if rule == "guided" else rectify(signal)


def _rectify_window(step, signal, window, tensors, rule):
    """`_rectify` on a windowed signal (see `deconv.window`)."""
    rectified = tf.nn.relu(signal)
    if rule == "guided":
        rectified *= tf.cast(window.crop(tensors[step.name]) > 0, rectified.dtype)
    return rectified


def _window_below(step, window, sizes, index):
    """`(produced, below)` windows of `steps[index]`'s input (see `deconv.window.Window.below`)."""
    layer_geometry = step.rule.geometry(step.layer)
    pads = [geometry_lib.pad_before(layer_geometry, axis, sizes[index][axis], step.name,
                                    tf.maximum) for axis in (0, 1)]
    return window.below(layer_geometry, sizes[index], pads)


class LayerRule:
    """How one layer type runs forward and backward. Subclasses override what differs."""

    def unsupported_reason(self, layer):
        """Returns why this layer's configuration is unsupported, or None."""
        return None

    def forward(self, step, x, with_switches):
        """Returns the forward tensors this step adds, keyed by name."""
        return {step.name: step.layer(x)}

    def needs(self, step, rule):
        """Returns the keys of the forward tensors `reverse` reads."""
        return []

    def reverse(self, step, signal, tensors, rule):
        """Returns the signal at the step's input, given the signal at its output."""
        return signal

    def window_needs(self, step, rule):
        """Returns the keys of the forward tensors `reverse_window` reads."""
        return []

    def reverse_window(self, step, signal, window, tensors, rule, sizes, index):
        """`reverse` on a signal that lives in a window (see `deconv.window`).

        Args:
          sizes: the map sizes each step reads (`geometry.input_sizes`); `index`: the step's.

        Returns:
          `(signal, window)` at the step's input.
        """
        return signal, window

    def geometry(self, layer):
        """Returns the layer's `Geometry`, or None for a pointwise layer."""
        return None


class IdentityRule(LayerRule):
    """Layers that are the identity at inference (dropout)."""


class ReluRule(LayerRule):
    """`ReLU` layers and `Activation("relu")`: rectified on the way back."""

    def unsupported_reason(self, layer):
        if isinstance(layer, keras.layers.ReLU):
            config = layer.get_config()
            if (config.get("max_value") is not None or config.get("negative_slope", 0.0)
                    or config.get("threshold", 0.0)):
                return "only a plain ReLU (no max_value, negative_slope or threshold) is supported"
        return None

    def needs(self, step, rule):
        return [step.name] if rule == "guided" else []

    def reverse(self, step, signal, tensors, rule):
        return _rectify(step, signal, tensors, rule)

    def window_needs(self, step, rule):
        return self.needs(step, rule)

    def reverse_window(self, step, signal, window, tensors, rule, sizes, index):
        return _rectify_window(step, signal, window, tensors, rule), window


class ActivationRule(ReluRule):
    """`Activation` layers: `relu` is rectified, `linear` passes."""

    def unsupported_reason(self, layer):
        if _activation_name(layer) not in ("relu", "linear"):
            return f"activation {_activation_name(layer)!r} (only relu and linear are supported)"
        return None

    def needs(self, step, rule):
        return super().needs(step, rule) if _activation_name(step.layer) == "relu" else []

    def reverse(self, step, signal, tensors, rule):
        if _activation_name(step.layer) == "relu":
            return super().reverse(step, signal, tensors, rule)
        return signal

    def reverse_window(self, step, signal, window, tensors, rule, sizes, index):
        if _activation_name(step.layer) == "relu":
            return super().reverse_window(step, signal, window, tensors, rule, sizes, index)
        return signal, window


class Conv2DRule(LayerRule):
    """`Conv2D` with a relu or linear activation: rectify (if relu), then the tied transpose."""

    def unsupported_reason(self, layer):
        if layer.data_format != "channels_last":
            return "data_format must be channels_last"
        if layer.groups != 1:
            return "grouped convolutions are not supported"
        if _activation_name(layer) not in ("relu", "linear"):
            return f"activation {_activation_name(layer)!r} (only relu and linear are supported)"
        return None

    def needs(self, step, rule):
        keys = [step.name] if rule == "guided" and _activation_name(step.layer) == "relu" else []
        if tuple(step.layer.strides) != (1, 1):
            keys.append(step.input_key)
        return keys

    def reverse(self, step, signal, tensors, rule):
        layer = step.layer
        if _activation_name(layer) == "relu":
            signal = _rectify(step, signal, tensors, rule)
        transpose = deconv_layers.TiedConvTranspose(
            kernel=layer.kernel, strides=layer.strides, padding=layer.padding,
            dilation_rate=layer.dilation_rate, name=f"{step.name}_transpose")
        if tuple(layer.strides) != (1, 1):
            return transpose(signal, tensors[step.input_key])
        return transpose(signal)

    def window_needs(self, step, rule):
        relu = _activation_name(step.layer) == "relu"
        return [step.name] if rule == "guided" and relu else []

    def reverse_window(self, step, signal, window, tensors, rule, sizes, index):
        if _activation_name(step.layer) == "relu":
            signal = _rectify_window(step, signal, window, tensors, rule)
        produced, below = _window_below(step, window, sizes, index)
        return window_lib.conv_transpose(signal, step.layer.kernel, self.geometry(step.layer),
                                         produced, below), below

    def geometry(self, layer):
        return Geometry(tuple(layer.kernel_size), tuple(layer.strides),
                        tuple(layer.dilation_rate), layer.padding)


class MaxPool2DRule(LayerRule):
    """`MaxPooling2D`: switches recorded by `ArgmaxPool`, reversed by `Unpool`."""

    def unsupported_reason(self, layer):
        if layer.data_format != "channels_last":
            return "data_format must be channels_last"
        return None

    def forward(self, step, x, with_switches):
        if not with_switches:
            return super().forward(step, x, with_switches)
        layer = step.layer
        pooled, switches = deconv_layers.ArgmaxPool(
            layer.pool_size, layer.strides, layer.padding, name=f"{step.name}_argmax")(x)
        return {step.name: pooled, switches_key(step.name): switches}

    def needs(self, step, rule):
        return [switches_key(step.name), step.input_key]

    def reverse(self, step, signal, tensors, rule):
        layer = step.layer
        unpool = deconv_layers.Unpool(layer.pool_size, layer.strides, layer.padding,
                                      name=f"{step.name}_unpool")
        return unpool(signal, tensors[switches_key(step.name)], tensors[step.input_key])

    def window_needs(self, step, rule):
        return [switches_key(step.name)]

    def reverse_window(self, step, signal, window, tensors, rule, sizes, index):
        produced, below = _window_below(step, window, sizes, index)
        return window_lib.unpool(signal, tensors[switches_key(step.name)],
                                 self.geometry(step.layer), window, produced, below,
                                 signal.shape[-1]), below

    def geometry(self, layer):
        return Geometry(tuple(layer.pool_size), tuple(layer.strides), (1, 1), layer.padding)


# Exact types first: `isinstance` would let a subclass with another `call` through unnoticed.
RULES = (
    (keras.layers.Conv2D, Conv2DRule()),
    (keras.layers.MaxPooling2D, MaxPool2DRule()),
    (keras.layers.ReLU, ReluRule()),
    (keras.layers.Activation, ActivationRule()),
    (keras.layers.Dropout, IdentityRule()),
    (keras.layers.SpatialDropout2D, IdentityRule()),
)


def _rule_for(layer):
    for layer_type, rule in RULES:
        if type(layer) is layer_type:
            return rule
    return None


def _chain_layers(model):
    """Returns the model's layers in order, checking that each reads the one before it."""
    if not isinstance(model, keras.Model):
        raise DeconvError(f"Expected a keras.Model (e.g. from deconv.load_model); received "
                          f"{type(model).__name__}.")
    try:
        inputs, outputs = model.inputs, model.outputs
    except (AttributeError, ValueError):
        inputs = outputs = None
    if not inputs or not outputs:
        raise DeconvError(f"Model {model.name!r} has no symbolic inputs: build it with the "
                          f"functional API or as a Sequential with an Input; subclassed models "
                          f"cannot be read as a chain of layers.")
    if len(inputs) != 1 or len(outputs) != 1:
        raise DeconvError(f"Model {model.name!r} must have one input and one output.")
    if inputs[0].shape[-1] != 3:
        raise DeconvError(f"Model {model.name!r} takes {inputs[0].shape[-1]} input channels; "
                          f"deconv projects RGB images (3 channels).")
    if isinstance(model, keras.Sequential):
        return [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    config = model.get_config()
    previous, chain = None, []
    for layer_config in config["layers"]:
        name = layer_config["name"]
        if layer_config["class_name"] == "InputLayer":
            previous = name
            continue
        nodes = layer_config.get("inbound_nodes", [])
        sources = [arg["config"]["keras_history"][0] for node in nodes
                   for arg in node.get("args", []) if isinstance(arg, dict)
                   and arg.get("class_name") == "__keras_tensor__"]
        if sources != [previous]:
            raise DeconvError(
                f"Layer {name!r} of model {model.name!r} does not simply read the layer before "
                f"it: deconv supports chains of layers (VGG-style), without branches or merges.")
        chain.append(model.get_layer(name))
        previous = name
    return chain


def chain_steps(model):
    """Returns the model as a list of `Step`s.

    Raises:
      DeconvError: if the model is not a chain, or holds a layer no rule supports; the message
        names every such layer and lists the supported types.
    """
    steps, problems, input_key = [], [], INPUT_KEY
    for layer in _chain_layers(model):
        rule = _rule_for(layer)
        reason = (f"type {type(layer).__name__} is not supported" if rule is None
                  else rule.unsupported_reason(layer))
        if reason:
            problems.append(f"{layer.name} ({reason})")
            continue
        steps.append(Step(layer, rule, input_key))
        input_key = layer.name
    if problems:
        supported = ", ".join(layer_type.__name__ for layer_type, _ in RULES)
        raise DeconvError(f"Model {model.name!r} has layers deconv cannot reverse: "
                          f"{'; '.join(problems)}. Supported: {supported}.")
    if not steps:
        raise DeconvError(f"Model {model.name!r} has no layers to reverse.")
    return steps


def forward_graph(steps, mode, with_switches):
    """Builds the symbolic forward pass from RGB images in [0, 255] through every step.

    Args:
      steps: the chain, from `chain_steps`.
      mode: the preprocessing mode applied first.
      with_switches: whether max-pools record their switches (slower: use only to project).

    Returns:
      `(images, tensors)`: the input `KerasTensor` and `{key: KerasTensor}` of every forward
      tensor. `forward_model` cuts models out of it.
    """
    images = keras.Input((None, None, 3), name="images")
    tensors = {INPUT_KEY: preprocessing.Preprocess(mode, name="preprocess")(images)}
    for step in steps:
        tensors.update(step.rule.forward(step, tensors[step.input_key], with_switches))
    return images, tensors


def forward_model(graph, outputs, name):
    """Returns a `keras.Model` from the graph's images to the dict of the keys in `outputs`.

    A functional model runs only the layers its outputs depend on, so a model for a shallow
    layer stops there.
    """
    images, tensors = graph
    return keras.Model(images, {key: tensors[key] for key in outputs}, name=name)


def deconv_inputs(steps, target, rule):
    """Returns the keys of the forward tensors that the deconv model of `target` reads."""
    keys = []
    for step in steps[:target + 1]:
        keys.extend(key for key in step.rule.needs(step, rule) if key not in keys)
    return keys


def window_inputs(steps, target, rule):
    """Returns the keys of the forward tensors the windowed reverse of `target` reads."""
    keys = []
    for step in steps[:target + 1]:
        keys.extend(key for key in step.rule.window_needs(step, rule) if key not in keys)
    return keys


def build_deconv(steps, target, mode, rule, forward_specs):
    """Builds the functional deconv model that takes a signal at `steps[target]` to RGB pixels.

    Args:
      steps: the chain, from `chain_steps`.
      target: index of the step whose output the signal lives at.
      mode: the preprocessing mode whose adjoint ends the path.
      rule: the ReLU reverse rule, `"deconvnet"` or `"guided"`.
      forward_specs: `{key: KerasTensor}` of forward tensors, for the inputs' shapes and dtypes.

    Returns:
      A `keras.Model` taking a dict with `"signal"` and the keys of `deconv_inputs`, returning
      the reconstruction `(N, H, W, 3)` in RGB pixel space.
    """
    target_spec = forward_specs[steps[target].name]
    inputs = {"signal": keras.Input(target_spec.shape[1:], name="signal")}
    for key in deconv_inputs(steps, target, rule):
        spec = forward_specs[key]
        inputs[key] = keras.Input(spec.shape[1:], dtype=spec.dtype,
                                  name=key)
    signal = inputs["signal"]
    for step in reversed(steps[:target + 1]):
        signal = step.rule.reverse(step, signal, inputs, rule)
    reconstruction = preprocessing.PreprocessAdjoint(mode, name="to_rgb")(signal)
    return keras.Model(inputs, reconstruction, name=f"deconv_{steps[target].name}")
