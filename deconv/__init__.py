"""deconv: what the features of a trained CNN respond to, projected back to pixel space.

A deconvnet (Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks", ECCV 2014,
arXiv 1311.2901) attached to Keras VGG19/VGG16 or a user's VGG-style Keras CNN.

    import deconv
    model = deconv.load_model("vgg19", weights="imagenet")
    net = deconv.Deconvnet(model)
    reconstruction = net.project(images, "conv4_4", feature=350)
    box = deconv.receptive_field(net, "conv4_4", position, image_size=(224, 224))

The public names are imported on first use, so `python -m deconv.<command>` can quiet
TensorFlow's start-up logging before TensorFlow loads.
"""
import importlib

_EXPORTS = {
    "ActivationMaximizer": "deconv.maximization",
    "Deconvnet": "deconv.deconvnet",
    "Projection": "deconv.deconvnet",
    "DeconvError": "deconv.errors",
    "load_model": "deconv.models",
    "receptive_field": "deconv.geometry",
    "to_uint8": "deconv.render",
}

__all__ = sorted(_EXPORTS)
__version__ = "0.1.0"


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'deconv' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *__all__])
