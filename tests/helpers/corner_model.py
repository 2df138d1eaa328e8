"""Tiny models whose occlusion answers are known: a black image with a bright top-left corner,
a map of its 4x4 block sums, and a classifier that sums the preprocessed pixels."""
import keras
import numpy as np

CORNER = 4  # the bright top-left block, in pixels


def corner_image(side=16):
    image = np.zeros((side, side, 3), np.float32)
    image[:CORNER, :CORNER] = 255
    return image


def corner_model():
    """One map of 4x4 block sums (`blocks`): on `corner_image`, only the corner block fires."""
    model = keras.Sequential([keras.Input((None, None, 3)),
                              keras.layers.Conv2D(1, 4, strides=4, activation="relu",
                                                  use_bias=False, name="blocks")])
    model.get_layer("blocks").kernel.assign(np.full((4, 4, 3, 1), 1 / 48, np.float32))
    return model


def sum_classifier(side):
    """Class 0's logit is 0.01 times the sum of the preprocessed pixels, class 1's is 1: on a
    black image with a white corner, class 0 wins with raw pixels (`none`) and loses with
    caffe's mean subtracted."""
    classifier = keras.Sequential([keras.Input((side, side, 3)),
                                   keras.layers.Conv2D(2, side, name="logits"),
                                   keras.layers.Flatten(), keras.layers.Softmax()])
    kernel = np.zeros((side, side, 3, 2), np.float32)
    kernel[..., 0] = 0.01
    classifier.get_layer("logits").set_weights([kernel, np.array([0.0, 1.0], np.float32)])
    return classifier
