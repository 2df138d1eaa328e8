"""Deconvnet projections against the modified-gradient oracle, their support, weight sharing."""
import keras
import numpy as np
import pytest
import tensorflow as tf

import deconv
from deconv.core import names
from deconv.core.reverse_plan import WHOLE_MAPS
from deconv.core.reverse_plan import ReversePlan
from tests.conftest import photos
from tests.helpers import oracle

# (layer, features): conv1_2; conv3_1, after two pools; block3_pool itself; the conv5 layers.
CASES = [("conv1_2", [0, 5]), ("conv3_1", [1, 7]), ("pool3", [2]), ("conv5_1", [3]),
         ("conv5_4", [4, 9])]


def _index(net, layer):
    return net.layer_names.index(net.resolve(layer))


def _assert_matches_oracle(net, model, images, layer, feature, relu_rule="deconvnet", caffe=True,
                           windowed="auto"):
    projection = net.project_details(images, layer, feature, windowed=windowed)
    expected, values, positions = oracle.project_max(
        model, images, names.keras_name(layer) or layer, feature, relu_rule, caffe)
    np.testing.assert_allclose(projection.values, values, rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(projection.positions, positions)
    live = values > 0
    assert live.any(), f"every image's map {feature} of {layer} is dead: pick another feature"
    error = oracle.relative_error(projection.reconstructions[live], expected[live])
    assert error.max() <= 1e-4, f"{layer}/{feature}: relative errors {error}"
    np.testing.assert_array_equal(projection.reconstructions[~live], 0)
    return error


@pytest.mark.parametrize("layer,features", CASES)
@pytest.mark.parametrize("size", ["images_67x45", "images_64x48"])
@pytest.mark.parametrize("windowed", [False, True], ids=["full", "windowed"])
def test_projection_equals_modified_gradient(net19, vgg19, layer, features, size, windowed,
                                             request):
    """Both reverse paths: the deconv model over the whole image, and inside the window."""
    images = request.getfixturevalue(size)
    for feature in features:
        _assert_matches_oracle(net19, vgg19, images, layer, feature, windowed=windowed)


def test_full_size_vgg19_projection_equals_oracle(net19, vgg19):
    """The one full-size projection of the default suite (conv4_2 runs windowed at 224)."""
    images = np.random.default_rng(3).uniform(0, 255, (1, 224, 224, 3))
    _assert_matches_oracle(net19, vgg19, images, "conv5_4", 11)


@pytest.mark.parametrize("windowed", [False, True], ids=["full", "windowed"])
def test_guided_rule_equals_guided_gradient(vgg19, images_64x48, windowed):
    net = deconv.Deconvnet(vgg19, relu_rule="guided")
    for layer, features in CASES[:3]:
        _assert_matches_oracle(net, vgg19, images_64x48, layer, features[0], relu_rule="guided",
                               windowed=windowed)


@pytest.mark.parametrize("windowed", [False, True], ids=["full", "windowed"])
def test_custom_cnn_projection_equals_oracle(custom_cnn, images_67x45, windowed):
    """Strided/valid/dilated convs, ReLU layers, overlapping 'same' pooling, no preprocessing."""
    net = deconv.Deconvnet(custom_cnn)
    assert net.preprocessing.name == "none"
    for layer, feature in [("c1", 2), ("p1", 0), ("c2", 2), ("c3", 0), ("a3", 1)]:
        _assert_matches_oracle(net, custom_cnn, images_67x45, layer, feature, caffe=False,
                               windowed=windowed)


@pytest.mark.parametrize("layer,feature", [("conv3_2", 3), ("conv5_1", 3)])
def test_window_handed_over_at_every_step_equals_oracle(net19, vgg19, images_64x48, layer,
                                                        feature):
    """The reverse pass in the window down to some layer, then over whole maps: any hand-over
    gives the oracle's numbers, batched and for several activations of one image."""
    expected, values, positions = oracle.project_max(vgg19, images_64x48, names.keras_name(
        layer), feature)
    index = _index(net19, layer)
    features = np.full(len(images_64x48), feature, np.int32)
    minus = -np.ones((len(images_64x48), 2), np.int32)
    for plan in [ReversePlan.window_to_pixels(),
                 *(ReversePlan.window_until(step) for step in range(index))]:
        graph = net19.builder.windowed_graph(net19.resolve(layer), plan=plan)
        reconstructions, found_values, found = graph(
            tf.constant(images_64x48, tf.float32), tf.constant(features), tf.constant(minus))
        np.testing.assert_array_equal(found.numpy(), positions)
        np.testing.assert_allclose(found_values.numpy(), values, rtol=1e-5)
        assert oracle.relative_error(reconstructions.numpy(), expected).max() <= 1e-4, plan
        each = net19.builder.windowed_graph(net19.resolve(layer), groups=True, plan=plan)
        several = each(tf.constant(images_64x48[:1], tf.float32), tf.constant([0, 0]),
                       tf.constant([feature, 5]),
                       tf.constant([[-1, -1], [1, 2]], tf.int32))[0].numpy()
        alone = net19.project(images_64x48[:1].repeat(2, 0), layer, [feature, 5],
                              [[-1, -1], [1, 2]], windowed=False)
        assert oracle.relative_error(several, alone).max() <= 1e-5, plan


def test_window_plan_hands_over_where_the_window_fills_its_maps(net19):
    plan = net19.builder.window_plan
    # conv5_4 at 224: the window reaches 26x26 of pool3's 28x28 maps (86 %): full from pool3.
    assert plan("block5_conv4", (224, 224)) == ReversePlan.window_until(_index(net19, "pool3"))
    # 40x40 pixels: window all the way
    assert plan("block3_conv4", (224, 224)) == ReversePlan.window_to_pixels()
    assert plan("block5_conv4", (16, 16)) == WHOLE_MAPS  # 1x1 maps
    assert not net19.uses_window("conv5_4", (16, 16)) and net19.uses_window("conv5_4", (224, 224))
    with pytest.raises(deconv.DeconvError, match="hands over to whole maps at a step below"):
        net19.builder.windowed_graph("block2_conv1", plan=ReversePlan.window_until(
            _index(net19, "conv2_1")))
    with pytest.raises(deconv.DeconvError, match="hands over to whole maps at a step below"):
        net19.builder.windowed_graph("block2_conv1", plan=WHOLE_MAPS)


@pytest.mark.parametrize("mode", ["tf", "torch", "unit"])
def test_other_preprocessing_modes_equal_oracle(custom_cnn, images_67x45, mode):
    """The adjoint of each mode's affine map brings the reconstruction back to RGB pixels."""
    net = deconv.Deconvnet(custom_cnn, preprocessing=mode)
    for windowed in (False, True):
        _assert_matches_oracle(net, custom_cnn, images_67x45, "c2", 2, caffe=mode,
                               windowed=windowed)


def test_explicit_positions_and_per_image_features(net19, vgg19, images_64x48):
    activations = net19.activations(images_64x48, "conv3_3")
    features = (activations > 0).sum(axis=(1, 2)).argsort(axis=1)[:, -2 + np.arange(2)].diagonal()
    positions = []
    for i, feature in enumerate(features):  # the weakest positive activation: not the maximum
        live = np.argwhere(activations[i, ..., feature] > 0)
        weakest = np.argmin(activations[i, live[:, 0], live[:, 1], feature])
        positions.append(live[weakest])
    positions = np.array(positions)
    projection = net19.project_details(images_64x48, "conv3_3", features, positions)
    np.testing.assert_array_equal(projection.positions, positions)

    def seed(acts):
        out = np.zeros_like(acts)
        for i, ((y, x), feature) in enumerate(zip(positions, features)):
            out[i, y, x, feature] = acts[i, y, x, feature]
        return out

    oracle_acts, expected = oracle.gradient(vgg19, images_64x48, "block3_conv3", seed)
    np.testing.assert_allclose(
        projection.values, oracle_acts[[0, 1], positions[:, 0], positions[:, 1], features],
        rtol=1e-5)
    assert (projection.values > 0).all()
    assert oracle.relative_error(projection.reconstructions, expected).max() <= 1e-4


def test_maps_mode_projects_whole_maps_together(net19, vgg19, images_64x48):
    features = [3, 8, 20]
    recon = net19.project(images_64x48, "conv2_2", features, mode="maps")

    def seed(activations):
        mask = np.zeros(activations.shape[-1], np.float32)
        mask[features] = 1
        return activations * mask

    _, expected = oracle.gradient(vgg19, images_64x48, "block2_conv2", seed)
    assert oracle.relative_error(recon, expected).max() <= 1e-4


@pytest.mark.parametrize("windowed", [False, True], ids=["full", "windowed"])
def test_project_each_equals_separate_projections(net19, images_64x48, windowed):
    image = images_64x48[0]
    features = np.array([1, 4, 4, 30])
    positions = np.array([[-1, -1], [2, 3], [5, 1], [-1, -1]])
    each = net19.project_each(image, "conv4_2", features, positions, windowed=windowed)
    for i in range(len(features)):
        one = net19.project_details(image[None], "conv4_2", int(features[i]),
                                    None if positions[i, 0] < 0 else positions[i],
                                    windowed=not windowed)  # the other path
        assert each.values[i] == pytest.approx(one.values[0], rel=1e-5)
        if one.values[0] > 0:
            assert oracle.relative_error(each.reconstructions[i:i + 1],
                                         one.reconstructions).max() <= 1e-5
        else:
            np.testing.assert_array_equal(each.reconstructions[i], 0)
        np.testing.assert_array_equal(each.positions[i], one.positions[0])


@pytest.fixture(scope="module")
def photos_160x128():
    return photos((160, 128))


@pytest.mark.parametrize("layer", ["conv1_2", "conv2_1", "conv3_4", "pool4", "conv5_4"])
def test_projection_is_zero_outside_receptive_field(net19, photos_160x128, layer):
    """Corner activations, whose fields leave most of a 160x128 image outside, and the maximum;
    each with the map that is strongest there, so no projection is trivially zero."""
    activations = net19.activations(photos_160x128, layer)
    height, width = activations.shape[1:3]
    for y, x in [(0, 0), (height - 1, width - 1), (height // 2, width // 3)]:
        features = activations[:, y, x].argmax(axis=1)
        projection = net19.project_details(photos_160x128, layer, features, (y, x),
                                           windowed=False)
        assert (projection.values > 0).all(), (layer, y, x)
        for recon in projection.reconstructions:
            top, left, bottom, right = deconv.receptive_field(net19, layer, (y, x), (160, 128))
            outside = np.ones(recon.shape[:2], bool)
            outside[top:bottom, left:right] = False
            if (y, x) == (0, 0):
                assert outside.mean() > 0.1, (layer, "the field should leave pixels outside")
            assert np.all(recon[outside] == 0), (layer, y, x)
            assert np.abs(recon[~outside]).max() > 0


def test_custom_cnn_support_with_strided_same_layers(custom_cnn, images_67x45):
    net = deconv.Deconvnet(custom_cnn)
    height, width = net.map_size("a3", (67, 45))
    for position in ([0, 0], [height // 2, width // 2], [height - 1, width - 1]):
        recon = net.project(images_67x45, "a3", 1, position)
        box = deconv.receptive_field(net, "a3", position, (67, 45))
        outside = np.ones((67, 45), bool)
        outside[box[0]:box[2], box[1]:box[3]] = False
        assert np.all(recon[:, outside] == 0)


def test_deconv_kernels_are_the_forward_variables(vgg16, images_64x48):
    net = deconv.Deconvnet(vgg16)
    deconv_model = net.builder.deconv_model(net.resolve("conv2_2"))
    for name in ("block1_conv1", "block1_conv2", "block2_conv1", "block2_conv2"):
        transpose = deconv_model.get_layer(f"{name}_transpose")
        assert transpose.kernel is vgg16.get_layer(name).kernel
    assert len(deconv_model.weights) == 4  # kernels only: no copies, no biases
    assert {id(w) for w in deconv_model.weights} == {
        id(vgg16.get_layer(name).kernel) for name in ("block1_conv1", "block1_conv2",
                                                      "block2_conv1", "block2_conv2")}


def test_changing_a_forward_kernel_changes_the_projection(vgg16, images_64x48):
    net = deconv.Deconvnet(vgg16)
    before = net.project(images_64x48, "conv2_2", 5)
    kernel = vgg16.get_layer("block1_conv2").kernel
    saved = kernel.numpy()
    try:
        noise = np.random.default_rng(5).normal(0, 0.05, saved.shape).astype(np.float32)
        kernel.assign(saved * 1.5 + noise)
        after = net.project_details(images_64x48, "conv2_2", 5)
        assert oracle.relative_error(after.reconstructions, before).min() > 1e-2
        _assert_matches_oracle(net, vgg16, images_64x48, "conv2_2", 5)
    finally:
        kernel.assign(saved)


def test_caller_model_still_works_unchanged(vgg19, net19, images_64x48):
    net19.project(images_64x48, "conv3_1", 0)
    direct = vgg19(images_64x48.astype(np.float32)[..., ::-1] - oracle.CAFFE_MEAN_BGR).numpy()
    assert direct.shape == (2, 2, 1, 512)
    activations = net19.activations(images_64x48, "pool5")
    np.testing.assert_allclose(activations, direct, rtol=1e-5, atol=1e-6)


def test_deconv_model_saves_and_loads_without_custom_objects(custom_cnn, images_67x45, tmp_path):
    net = deconv.Deconvnet(custom_cnn)
    model = net.builder.deconv_model(net.resolve("c3"))
    model.save(tmp_path / "deconv_c3.keras")
    loaded = keras.saving.load_model(tmp_path / "deconv_c3.keras")
    tensors = net.builder.forward_model(net.resolve("c3"))(images_67x45)
    inputs = {"signal": tf.nn.relu(tensors["c3"]),
              **{key: tensors[key] for key in net.builder.deconv_inputs(net.resolve("c3"))}}
    np.testing.assert_allclose(loaded(inputs).numpy(), model(inputs).numpy(), rtol=1e-5,
                               atol=1e-5)


def test_windowed_equals_full_at_every_position(custom_cnn, images_67x45):
    """Every position of every layer, borders included, with a different position per image."""
    net = deconv.Deconvnet(custom_cnn)
    for layer in ("c1", "p1", "c2", "a3"):
        height, width = net.map_size(layer, (67, 45))
        positions = np.array([(y, x) for y in range(height) for x in range(width)])
        images = np.repeat(images_67x45[:1], len(positions), axis=0)
        features = np.arange(len(positions)) % net.feature_count(layer)
        full = net.project_details(images, layer, features, positions, batch_size=64,
                                   windowed=False)
        windowed = net.project_details(images, layer, features, positions, batch_size=64,
                                       windowed=True)
        np.testing.assert_allclose(windowed.values, full.values, rtol=1e-6)
        scale = np.abs(full.reconstructions).max(axis=(1, 2, 3), keepdims=True) + 1e-30
        assert np.abs((windowed.reconstructions - full.reconstructions) / scale).max() < 1e-5
