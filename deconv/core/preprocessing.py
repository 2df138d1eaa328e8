"""Input preprocessing as a per-channel affine map, and its adjoint for the reverse path.

Every supported preprocessing has the form `x' = (permute(x) - mean) * scale` on RGB pixels in
[0, 255], so the deconvnet's reconstruction, which lives in the preprocessed space, is brought back
to RGB pixel space by the transpose of that map: `r_rgb = unpermute(r' * scale)`. This keeps a
projection equal to the gradient with respect to the RGB input (the oracle the tests use),
whatever the preprocessing.

A preprocessing is named by `preprocessing` everywhere in the library (`"caffe"`, `"tf"`, ...);
`mode` is a selection's (`"activation"`, `"maps"`, `deconv.core.selection.MODES`).
"""
import dataclasses
import re

import keras
import tensorflow as tf

from deconv.errors import DeconvError


@dataclasses.dataclass(frozen=True)
class Preprocessing:
    """One preprocessing: channel order, then per-channel mean subtraction and scaling.

    Attributes:
      name: its name.
      bgr: whether RGB input is reversed to BGR first.
      mean: per-channel values subtracted after the reorder (in the reordered channel order).
      scale: per-channel factors applied after the subtraction.
    """
    name: str
    bgr: bool
    mean: tuple
    scale: tuple


SCHEMES = {  # every preprocessing by its name
    # Caffe VGG weights (Keras's VGG16/VGG19, the TF1 vgg19.npy): BGR, ImageNet mean, no scaling.
    "caffe": Preprocessing("caffe", True, (103.939, 116.779, 123.68), (1.0, 1.0, 1.0)),
    # Inception-style models: [-1, 1].
    "tf": Preprocessing("tf", False, (127.5, 127.5, 127.5), (1 / 127.5,) * 3),
    # torchvision-style: [0, 1], then ImageNet mean and std.
    "torch": Preprocessing("torch", False, (0.485 * 255, 0.456 * 255, 0.406 * 255),
                           (1 / (0.229 * 255), 1 / (0.224 * 255), 1 / (0.225 * 255))),
    # Plain [0, 1] scaling.
    "unit": Preprocessing("unit", False, (0.0, 0.0, 0.0), (1 / 255,) * 3),
    "none": Preprocessing("none", False, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),
}


def get(preprocessing):
    """Returns the `Preprocessing` called `preprocessing` (or `preprocessing` itself, if it is
    one).

    Raises:
      DeconvError: for an unknown name; the message lists the valid ones.
    """
    if isinstance(preprocessing, Preprocessing):
        return preprocessing
    if preprocessing not in SCHEMES:
        raise DeconvError(
            f"Unknown preprocessing {preprocessing!r}. Valid: {', '.join(sorted(SCHEMES))}.")
    return SCHEMES[preprocessing]


# The preprocessing of Keras's applications, by their models' names (Keras's own
# `preprocess_input` of each): those not listed preprocess inside the model (EfficientNet,
# EfficientNetV2, ConvNeXt, MobileNetV3) or are the user's own: "none".
_BY_NAME = (
    (re.compile(r"^(vgg16|vgg19|resnet(50|101|152))$"), "caffe"),
    (re.compile(r"^(resnet\d+v2|inception_v3|inception_resnet_v2|xception|mobilenet_|"
                r"mobilenetv2_|nasnet)"), "tf"),
    (re.compile(r"^(densenet\d+|efficientnet_lite\d)$"), "torch"),
)


def for_model(model):
    """Returns the preprocessing a model expects: a Keras application's own (by its name: VGG
    and ResNet `caffe`, Inception, Xception, MobileNet, ResNetV2 `tf`, DenseNet and
    EfficientNet-Lite `torch`), else `none`."""
    for pattern, preprocessing in _BY_NAME:
        if pattern.match(model.name):
            return SCHEMES[preprocessing]
    return SCHEMES["none"]


class _PreprocessingLayer(keras.layers.Layer):
    """What `Preprocess` and `PreprocessAdjoint` share: the preprocessing's name, the config, a
    shape-keeping op.

    The config keeps the key `mode` for the name, as it always had: `.keras` files and exports
    already saved hold it (and what deconv writes stays byte for byte the same);
    `from_config` reads it into `preprocessing`.
    """

    def __init__(self, preprocessing="caffe", **kwargs):
        super().__init__(**kwargs)
        self.preprocessing = get(preprocessing).name

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "mode": self.preprocessing}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        return cls(config.pop("mode", config.pop("preprocessing", "caffe")), **config)


@keras.saving.register_keras_serializable(package="deconv")
class Preprocess(_PreprocessingLayer):
    """Maps RGB images in [0, 255] (any dtype) to the model's input space."""

    def call(self, images):
        spec = SCHEMES[self.preprocessing]
        images = tf.cast(images, self.compute_dtype)
        if spec.bgr:
            images = tf.reverse(images, axis=[-1])
        return (images - tf.constant(spec.mean, images.dtype)) * tf.constant(spec.scale,
                                                                             images.dtype)


@keras.saving.register_keras_serializable(package="deconv")
class PreprocessAdjoint(_PreprocessingLayer):
    """Maps a signal in the model's input space back to RGB pixel space (transpose of `Preprocess`).

    The mean drops out: the transpose of an affine map is that of its linear part.
    """

    def call(self, signal):
        spec = SCHEMES[self.preprocessing]
        signal = signal * tf.constant(spec.scale, signal.dtype)
        return tf.reverse(signal, axis=[-1]) if spec.bgr else signal
