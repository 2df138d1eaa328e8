"""The model as a chain of steps, and the functional forward and deconv models built from it.

`chain_steps` reads a Keras model as a chain of `Step`s, one per layer, each with the rule of
its layer type (`deconv.core.rules`); `forward_graph` runs the chain symbolically (recording
max-pool switches when asked) and `build_deconv` reverses it, rule by rule, into a functional
deconv model that shares the forward layers' kernel variables.

Reference: Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks", ECCV 2014
(arXiv 1311.2901), section 2.1.
"""
import dataclasses

import keras

from deconv.core import preprocessing
from deconv.core import rules
from deconv.errors import DeconvError

INPUT_KEY = "input"


@dataclasses.dataclass(frozen=True)
class Step:
    """One layer of the chain: the layer, its rule, the key of the tensor it reads, and its
    `deconv.core.geometry.Geometry` (None for a pointwise layer)."""
    layer: keras.layers.Layer
    rule: rules.LayerRule
    input_key: str
    geometry: object = None

    @property
    def name(self):
        return self.layer.name


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
        rule = rules.rule_for(layer)
        reason = (f"type {type(layer).__name__} is not supported" if rule is None
                  else rule.unsupported_reason(layer))
        if reason:
            problems.append(f"{layer.name} ({reason})")
            continue
        steps.append(Step(layer, rule, input_key, rule.geometry(layer)))
        input_key = layer.name
    if problems:
        supported = ", ".join(layer_type.__name__ for layer_type, _ in rules.LAYER_RULES)
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
