"""A model's natural blocks from its layer names, and the randomiser: seeded, the same values in a
cascade and alone, and every weight restored byte for byte afterwards, even after an error."""
import keras
import numpy as np
import pytest

import deconv
from deconv.analysis import sanity_blocks


@pytest.mark.parametrize("name, key", [
    ("block4a_expand_conv", "block4a"), ("block1_conv1", "block1"), ("fc2", "fc2"),
    ("conv4_block2_1_conv", "conv4"), ("stem_conv", "stem"), ("top_bn", "top"),
    ("predictions", "predictions"), ("vgg16/block3_conv2", "block3"),
    ("convnext_tiny_stage_2_block_0_depthwise_conv", "convnext_tiny_stage_2"),
    ("block_1_expand", "block_1"), ("conv2d", "conv2d"), ("dense_1", "dense_1")])
def test_block_key(name, key):
    assert sanity_blocks.block_key(name) == key


def test_vgg_blocks_are_its_conv_groups(net16):
    blocks, scheme = sanity_blocks.model_blocks(net16, "conv4_2")
    assert scheme == "names"
    assert [(b.name, b.layers) for b in blocks] == [
        ("block1", ("block1_conv1", "block1_conv2")), ("block2", ("block2_conv1", "block2_conv2")),
        ("block3", ("block3_conv1", "block3_conv2", "block3_conv3")),
        ("block4", ("block4_conv1", "block4_conv2"))]  # only what conv4_2 depends on


def test_lite0_blocks_are_its_mbconv_blocks(lite0):
    blocks, scheme = sanity_blocks.model_blocks(deconv.Deconvnet(lite0), "predictions")
    assert scheme == "names"
    assert [b.name for b in blocks] == [
        "stem", "block1a", "block2a", "block2b", "block3a", "block3b", "block4a", "block4b",
        "block4c", "block5a", "block5b", "block5c", "block6a", "block6b", "block6c", "block6d",
        "block7a", "top", "predictions"]
    assert blocks[3].layers == ("block2b_expand_conv", "block2b_expand_bn", "block2b_dwconv",
                                "block2b_bn", "block2b_project_conv", "block2b_project_bn")


def _auto_named(count):
    """Convs and batch norms with Keras's own names: no runs by name."""
    layers = [keras.Input((8, 8, 3))]
    for _ in range(count):
        layers += [keras.layers.Conv2D(2, 3, padding="same"), keras.layers.BatchNormalization()]
    return keras.Sequential(layers)


def test_names_without_runs_fall_back_to_equal_runs():
    model = _auto_named(3)
    net = deconv.Deconvnet(model)
    blocks, scheme = sanity_blocks.model_blocks(net, net.layer_names[-1])
    assert scheme == "runs"
    assert [len(b.layers) for b in blocks] == [1] * 6
    names = [f"layer_{i}" for i in range(90)]
    runs = sanity_blocks.in_runs(names)
    assert len(runs) == sanity_blocks.MAX_BLOCKS and sum(len(r.layers) for r in runs) == 90
    assert runs[0].name == "layer_0..layer_2" and runs[-1].layers[-1] == "layer_89"


def _weights(model):
    return [w.numpy().copy() for w in model.weights]


@pytest.mark.parametrize("kind", sanity_blocks.RANDOMISATIONS)
def test_randomiser_is_seeded_and_restores_every_weight(kind):
    model = _auto_named(2)
    norm = model.get_layer(index=1)
    norm.gamma.assign(np.array([2.0, 5.0], np.float32))
    norm.moving_variance.assign(np.array([3.0, 4.0], np.float32))
    net = deconv.Deconvnet(model)
    blocks, _ = sanity_blocks.model_blocks(net, net.layer_names[-1])
    before = _weights(model)
    drawn = []
    for seed in (5, 5, 6):
        with sanity_blocks.Randomiser(net, blocks, seed, kind) as randomiser:
            randomiser.randomise(0)
            randomiser.randomise(1)
            drawn.append(_weights(model))
        assert all(a.tobytes() == b.tobytes() for a, b in zip(before, _weights(model)))
    assert all(np.array_equal(a, b) for a, b in zip(drawn[0], drawn[1]))
    assert not np.array_equal(drawn[0][0], drawn[2][0])
    assert not np.array_equal(drawn[0][0], before[0])
    np.testing.assert_array_equal(drawn[0][6], before[6])  # block 2 untouched
    with sanity_blocks.Randomiser(net, blocks, 5, kind) as randomiser:
        randomiser.randomise(1)  # alone: the same values as in the cascade
        for number in (2, 5):  # the batch norm's gamma and moving variance
            np.testing.assert_array_equal(_weights(model)[number], drawn[0][number])
        np.testing.assert_array_equal(_weights(model)[0], before[0])


def test_reinitialise_uses_each_layer_initializer_and_restores_after_an_error():
    model = _auto_named(1)
    net = deconv.Deconvnet(model)
    blocks, _ = sanity_blocks.model_blocks(net, net.layer_names[-1])
    conv, norm = model.layers
    before = _weights(model)
    with pytest.raises(RuntimeError, match="boom"):
        with sanity_blocks.Randomiser(net, blocks, 0) as randomiser:
            randomiser.randomise(0)
            randomiser.randomise(1)
            kernel = conv.kernel.numpy()
            limit = np.sqrt(6 / (9 * 3 + 9 * 2))  # glorot_uniform of a 3x3x3x2 kernel
            assert np.abs(kernel).max() <= limit and kernel.std() > limit / 4
            np.testing.assert_array_equal(conv.bias.numpy(), 0)
            np.testing.assert_array_equal(norm.gamma.numpy(), 1)
            np.testing.assert_array_equal(norm.moving_variance.numpy(), 1)
            assert set(randomiser.how.values()) == {"GlorotUniform", "Zeros", "Ones"}
            raise RuntimeError("boom")
    assert all(a.tobytes() == b.tobytes() for a, b in zip(before, _weights(model)))


def test_randomise_outside_with_is_refused():
    net = deconv.Deconvnet(_auto_named(1))
    blocks, _ = sanity_blocks.model_blocks(net, net.layer_names[-1])
    with pytest.raises(deconv.DeconvError, match="inside `with"):
        sanity_blocks.Randomiser(net, blocks).randomise(0)
    with pytest.raises(deconv.DeconvError, match="Valid: reinitialise, shuffle"):
        sanity_blocks.Randomiser(net, blocks, kind="noise")
