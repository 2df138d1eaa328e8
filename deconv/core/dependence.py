"""How much a projection can depend on the image: what ties the reverse pass to the forward one.

The deconvnet rule reverses a ReLU by `relu(signal)`, whatever the forward pass did, and a
convolution by its tied transpose: below the chosen activation, the only things that carry the
image into the projection are the max-pool switches (where the forward maximum was), and the
layers reversed by their own gradient at the forward point (swish, sigmoid, squeeze-and-
excitation gates, ...). A layer with neither between it and the pixels projects the same
picture for every image, apart from the activation's position and value: the unit's pattern in
general, not what in this image drove it. Guided backpropagation also masks every ReLU by the
forward activations, so its pictures always depend on the image.

References: Zeiler & Fergus, ECCV 2014 (arXiv 1311.2901); Springenberg et al., "Striving for
Simplicity", ICLR 2015 workshop (guided backpropagation); Nie, Zhang & Patel, ICML 2018 (the
deconvnet and guided backprop reconstruct the image, not the model's decision).
"""
import dataclasses

import keras

from deconv.core.graph import INPUT_KEY
from deconv.core.rules.generic import GenericRule
from deconv.core.rules.paper import MaxPool2DRule

# Layers reversed by the generic rule whose gradient does not depend on the forward point.
_LINEAR = (keras.layers.Rescaling, keras.layers.Normalization, keras.layers.UpSampling2D,
           keras.layers.Permute, keras.layers.Resizing)


@dataclasses.dataclass(frozen=True)
class ImageDependence:
    """What ties a layer's projections to the image, for one ReLU rule.

    Attributes:
      layer: the layer's Keras name; `relu_rule`: `"deconvnet"` or `"guided"`.
      switches: the max-pools between the layer and the pixels, nearest the pixels first.
      paths: whether `"all"`, `"some"` or `"none"` of the paths from the layer down to the
        pixels pass through a max-pool.
      gradients: the layers between it and the pixels reversed by their gradient at the forward
        point (a nonlinearity other than the ReLU family), which also carry the image.
      relu_masks: whether the ReLUs' reverse reads the forward pass (guided backprop).
      verdict: one plain sentence.
    """
    layer: str
    relu_rule: str
    switches: tuple
    paths: str
    gradients: tuple
    relu_masks: bool
    verdict: str

    @property
    def independent(self):
        """Whether the projections cannot depend on the image (beyond position and value)."""
        return not (self.switches or self.gradients or self.relu_masks)


def _ancestors(steps, name):
    """The steps `name` depends on (itself included), by name."""
    by_name = {step.name: step for step in steps}
    seen, todo = set(), [name]
    while todo:
        key = todo.pop()
        if key in seen or key == INPUT_KEY:
            continue
        seen.add(key)
        todo.extend(by_name[key].inputs)
    return [step for step in steps if step.name in seen]


def _paths_through(steps, name, is_switch):
    """`"all"`, `"some"` or `"none"`: how many paths from `name` to the pixels meet a switch."""
    every, any_ = {INPUT_KEY: False}, {INPUT_KEY: False}
    for step in steps:  # topological order
        here = is_switch(step)
        every[step.name] = here or all(every[key] for key in step.inputs)
        any_[step.name] = here or any(any_[key] for key in step.inputs)
        if step.name == name:
            break
    return "all" if every[name] else "some" if any_[name] else "none"


def _forward_gradient(step):
    return isinstance(step.rule, GenericRule) and not isinstance(step.layer, _LINEAR)


def image_dependence(steps, name, relu_rule):
    """The `ImageDependence` of layer `name` (a key of `steps`) under the ReLU rule
    `relu_rule`."""
    below = _ancestors(steps, name)
    switches = tuple(step.name for step in below
                     if isinstance(step.rule, MaxPool2DRule))
    paths = _paths_through(below, name, lambda step: step.name in switches)
    gradients = tuple(step.name for step in below if _forward_gradient(step))
    masks = relu_rule == "guided"
    return ImageDependence(name, relu_rule, switches, paths, gradients, masks,
                           _verdict(switches, paths, gradients, masks))


def _verdict(switches, paths, gradients, masks):
    if masks:
        return ("depends on the image: guided backpropagation passes a signal only where the "
                "forward activations were positive.")
    pools = f"{len(switches)} max-pool switch{'es' if len(switches) != 1 else ''}"
    if paths == "all":
        return (f"depends on the image through {pools} on every path to the pixels (the "
                f"paper's case).")
    through = f" and {len(gradients)} layers reversed by their gradient" if gradients else ""
    if paths == "some":
        return (f"depends on the image partly: {pools} on some paths to the pixels{through}; "
                f"the paths without a switch draw the unit's pattern whatever the image.")
    if gradients:
        return (f"depends on the image only through {len(gradients)} layers reversed by their "
                f"gradient at the forward point ({', '.join(gradients[:2])}"
                f"{', ...' if len(gradients) > 2 else ''}): no max-pool lies below it; consider "
                f"--rule guided.")
    return ("cannot depend on the image: no max-pool lies between this layer and the pixels and "
            "the deconvnet rule ignores the forward ReLUs, so every image gets the same picture "
            "(shifted to the activation's position); use --rule guided to see what in the "
            "image drove it.")
