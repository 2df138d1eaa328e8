"""The functional forward and deconv models built from a model's steps (`deconv.core.graph`).

`forward_graph` runs every step symbolically on a new input (the caller's own layers: the same
variables, never copies), recording max-pool switches when asked. `build_deconv` reverses the
steps a target tensor depends on, from the target down to the pixels, each by its rule
(`deconv.core.rules.table`); where a tensor was read by several steps, the signals coming back from
them add up. The model ends with the adjoint of the preprocessing, so a reconstruction lives in
RGB pixel space.

Reference: Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks", ECCV 2014
(arXiv 1311.2901), section 2.1.
"""
import keras

from deconv.core import preprocessing as preprocessing_lib
from deconv.core.geometry import ancestors
from deconv.core.graph import INPUT_KEY
from deconv.core.rules.base import Context


def forward_graph(steps, preprocessing, with_switches, input_shape=(None, None, 3)):
    """Builds the symbolic forward pass from RGB images in [0, 255] through every step.

    Args:
      steps: the model's steps (`deconv.core.graph.read_model`).
      preprocessing: the name of the preprocessing applied first.
      with_switches: whether max-pools record their switches (slower: use only to project).
      input_shape: the model's input shape, without the batch (fixed for a model with a
        classifier, `(None, None, 3)` otherwise).

    Returns:
      `(images, tensors)`: the input `KerasTensor` and `{key: KerasTensor}` of every forward
      tensor. `forward_model` cuts models out of it.
    """
    images = keras.Input(tuple(input_shape), name="images")
    tensors = {INPUT_KEY: preprocessing_lib.Preprocess(preprocessing, name="preprocess")(images)}
    for step in steps:
        tensors.update(step.rule.forward(step, tensors, with_switches))
    return images, tensors


def forward_model(graph, outputs, name):
    """Returns a `keras.Model` from the graph's images to the dict of the keys in `outputs`.

    A functional model runs only the layers its outputs depend on, so a model for a shallow
    layer stops there.
    """
    images, tensors = graph
    return keras.Model(images, {key: tensors[key] for key in outputs}, name=name)


def _path(steps, targets):
    """The steps the key `targets` (or each of a tuple of keys) depends on, in topological
    order."""
    needed = set()
    for target in (targets,) if isinstance(targets, str) else targets:
        needed |= ancestors(steps, target)
    return [step for step in steps if step.name in needed]


def signal_names(targets):
    """`{key: input name}` of the signals of a deconv model of `targets` (see
    `build_deconv`)."""
    if isinstance(targets, str):
        return {targets: "signal"}
    return {key: f"signal_{number}" for number, key in enumerate(targets)}


def deconv_inputs(steps, target, relu_rule):
    """Returns the keys of the forward tensors that the deconv model of `target` (a key, or a
    tuple of keys) reads."""
    keys = []
    for step in _path(steps, target):
        keys.extend(key for key in step.rule.needs(step, relu_rule) if key not in keys)
    return keys


def window_inputs(steps, target, relu_rule):
    """Returns the keys of the forward tensors the windowed reverse of chain step `target`
    (an index) reads."""
    keys = []
    for step in steps[:target + 1]:
        keys.extend(key for key in step.rule.window_needs(step, relu_rule) if key not in keys)
    return keys


def _summed(signals, key):
    parts = signals.pop(key)
    return parts[0] if len(parts) == 1 else keras.layers.Add(name=f"{key}_fan_in")(parts)


def build_deconv(steps, target, preprocessing, relu_rule, specs):
    """Builds the functional deconv model that takes a signal at tensor `target` to RGB pixels.

    Args:
      steps: the model's steps.
      target: the key of the tensor the signal lives at, or a tuple of keys: a signal at each
        (the windowed reverse of a graph hands over several, `deconv.core.graph_window`).
      preprocessing: the name of the preprocessing whose adjoint ends the path.
      relu_rule: the ReLU rule, `"deconvnet"` or `"guided"`.
      specs: `{key: KerasTensor}` of the forward tensors, for the inputs' shapes and dtypes.

    Returns:
      A `keras.Model` taking a dict with the signals (`signal_names`) and the keys of
      `deconv_inputs`, returning the reconstruction `(N, H, W, 3)` in RGB pixel space.
    """
    names = signal_names(target)
    inputs = {name: keras.Input(specs[key].shape[1:], name=name) for key, name in names.items()}
    for key in deconv_inputs(steps, target, relu_rule):
        inputs[key] = keras.Input(specs[key].shape[1:], dtype=specs[key].dtype, name=key)
    context = Context(inputs, specs, relu_rule)
    signals = {key: [inputs[name]] for key, name in names.items()}
    for step in reversed(_path(steps, target)):
        if step.name not in signals:
            continue
        below = step.rule.reverse(step, _summed(signals, step.name), context)
        for key, signal in zip(step.inputs, below):
            if signal is not None:
                signals.setdefault(key, []).append(signal)
    reconstruction = preprocessing_lib.PreprocessAdjoint(preprocessing, name="to_rgb")(
        _summed(signals, INPUT_KEY))
    label = target if isinstance(target, str) else f"{len(target)}_signals_{target[0]}"
    return keras.Model(inputs, reconstruction, name=f"deconv_{label}")
