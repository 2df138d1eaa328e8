"""The deconvnet's layers (the forward `ArgmaxPool`, the reverse path's) against hand-made
examples and their configs."""
import keras
import numpy as np
import tensorflow as tf

from deconv.core import layers
from deconv.core import preprocessing
from deconv.core import reverse_layers

# Two 3x5 single-channel images: 2x2/2 'valid' pooling drops the last row and column.
PREPOOL = np.array([
    [[1, 5, 2, 0, 9],
     [3, 4, 8, 7, 6],
     [0, 2, 1, 3, 4]],
    [[0, 0, 0, 0, 1],
     [0, 6, 0, 2, 0],
     [9, 9, 9, 9, 9]],
], np.float32)[..., None]
# Window maxima: image 0 at (0,1)=5 and (1,2)=8; image 1 at (1,1)=6 and (1,3)=2.
# Flat index ((b * H + y) * W + x) * C + c with H=3, W=5, C=1.
SWITCHES = np.array([[[1, 7]], [[21, 23]]], np.int64)[..., None]


def test_argmax_pool_records_hand_made_switches():
    pooled, switches = layers.ArgmaxPool()(tf.constant(PREPOOL))
    np.testing.assert_array_equal(pooled.numpy()[..., 0], [[[5, 8]], [[6, 2]]])
    np.testing.assert_array_equal(switches.numpy(), SWITCHES)


def test_unpool_scatters_to_switches_in_odd_prepool_shape():
    signal = np.array([[[10, 20]], [[30, 40]]], np.float32)[..., None]
    unpooled = reverse_layers.Unpool()(tf.constant(signal), tf.constant(SWITCHES),
                                       tf.constant(PREPOOL))
    expected = np.zeros((2, 3, 5, 1), np.float32)
    expected[0, 0, 1, 0], expected[0, 1, 2, 0] = 10, 20
    expected[1, 1, 1, 0], expected[1, 1, 3, 0] = 30, 40
    np.testing.assert_array_equal(unpooled.numpy(), expected)


def test_unpool_adds_values_that_share_a_switch():
    # 3x3/2 'valid' pooling of a 1x5 row pair: both windows hold the maximum at column 2.
    prepool = np.array([[[0, 1, 9, 1, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]]], np.float32)[..., None]
    pool = dict(pool_size=3, strides=2, padding="valid")
    pooled, switches = layers.ArgmaxPool(**pool)(tf.constant(prepool))
    np.testing.assert_array_equal(switches.numpy().ravel(), [2, 2])
    unpooled = reverse_layers.Unpool(**pool)(tf.ones_like(pooled), switches, tf.constant(prepool))
    assert unpooled.numpy()[0, 0, 2, 0] == 2 and unpooled.numpy().sum() == 2


def test_rectify_rules():
    signal = tf.constant([[-2.0, 3.0, 5.0, -1.0]])
    forward = tf.constant([[1.0, 0.0, 2.0, 4.0]])
    np.testing.assert_array_equal(reverse_layers.Rectify()(signal).numpy(), [[0, 3, 5, 0]])
    np.testing.assert_array_equal(reverse_layers.Rectify("guided")(signal, forward).numpy(),
                                  [[0, 0, 5, 0]])


def test_tied_transpose_is_the_adjoint_of_the_convolution():
    """<conv(x), y> == <x, conv_transpose(y)> for every padding and stride."""
    rng = np.random.default_rng(0)
    for strides, padding, dilation in [(1, "same", 1), (1, "valid", 1), (2, "same", 1),
                                       (2, "valid", 1), (1, "same", 2)]:
        conv = keras.layers.Conv2D(4, 3, strides=strides, padding=padding, dilation_rate=dilation,
                                   use_bias=False)
        x = rng.normal(size=(2, 9, 8, 3)).astype(np.float32)
        y_shape = conv.compute_output_shape(x.shape)
        forward = conv(x).numpy()
        y = rng.normal(size=forward.shape).astype(np.float32)
        assert forward.shape == y_shape
        transpose = reverse_layers.TiedConvTranspose(kernel=conv.kernel, strides=strides,
                                             padding=padding, dilation_rate=dilation)
        back = transpose(tf.constant(y), tf.constant(x)) if strides != 1 else transpose(y)
        assert back.shape == x.shape
        np.testing.assert_allclose((forward * y).sum(), (x * back.numpy()).sum(), rtol=1e-4)


def test_layer_configs_round_trip():
    kernel = keras.Variable(np.ones((3, 3, 2, 4), np.float32))
    for layer in [layers.ArgmaxPool(3, 2, "same"), reverse_layers.Unpool((3, 3), 2, "same"),
                  reverse_layers.Rectify("guided"),
                  reverse_layers.TiedConvTranspose(kernel=kernel, strides=2, padding="valid")]:
        config = layer.get_config()
        rebuilt = type(layer).from_config(config)
        assert rebuilt.get_config() == config
    rebuilt = reverse_layers.TiedConvTranspose.from_config(
        reverse_layers.TiedConvTranspose(kernel=kernel).get_config())
    assert tuple(rebuilt.kernel.shape) == (3, 3, 2, 4) and rebuilt.kernel is not kernel


def test_preprocessing_layers_keep_the_config_key_saved_files_hold(tmp_path):
    """`Preprocess(preprocessing=...)` writes and reads the config key `mode` it always wrote:
    a `.keras` file saved before the rename (or by a deconv export) loads the same."""
    pixels = np.array([[[[10.0, 20.0, 30.0]]]], np.float32)
    for cls, expected in ((preprocessing.Preprocess, [[[[30 - 103.939, 20 - 116.779,
                                                          10 - 123.68]]]]),
                          (preprocessing.PreprocessAdjoint, [[[[30.0, 20.0, 10.0]]]])):
        layer = cls("caffe", name="p")
        config = layer.get_config()
        assert config["mode"] == "caffe" and "preprocessing" not in config
        assert cls.from_config(config).preprocessing == "caffe"
        assert cls.from_config({**config, "mode": "unit"}).preprocessing == "unit"
        inputs = keras.Input((1, 1, 3))
        path = str(tmp_path / f"{cls.__name__}.keras")
        keras.Model(inputs, layer(inputs)).save(path)
        loaded = keras.models.load_model(path)
        assert loaded.get_layer("p").preprocessing == "caffe"
        np.testing.assert_allclose(loaded(pixels).numpy(), expected, rtol=1e-5)
