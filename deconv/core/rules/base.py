"""What every reverse rule shares: `LayerRule` (how one layer type runs forward and backward,
over whole maps and inside a window) and the two contexts its `reverse` methods read.

Forward tensors are keyed by name: `"input"` is the preprocessed image, a step's name its output,
and `"<pool>_switches"` a max-pool's switches (`switches_key`).
"""
import dataclasses

# How a ReLU is reversed (the ReLU rule): the deconvnet's relu(signal), or guided backpropagation's.
RELU_RULES = ("deconvnet", "guided")

# The activations whose backward the deconvnet replaces by `relu(signal)`.
RELU_FAMILY = ("relu", "relu6")


def switches_key(layer_name):
    """Returns the key of a max-pool layer's switches among the forward tensors."""
    return f"{layer_name}_switches"


def activation_name(layer):
    """The name of a layer's `activation` function (`"relu"`, `"linear"`), or None."""
    return getattr(getattr(layer, "activation", None), "__name__", None)


def fused_relu(layer):
    """Whether a layer's own `activation` is of the ReLU family."""
    return activation_name(layer) in RELU_FAMILY


@dataclasses.dataclass(frozen=True)
class Context:
    """What `LayerRule.reverse` reads while the deconv model is built (whole maps).

    Attributes:
      tensors: `{key: KerasTensor}`, the deconv model's inputs: the forward tensors the rules
        asked for (`needs`).
      specs: `{key: KerasTensor}` of every forward tensor, for static shapes.
      relu_rule: the ReLU rule, `"deconvnet"` or `"guided"`.
    """
    tensors: dict
    specs: dict
    relu_rule: str


@dataclasses.dataclass(frozen=True)
class WindowContext:
    """What `LayerRule.reverse_in_window` reads: the reverse of one step on a signal that lives
    in a window (`deconv.core.window`).

    Attributes:
      tensors: the forward tensors (`window_needs`), whole; crop them with the window.
      window: the signal's `Window` in the step's output maps.
      in_sizes: the map size of each of the step's inputs.
      relu_rule: the ReLU rule, `"deconvnet"` or `"guided"`.
    """
    tensors: dict
    window: object
    in_sizes: tuple
    relu_rule: str


class LayerRule:
    """How one layer type runs forward and backward. Subclasses override what differs.

    Both reverses take `(step, signal, context)`: `reverse` builds the deconv model over whole
    maps (a `Context`), `reverse_in_window` runs on a windowed signal (a `WindowContext`).
    `windowed`: whether a chain of such rules projects one activation inside its receptive
    field (`deconv.core.window`); `windows(step)`: whether `reverse_in_window` serves the
    step on a graph.
    """
    windowed = False

    def forward(self, step, tensors, with_switches):
        """Returns the forward tensors this step adds, keyed by name."""
        return {step.name: step.call(step.layer, tensors)}

    def needs(self, step, relu_rule):
        """Returns the keys of the forward tensors `reverse` reads."""
        return []

    def reverse(self, step, signal, context):
        """Returns the signals at the step's inputs (one per `step.inputs`; None for an input
        that gets none), given the signal at its output and a `Context`."""
        return [signal]

    def window_needs(self, step, relu_rule):
        """Returns the keys of the forward tensors `reverse_in_window` reads."""
        return []

    def windows(self, step):
        """Whether `reverse_in_window` serves this step (on a graph: `deconv.core.graph_window`)."""
        return self.windowed

    def reverse_in_window(self, step, signal, context):
        """`reverse` on a signal that lives in `context.window` (a `WindowContext`).

        Returns:
          One `(signal, window)` per input (None for an input that gets no signal): where the
          step writes in that input's maps (it may reach past them, into the padding); the
          output's own window object itself for a pointwise step.
        """
        return [(signal, context.window)] * len(step.inputs)
