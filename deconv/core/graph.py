"""A Keras model read as a graph of steps: one per layer call, in topological order.

Functional and Sequential models are read from their configs (public: each layer call with the
tensors it reads), nested models are flattened into the outer graph, and Keras operations
(`x + y`) are steps like layers. Each step records its layer, the rule that reverses it
(`deconv.core.rules.table`, chosen once the whole graph is read: a softmax that ends it is
projected from its logits), the keys of the tensors it reads, its own key, what its output
positions read (`geometry`), its recorded call (to replay it on other tensors) and its inputs'
static shapes. Tensors are keyed by name: `"input"` is the preprocessed image, a step's key is its
layer's name (`name#k` for the k-th call of a shared layer; `outer/name` for a nested model's
layer whose name is taken).
"""
import dataclasses

import keras

from deconv.core.calls import Call
from deconv.core.calls import Ref
from deconv.core.calls import fill
from deconv.core.rules import table
from deconv.errors import DeconvError

INPUT_KEY = "input"


@dataclasses.dataclass(frozen=True)
class Step:
    """One layer call of the model.

    Attributes:
      layer: the Keras layer or operation.
      rule: its reverse rule (`deconv.core.rules.table.rule_for`).
      inputs: the keys of the tensors it reads, in call order.
      name: the key of its output (the layer's name for its first call).
      geometry: what each output position reads (`deconv.core.geometry`).
      call: its recorded `Call`.
      in_shapes: the static shapes of `inputs`, as the model knows them; `shape`: its output's.
      refused: why the step cannot be reversed (recurrent, stateful, ...), or None: it runs
        forward, and only a projection through it is refused.
    """
    layer: object
    rule: object
    inputs: tuple
    name: str
    geometry: object = None
    call: Call = None
    in_shapes: tuple = ()
    shape: tuple = ()
    refused: str = None

    @property
    def input_key(self):
        """The key of the (first) tensor the step reads."""
        return self.inputs[0]


def _check_model(model):
    if not isinstance(model, keras.Model):
        raise DeconvError(f"Expected a keras.Model (e.g. from deconv.load_model); received "
                          f"{type(model).__name__}.")
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        inputs = None
    if not inputs:
        raise DeconvError(f"Model {model.name!r} has no symbolic inputs: build it with the "
                          f"functional API or as a Sequential with an Input; subclassed models "
                          f"cannot be read as a graph of layers.")
    if len(inputs) != 1:
        raise DeconvError(f"Model {model.name!r} has {len(inputs)} inputs; deconv projects one "
                          f"image input.")
    if inputs[0].shape[-1] != 3:
        raise DeconvError(f"Model {model.name!r} takes {inputs[0].shape[-1]} input channels; "
                          f"deconv projects RGB images (3 channels).")


class _Reader:
    """Reads a model (and the models nested in it) into steps, collecting refusals."""

    def __init__(self):
        self.steps, self.problems, self.taken, self.shapes = [], [], {INPUT_KEY}, {}

    def read(self, model, input_keys, scope=""):
        """Adds `model`'s steps, reading `input_keys`; returns the keys of its outputs."""
        if isinstance(model, keras.Sequential):
            return self._sequential(model, input_keys, scope)
        return self._functional(model, input_keys, scope)

    def _sequential(self, model, input_keys, scope):
        keys = list(input_keys)
        for layer in model.layers:
            if isinstance(layer, keras.layers.InputLayer):
                continue
            if isinstance(layer, keras.Model):
                keys = self.read(layer, keys, _scoped(scope, layer.name))
                continue
            shape = self.shapes[keys[0]]
            spec = layer.compute_output_spec(keras.KerasTensor(shape))
            keys = [self._add(layer, Call([Ref(keys[0])]), layer.name, scope, spec)]
        return keys

    def _functional(self, model, input_keys, scope):
        config = model.get_config()
        operations = {operation.name: operation for operation in model.operations}
        produced = {}
        for entry, key in zip(_names(config["input_layers"]), input_keys):
            produced[tuple(entry)] = key
        pending = [(entry, number, node) for entry in config["layers"]
                   if entry["class_name"] != "InputLayer"
                   for number, node in enumerate(entry.get("inbound_nodes", []))]
        while pending:
            ready = [item for item in pending if _ready(item[2], produced)]
            if not ready:
                raise DeconvError(f"Model {model.name!r}: the calls of "
                                  f"{', '.join(sorted({e['name'] for e, _, _ in pending}))} "
                                  f"read tensors deconv cannot find.")
            for entry, number, node in ready:
                pending.remove((entry, number, node))
                self._node(operations[entry["name"]], entry["name"], number, node, produced,
                           scope)
        return [produced[tuple(output)] for output in _names(config["output_layers"])]

    def _node(self, operation, name, number, node, produced, scope):
        args = _convert(node.get("args", []), produced, self.problems, name)
        kwargs = _convert(node.get("kwargs", {}), produced, self.problems, name)
        if isinstance(operation, keras.Model):
            keys = Call(args, kwargs).keys
            outputs = self.read(operation, keys, _scoped(scope, operation.name))
            for index, key in enumerate(outputs):
                produced[(name, number, index)] = key
            return
        call = Call(args, kwargs)
        given = {key: keras.KerasTensor(self.shapes[key]) for key in call.keys}
        spec = operation.compute_output_spec(*fill(list(args), given), **fill(kwargs, given))
        key = self._add(operation, call, name if number == 0 else f"{name}#{number}", scope,
                        spec)
        produced[(name, number, 0)] = key

    def _add(self, layer, call, name, scope, spec):
        key = name if name not in self.taken else _scoped(scope, name)
        while key in self.taken:
            key += "_"
        self.taken.add(key)
        if isinstance(spec, (list, tuple)):
            self.problems.append(f"{key} (it has {len(spec)} outputs; deconv reverses layers "
                                 f"with one)")
            spec = spec[0]
        in_shapes = tuple(self.shapes[k] for k in call.keys)
        self.shapes[key] = tuple(spec.shape)
        self.steps.append(Step(layer, None, tuple(call.keys), key,
                               table.geometry_of(layer, in_shapes), call, in_shapes,
                               self.shapes[key], table.refusal(layer, call, spec.dtype)))
        return key


