"""A model's natural blocks, and their weights randomised for a sanity check, then restored.

A block is a run of consecutive layers with weights that share a name prefix: VGG's conv groups
(`block3_conv1` ... `block3_conv4` -> `block3`), a ResNet's stages (`conv4_block2_1_conv` ->
`conv4`), EfficientNet's blocks (`block4a_expand_conv` -> `block4a`), ConvNeXt's stages
(`convnext_tiny_stage_2_block_0_...` -> `convnext_tiny_stage_2`); `stem_conv` -> `stem`,
`predictions` on its own. Where names give no such runs (Keras's `conv2d_1`, `batch_normalization`
interleaved) or too many of them, consecutive layers are cut into at most `MAX_BLOCKS` equal runs.

Reference: Adebayo et al., "Sanity Checks for Saliency Maps", NeurIPS 2018 (arXiv 1810.03292),
section 3: cascading and independent randomisation of a model's parameters.
"""
import dataclasses
import re

import numpy as np

from deconv.core.geometry import ancestors
from deconv.errors import DeconvError

MAX_BLOCKS = 40
RANDOMISATIONS = ("reinitialise", "shuffle")


@dataclasses.dataclass(frozen=True)
class Block:
    """Layers randomised together: `name` and the Keras names of its `layers`, in model order."""
    name: str
    layers: tuple


def block_key(name):
    """The block a layer's name belongs to: its name up to the first part with a digit
    (`block4a_expand_conv` -> `block4a`, `conv4_block2_out` -> `conv4`), else its first part
    (`stem_conv` -> `stem`); a nested model's scope (`vgg16/`) is left out."""
    parts = name.rsplit("/", 1)[-1].split("_")
    for count, part in enumerate(parts, 1):
        if re.search(r"\d", part):
            return "_".join(parts[:count])
    return parts[0]


def weighted_layers(net, layer):
    """`[(name, keras layer)]`: the layers with weights that `layer`'s output depends on, in
    model order, each once (a layer called twice counts at its first call)."""
    needed = ancestors(net.steps, net.resolve(layer))
    found, seen = [], set()
    for step in net.steps:
        if step.name in needed and getattr(step.layer, "weights", None) and (
                id(step.layer) not in seen):
            seen.add(id(step.layer))
            found.append((step.name, step.layer))
    return found


def by_names(names):
    """Blocks by `block_key`, or None where a key comes back after another (no runs)."""
    blocks = []
    for name in names:
        key = block_key(name)
        if blocks and blocks[-1][0] == key:
            blocks[-1][1].append(name)
        elif any(existing == key for existing, _ in blocks):
            return None
        else:
            blocks.append((key, [name]))
    return [Block(key, tuple(members)) for key, members in blocks]


def in_runs(names, count=MAX_BLOCKS):
    """Consecutive layers cut into at most `count` runs of (nearly) equal length, each named
    after its first and last layer."""
    runs = [list(run) for run in np.array_split(np.array(names, dtype=object),
                                                min(count, len(names)))]
    return [Block(run[0] if len(run) == 1 else f"{run[0]}..{run[-1]}", tuple(run))
            for run in runs]


def model_blocks(net, layer):
    """Returns `(blocks, scheme)`: the blocks of the layers `layer` depends on, bottom-up in
    model order, and how they were found: `"names"` (by `block_key`) or `"runs"`."""
    names = [name for name, _ in weighted_layers(net, layer)]
    if not names:
        raise DeconvError(f"Layer {layer!r} depends on no layer with weights: there is nothing "
                          f"to randomise.")
    blocks = by_names(names)
    if blocks is not None and (len(blocks) > 1 or len(names) == 1) and len(blocks) <= MAX_BLOCKS:
        return blocks, "names"
    return in_runs(names), "runs"


def _seed_of(seed, *indices):
    return int(np.random.SeedSequence([seed, *indices]).generate_state(1)[0])


def _initializer(layer, variable):
    """The layer's own initializer of `variable` (`kernel_initializer`, `gamma_initializer`,
    a depthwise kernel's `depthwise_initializer`...), or None."""
    name = variable.name.rsplit("/", 1)[-1]
    for attribute in (f"{name}_initializer", f"{name.replace('_kernel', '')}_initializer",
                      "depthwise_initializer" if name == "kernel" else None):
        found = getattr(layer, attribute, None) if attribute else None
        if callable(found) and hasattr(found, "get_config"):
            return found
    return None


def reinitialised(layer, variable, seed):
    """`(values, how)`: new values for `variable` from its layer's own initializer, seeded; a
    variable without one gets a normal draw with its own mean and standard deviation."""
    found = _initializer(layer, variable)
    shape, dtype = tuple(variable.shape), variable.dtype
    if found is not None:
        config = found.get_config()
        fresh = type(found).from_config({**config, "seed": seed}) if "seed" in config else found
        return np.asarray(fresh(shape, dtype=dtype)), type(found).__name__
    current = np.asarray(variable.numpy(), np.float64)
    draw = np.random.default_rng(seed).normal(current.mean(), current.std(), shape)
    return draw.astype(current.dtype if dtype is None else np.dtype(dtype)), "matched normal"


class Randomiser:
    """Randomises blocks of a model's weights in place; restores every weight on leaving.

        with Randomiser(net, blocks, seed=0) as randomiser:
            randomiser.randomise(3)     # block 3, and it stays so until the `with` ends

    `kind` "reinitialise" (Adebayo et al.'s): each variable drawn anew from its layer's
    initializer (Keras's `glorot_uniform` kernels, zero biases, BatchNormalization's unit scale
    and statistics). Deep networks re-initialised so pass ever smaller signals (EfficientNet-Lite0
    re-initialised down to its stem: logits near 1e-3, gradients near 1e-17), which rank
    correlations do not mind. "shuffle": each variable's values permuted at random, which keeps
    each layer's distribution of weights, and so the activations' scale. Either is seeded by
    `(seed, block, layer, variable)`: a block gets the same values in a cascade and alone.
    """

    def __init__(self, net, blocks, seed=0, kind="reinitialise"):
        if kind not in RANDOMISATIONS:
            raise DeconvError(f"Unknown randomisation {kind!r}. Valid: "
                              f"{', '.join(RANDOMISATIONS)}.")
        self.blocks, self.seed, self.kind = blocks, seed, kind
        self.layers = {step.name: step.layer for step in net.steps}
        self.how = {}  # variable path -> the initializer used
        self._saved = []

    def __enter__(self):
        self._saved = [(variable, np.array(variable.numpy(), copy=True))
                       for block in self.blocks for name in block.layers
                       for variable in self.layers[name].weights]
        return self

    def __exit__(self, *exception):
        for variable, value in self._saved:
            variable.assign(value)
        self._saved = []
        return False

    def randomise(self, index):
        """Randomises block `index` of `blocks` (weights restored by `__exit__`)."""
        if not self._saved:
            raise DeconvError("Randomiser.randomise runs inside `with Randomiser(...)`, which "
                              "restores the weights.")
        for place, name in enumerate(self.blocks[index].layers):
            layer = self.layers[name]
            for number, variable in enumerate(layer.weights):
                seed = _seed_of(self.seed, index, place, number)
                if self.kind == "shuffle":
                    values = np.random.default_rng(seed).permutation(
                        variable.numpy().ravel()).reshape(variable.shape)
                    how = "shuffled"
                else:
                    values, how = reinitialised(layer, variable, seed)
                variable.assign(values)
                self.how[variable.path] = how
