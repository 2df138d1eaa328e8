"""Bad input to the Deconvnet: one clear error naming the culprit and what is valid."""
import keras
import numpy as np
import pytest

import deconv
from deconv.errors import DeconvError


def test_unknown_layer_lists_layers(net19, images_64x48):
    with pytest.raises(DeconvError) as error:
        net19.project(images_64x48, "conv6_1", 0)
    assert "Unknown layer 'conv6_1'" in str(error.value)
    assert "conv4_4/block4_conv4" in str(error.value) and "pool5/block5_pool" in str(error.value)


def test_feature_out_of_range_states_map_count(net19, images_64x48):
    with pytest.raises(DeconvError, match=r"Feature 512 .* 'conv4_4', which has 512 feature maps"):
        net19.project(images_64x48, "conv4_4", 512)
    with pytest.raises(DeconvError, match="has 64 feature maps"):
        net19.project(images_64x48, "conv1_1", [3, -1], mode="maps")


@pytest.mark.parametrize("images,match", [
    (np.zeros((2, 32, 32, 4)), r"shape \(N, H, W, 3\); received shape \(2, 32, 32, 4\)"),
    (np.zeros((32, 32, 3)), r"pass images\[None\]"),
    (np.full((1, 32, 32, 3), 300.0), r"\[0, 255\]; received values in \[300, 300\]"),
    (np.where(np.eye(32)[None, :, :, None] > 0, np.nan, 5.0).repeat(3, -1),
     r"\[0, 255\]; received 96 NaN or infinite values"),
    (np.zeros((1, 8, 8, 3)),
         r"8x8: too small for layer 'conv5_4', which needs images of at least 16x16 pixels"),
    (np.zeros((1, 32, 32, 3), dtype=bool), "uint8 or float"),
])
def test_bad_images(net19, images, match):
    with pytest.raises(DeconvError, match=match):
        net19.project(images, "conv5_4", 0)


def test_bad_positions_features_and_modes(net19, images_64x48):
    with pytest.raises(DeconvError, match=r"Position \(8, 0\) is outside layer 'conv4_1''s 8x6"):
        net19.project(images_64x48, "conv4_1", 0, (8, 0))
    with pytest.raises(DeconvError, match="one map id or one per image"):
        net19.project(images_64x48, "conv4_1", [1, 2, 3])
    with pytest.raises(DeconvError, match="Unknown mode 'map'. Valid: activation, maps"):
        net19.project(images_64x48, "conv4_1", 0, mode="map")
    with pytest.raises(DeconvError, match="integer map id"):
        net19.project(images_64x48, "conv4_1", 1.5)


def test_unsupported_models_name_every_such_layer():
    """Recurrent layers, attention with a mask and layers whose outputs are not floats are
    refused where a projection would reverse them, all named in one error; everything else is
    reversed (branches, merges, BN...), and layers upstream of them are projected."""
    inputs = keras.Input((8, 8, 3))
    maps = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    sequence = keras.layers.Reshape((36, 4), name="flat")(maps)
    recurrent = keras.layers.LSTM(4, return_sequences=True, name="lstm")(sequence)
    attended = keras.layers.MultiHeadAttention(1, 2, name="attention")(
        sequence, sequence, attention_mask=keras.ops.ones((1, 36, 36), "bool"))
    labels = keras.ops.cast(keras.ops.argmax(maps, axis=-1), "float32")
    joined = keras.layers.Reshape((6, 6, 4))(keras.layers.Add()([recurrent, attended]))
    joined = keras.layers.Multiply()([joined, keras.layers.Reshape((6, 6, 1))(labels)])
    model = keras.Model(inputs, keras.layers.Conv2D(2, 3, name="top")(joined))
    net = deconv.Deconvnet(model)
    assert net.project(np.ones((1, 8, 8, 3), np.float32), "conv", 0).shape == (1, 8, 8, 3)
    with pytest.raises(DeconvError) as error:
        net.project(np.ones((1, 8, 8, 3), np.float32), "top", 0)
    message = str(error.value)
    assert "Layer 'top' cannot be projected: " in message and "\n" not in message
    assert "lstm (LSTM holds state or is recurrent)" in message
    assert "attention (attention with a mask)" in message
    assert "argmax (its output is int" in message
    branched = keras.Sequential([keras.Input((None, None, 3)), keras.layers.Conv2D(4, 3),
                                 keras.layers.BatchNormalization(name="bn"),
                                 keras.layers.Conv2D(4, 3, activation="sigmoid", name="sig")])
    assert deconv.Deconvnet(branched).layer_names[-2:] == ["bn", "sig"]


