"""deconv: what the features of a trained CNN respond to, projected back to pixel space.

A deconvnet (Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks", ECCV 2014,
arXiv 1311.2901) attached to Keras VGG19/VGG16 or a user's VGG-style Keras CNN.

    import deconv
    model = deconv.load_model("vgg19", weights="imagenet")
    net = deconv.Deconvnet(model)
    reconstruction = net.project(images, "conv4_4", feature=350)
    box = deconv.receptive_field(net, "conv4_4", position, image_size=(224, 224))
"""
from deconv.deconvnet import Deconvnet, Projection
from deconv.errors import DeconvError
from deconv.models import load_model
from deconv.receptive_field import receptive_field
from deconv.render import to_uint8

__all__ = ["Deconvnet", "DeconvError", "Projection", "load_model", "receptive_field", "to_uint8"]
__version__ = "0.1.0"
