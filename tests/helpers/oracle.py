"""An independent oracle for deconvnet projections: a modified gradient.

The model is re-run from its weights with raw TensorFlow ops (not deconv's layers), and the input
gradient is taken with `tf.GradientTape`, each ReLU's backward replaced by `relu(upstream)` (the
deconvnet rule) or `relu(upstream) * (forward > 0)` (guided backpropagation). Max-pools keep their
ordinary gradient, which routes the signal to each window's maximum, as unpooling by switches does.
"""
import keras
import numpy as np
import tensorflow as tf

CAFFE_MEAN_BGR = np.array([103.939, 116.779, 123.68], np.float32)


def relu_for(relu_rule, max_value=None):
    """ReLU (capped at `max_value` if given) whose backward is the deconvnet's relu(upstream),
    or guided backprop's, which also masks by the forward's positive outputs."""
    @tf.custom_gradient
    def relu(x):
        y = tf.nn.relu(x) if max_value is None else tf.minimum(tf.nn.relu(x), max_value)

        def grad(upstream):
            back = tf.nn.relu(upstream)
            return back * tf.cast(y > 0, back.dtype) if relu_rule == "guided" else back

        return y, grad

    return relu


def activation_name(layer):
    return getattr(getattr(layer, "activation", None), "__name__", None)


def _forward(model, x, target, relu):
    h = x
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        if isinstance(layer, keras.layers.Conv2D):
            kernel, bias = layer.get_weights()
            h = tf.nn.conv2d(h, kernel, strides=(1, *layer.strides, 1),
                             padding=layer.padding.upper(),
                             dilations=(1, *layer.dilation_rate, 1)) + bias
            if activation_name(layer) == "relu":
                h = relu(h)
        elif isinstance(layer, keras.layers.MaxPooling2D):
            h = tf.nn.max_pool2d(h, layer.pool_size, layer.strides, layer.padding.upper())
        elif isinstance(layer, keras.layers.ReLU) or activation_name(layer) == "relu":
            h = relu(h)
        elif not isinstance(layer, (keras.layers.Dropout, keras.layers.Activation)):
            raise AssertionError(f"oracle does not know {type(layer).__name__}")
        if layer.name == target:
            return h
    raise AssertionError(f"no layer {target}")


# The preprocessing modes as their usual formulas (Keras's imagenet_utils, torchvision).
PREPROCESS = {
    "caffe": lambda x: x[..., ::-1] - CAFFE_MEAN_BGR,
    "tf": lambda x: x / 127.5 - 1.0,
    "torch": lambda x: (x / 255.0 - np.array([0.485, 0.456, 0.406], np.float32))
    / np.array([0.229, 0.224, 0.225], np.float32),
    "unit": lambda x: x / 255.0,
    "none": lambda x: x,
}


def gradient(model, images, target, seed_fn, relu_rule="deconvnet", caffe=True):
    """Returns `(activations, input gradient)` for the upstream gradient `seed_fn(activations)`.

    `images` are RGB in [0, 255]; `caffe` (True: "caffe", False: "none", or a `PREPROCESS`
    name) is applied inside the tape, so the gradient is with respect to the RGB pixels.
    """
    preprocess = PREPROCESS[caffe if isinstance(caffe, str) else ("caffe" if caffe else "none")]
    x = tf.constant(np.asarray(images, np.float32))
    with tf.GradientTape() as tape:
        tape.watch(x)
        h = preprocess(x)
        activations = _forward(model, h, target, relu_for(relu_rule))
    seed = tf.constant(seed_fn(activations.numpy()), tf.float32)
    return activations.numpy(), tape.gradient(activations, x, output_gradients=seed).numpy()


def project_max(model, images, target, feature, relu_rule="deconvnet", caffe=True):
    """The oracle's projection of each image's strongest activation of map `feature`.

    Returns `(projections, values, positions)`: value times the modified gradient of that
    activation with respect to the RGB input.
    """
    found = {}

    def one_hot_at_max(activations):
        maps = activations[..., feature]
        flat = maps.reshape(len(maps), -1)
        index = flat.argmax(axis=1)
        positions = np.stack(np.unravel_index(index, maps.shape[1:]), axis=1)
        seed = np.zeros_like(activations)
        seed[np.arange(len(maps)), positions[:, 0], positions[:, 1], feature] = 1
        found["values"] = flat[np.arange(len(maps)), index]
        found["positions"] = positions
        return seed

    _, grad = gradient(model, images, target, one_hot_at_max, relu_rule, caffe)
    return grad * found["values"][:, None, None, None], found["values"], found["positions"]


def relative_error(actual, expected):
    """`||actual - expected|| / ||expected||` per image."""
    axes = tuple(range(1, np.ndim(expected)))
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    return (np.sqrt(((actual - expected) ** 2).sum(axis=axes))  # float64: tiny values do not
            / np.sqrt((expected ** 2).sum(axis=axes)))         # underflow to 0 / 0