def _scoped(scope, name):
    return f"{scope}/{name}" if scope else name


def _names(entries):
    """`[name, node, tensor]` entries of a config's inputs or outputs (one may stand alone)."""
    if entries and isinstance(entries[0], str):
        return [entries]
    return [list(entry) for entry in entries]


def _is_tensor(value):
    return isinstance(value, dict) and value.get("class_name") == "__keras_tensor__"


def _ready(node, produced):
    found = []

    def walk(value):
        if _is_tensor(value):
            found.append(tuple(value["config"]["keras_history"]) in produced)
        elif isinstance(value, (list, tuple)):
            for item in value:
                walk(item)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)

    walk([node.get("args", []), node.get("kwargs", {})])
    return all(found)


def _convert(value, produced, problems, name):
    """A config's call arguments with each tensor replaced by a `Ref` to its key."""
    if _is_tensor(value):
        history = tuple(value["config"]["keras_history"])
        if history[2] != 0:
            problems.append(f"{history[0]} (its output {history[2]} is read by {name}; deconv "
                            f"reverses layers with one output)")
        return Ref(produced[history])
    if isinstance(value, (list, tuple)):
        return [_convert(item, produced, problems, name) for item in value]
    if isinstance(value, dict):
        return {key: _convert(item, produced, problems, name) for key, item in value.items()}
    return value


def read_model(model):
    """Returns `model` as a list of `Step`s in topological order.

    Raises:
      DeconvError: the model is not a one-input RGB Keras model with symbolic inputs, or holds
        layers deconv cannot read as steps (the message names every such layer and why). A
        layer that cannot be reversed (`Step.refused`) is refused only when a projection needs
        to reverse it.
    """
    _check_model(model)
    reader = _Reader()
    reader.shapes[INPUT_KEY] = tuple(model.inputs[0].shape)
    reader.read(model, [INPUT_KEY])
    if reader.problems:
        raise DeconvError(f"Model {model.name!r} has layers deconv cannot reverse: "
                          f"{'; '.join(reader.problems)}.")
    if not reader.steps:
        raise DeconvError(f"Model {model.name!r} has no layers to reverse.")
    read = {key for step in reader.steps for key in step.inputs}
    return [dataclasses.replace(step, rule=table.rule_for(step.layer, step.name not in read))
            for step in reader.steps]


def is_chain(steps):
    """Whether the steps form a chain (each reads the one before) of rules that also reverse
    inside a window (`deconv.core.window`): VGG-style models."""
    previous = INPUT_KEY
    for step in steps:
        if step.inputs != (previous,) or not step.rule.windowed:
            return False
        previous = step.name
    return True


def static_shapes(steps, input_shape):
    """Returns `{key: shape}` of every step's output for a batch of inputs of `input_shape`
    `(N, H, W, 3)`, as Keras infers it (`compute_output_spec`: nothing runs)."""
    shapes = {INPUT_KEY: keras.KerasTensor(tuple(input_shape))}
    for step in steps:
        spec = step.layer.compute_output_spec(*fill(list(step.call.args), shapes),
                                              **fill(step.call.kwargs, shapes))
        shapes[step.name] = keras.KerasTensor(tuple(spec.shape), spec.dtype)
    return {key: tuple(spec.shape) for key, spec in shapes.items()}
