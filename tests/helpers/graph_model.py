"""A tiny Keras graph with one of each thing today's CNNs have: zero padding, a strided valid
conv, batch normalization with random statistics, ReLU6, branches (conv, depthwise + swish +
separable) merged by an add that also takes the branches' input (fan-out), max and average
pools concatenated, a squeeze-and-excitation gate (global pool, sigmoid conv, multiply), a
nested Sequential (conv, layer normalization, gelu), Keras operations (`d * 2 + d`), a dense
layer on maps, upsampling, cropping, a global max pool and a softmax classifier."""
import keras
import numpy as np


def build_graph_cnn(seed=11, activation="relu", pool="max"):
    """The model, weights seeded; `activation="linear"` and `pool="average"` give a variant
    whose gradient is nonzero over each receptive field (for geometry tests)."""
    relu = activation if activation == "linear" else "relu"
    inputs = keras.Input((None, None, 3))
    x = keras.layers.ZeroPadding2D(1, name="pad")(inputs)
    x = keras.layers.Conv2D(6, 3, strides=2, name="stem")(x)
    x = keras.layers.BatchNormalization(name="stem_bn")(x)
    x = (keras.layers.ReLU(6.0, name="stem_relu6") if activation == "relu"
         else keras.layers.Activation("linear", name="stem_relu6"))(x)
    a = keras.layers.Conv2D(6, 3, padding="same", activation=relu, name="a")(x)
    b = keras.layers.DepthwiseConv2D(3, padding="same", name="b_dw")(x)
    b = keras.layers.Activation("swish", name="b_swish")(b)
    b = keras.layers.SeparableConv2D(6, 3, padding="same", name="b_sep")(b)
    s = keras.layers.Add(name="sum")([a, b, x])
    pooling = keras.layers.MaxPooling2D if pool == "max" else keras.layers.AveragePooling2D
    p = pooling(3, strides=2, padding="same", name="pool")(s)
    q = keras.layers.AveragePooling2D(3, strides=2, padding="same", name="avg")(s)
    c = keras.layers.Concatenate(name="cat")([p, q])
    g = keras.layers.GlobalAveragePooling2D(keepdims=True, name="gap")(c)
    g = keras.layers.Conv2D(12, 1, activation="sigmoid", name="gate")(g)
    c = keras.layers.Multiply(name="excite")([c, g])
    block = keras.Sequential([keras.layers.Conv2D(8, 3, padding="same", name="inner_conv"),
                              keras.layers.LayerNormalization(name="inner_ln"),
                              keras.layers.Activation("gelu", name="inner_gelu")], name="block")
    d = block(c)
    d = d * 2.0 + d
    e = keras.layers.Dense(8, activation=relu, name="dense_maps")(d)
    u = keras.layers.UpSampling2D(2, name="up")(e)
    u = keras.layers.Cropping2D(((1, 0), (0, 1)), name="crop")(u)
    m = keras.layers.Conv2D(5, 3, padding="same", activation=relu, name="top_conv")(u)
    o = keras.layers.GlobalMaxPooling2D(name="gmp")(m)
    outputs = keras.layers.Dense(4, activation="softmax", name="predictions")(o)
    model = keras.Model(inputs, outputs, name="graph_cnn")
    randomize(model, seed)
    return model


def randomize(model, seed):
    """Seeded weights: kernels normal, every other weight (biases, normalization scales and
    statistics) random too, variances positive."""
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        shape = tuple(variable.shape)
        if "variance" in variable.name:
            value = rng.uniform(0.5, 2.0, shape)
        elif variable.name in ("gamma", "moving_mean", "beta", "bias"):
            value = rng.uniform(0.6, 1.4, shape) if variable.name == "gamma" else rng.normal(
                0, 0.2, shape)
        elif len(shape) >= 2:
            fan_in = int(np.prod(shape[:-1])) if len(shape) > 2 else shape[0]
            value = rng.normal(0, 1.4 / np.sqrt(max(fan_in, 1)), shape)
        else:
            continue
        variable.assign(value.astype(np.float32))