def test_bad_options(vgg16):
    with pytest.raises(DeconvError, match="Unknown rule 'zeiler'. Valid: deconvnet, guided"):
        deconv.Deconvnet(vgg16, relu_rule="zeiler")
    with pytest.raises(DeconvError, match="Unknown preprocessing 'bgr'. Valid: caffe"):
        deconv.Deconvnet(vgg16, preprocessing="bgr")


def test_the_old_rule_keyword_still_works_and_warns(vgg16):
    with pytest.warns(DeprecationWarning, match="relu_rule"):
        net = deconv.Deconvnet(vgg16, rule="guided")
    assert net.relu_rule == "guided" and net.image_dependence("conv1_2").relu_masks
    with pytest.warns(DeprecationWarning), pytest.raises(DeconvError, match="Unknown rule"):
        deconv.Deconvnet(vgg16, rule="zeiler")


def test_bad_batch_sizes_and_ragged_images(net19, images_64x48):
    with pytest.raises(DeconvError, match="batch_size must be an integer of at least 1"):
        net19.project(images_64x48, "conv1_1", 0, batch_size=0)
    with pytest.raises(DeconvError, match="batch_size"):
        net19.activations(images_64x48, "conv1_1", batch_size=0)
    with pytest.raises(DeconvError, match="ragged"):
        net19.project([images_64x48[0], images_64x48[0, :10]], "conv1_1", 0)


def test_models_deconv_cannot_read():
    class Subclassed(keras.Model):
        def call(self, x):
            return x

    with pytest.raises(DeconvError, match="subclassed models cannot be read"):
        deconv.Deconvnet(Subclassed())
    with pytest.raises(DeconvError, match="Expected a keras.Model .* received str"):
        deconv.Deconvnet("vgg19")
    gray = keras.Sequential([keras.Input((None, None, 1)), keras.layers.Conv2D(2, 3)])
    with pytest.raises(DeconvError, match="takes 1 input channels"):
        deconv.Deconvnet(gray)


@pytest.mark.parametrize("position", [(1, 2, 3), "ab", (1.5, 2)])
def test_receptive_field_positions_must_be_two_integers(vgg16, position):
    with pytest.raises(DeconvError, match=r"position must be two integers \(y, x\)"):
        deconv.receptive_field(vgg16, "conv3_1", position)




def test_an_empty_batch_gives_empty_results(net19):
    empty = np.zeros((0, 48, 40, 3), np.uint8)
    projection = net19.project_details(empty, "conv3_1", 2)
    assert projection.reconstructions.shape == (0, 48, 40, 3)
    assert projection.values.shape == (0,) and projection.positions.shape == (0, 2)
    assert net19.activations(empty, "conv3_1").shape == (0, 12, 10, 256)
    assert net19.project(empty, "conv2_2", [1, 2], mode="maps").shape == (0, 48, 40, 3)
    with pytest.raises(DeconvError, match=r"received shape \(1, 0, 40, 3\)"):
        net19.project(np.zeros((1, 0, 40, 3)), "conv3_1", 2)


def test_float_images_in_zero_one_are_warned_about(net19, images_64x48):
    from absl import logging as absl_logging
    warnings = []
    original = absl_logging.warning
    absl_logging.warning = lambda message, *args: warnings.append(message % args)
    try:
        net19.project(images_64x48 / 255.0, "conv1_1", 0)
        net19.project(images_64x48.astype(np.float32), "conv1_1", 0)
    finally:
        absl_logging.warning = original
    assert len(warnings) == 1 and warnings[0].startswith("Images are floats in [0, 0.98")
    assert warnings[0].endswith("deconv expects [0, 255], not [0, 1].")
