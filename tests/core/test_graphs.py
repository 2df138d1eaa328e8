"""Any Keras graph: projections against an independent oracle (a Keras clone with ReLU-family
gradients replaced, differentiated by TensorFlow: tests/helpers/graph_oracle.py), receptive fields
against the support of the gradient, weight sharing, names, and the Keras applications
(a subset here; all of them with `-m zoo`)."""
import re

import keras
import numpy as np
import pytest
import tensorflow as tf

import deconv
from deconv.core.reverse_plan import WHOLE_MAPS
from tests.helpers import graph_oracle
from tests.helpers import oracle
from tests.helpers.graph_model import build_graph_cnn
from tests.helpers.graph_model import randomize

# deconv's key for a nested model's last layer is the inner name; the oracle reads the nested
# model's output.
NESTED = {"inner_gelu": "block"}


@pytest.fixture(scope="module")
def graph_cnn():
    return build_graph_cnn()


@pytest.fixture(scope="module")
def graph_images():
    """An odd size, so strided and 'same' layers lose or pad a row."""
    return np.random.default_rng(0).uniform(0, 255, (2, 21, 18, 3)).astype(np.float32)


def _strongest_map(net, images, layer):
    activations = net.activations(images, layer)
    return int(np.argmax(activations.reshape(-1, activations.shape[-1]).max(axis=0)))


def _assert_matches(net, model, images, layer, feature, copy, tolerance=1e-4, windowed="auto"):
    projection = net.project_details(images, layer, feature, windowed=windowed)
    expected, values, positions = graph_oracle.project_max(
        model, images, NESTED.get(layer, layer), feature, net.relu_rule, net.preprocessing.name,
        copy)
    np.testing.assert_allclose(projection.values, values, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(projection.positions, positions)
    live = np.abs(expected).reshape(len(images), -1).max(axis=1) > 0
    assert live.any(), f"{layer}/{feature}: every projection is zero; pick another map"
    error = oracle.relative_error(projection.reconstructions[live], expected[live])
    assert error.max() <= tolerance, f"{layer}/{feature}: relative errors {error}"
    np.testing.assert_array_equal(projection.reconstructions[~live], 0)


@pytest.mark.parametrize("windowed", [False, True], ids=["full", "windowed"])
@pytest.mark.parametrize("relu_rule", ["deconvnet", "guided"])
def test_every_layer_of_a_graph_equals_the_oracle(graph_cnn, graph_images, relu_rule, windowed):
    """Both reverse paths: whole maps, and in windows wherever the rules allow (then whole
    maps past a global pool, an upsampling or the classifier)."""
    net = deconv.Deconvnet(graph_cnn, relu_rule=relu_rule)
    copy = graph_oracle.clone(graph_cnn, relu_rule, logits="predictions")
    assert net.layer_names[-1] == "predictions" and "gap" in net.layer_names
    for layer in net.layer_names:
        if layer in ("inner_conv", "inner_ln"):  # inside the nested model: the oracle can't
            continue                             # read them; the later layers cover them
        _assert_matches(net, graph_cnn, graph_images, layer,
                        _strongest_map(net, graph_images, layer), copy, windowed=windowed)
    size = graph_images.shape[1:3]
    # Keras names the operations `x * gate` and `x + y` itself: multiply, multiply_1, ... as
    # earlier tests of the session made others.
    in_windows = [re.sub(r"^(multiply|add)_\d+$", r"\1", layer) for layer in net.layer_names
                  if net.builder.reverse_plan(layer, windowed, size).windowed]
    assert in_windows == ([] if not windowed else [
        "pad", "stem", "stem_bn", "stem_relu6", "b_dw", "a", "b_swish", "b_sep", "sum", "pool",
        "cat", "excite", "inner_conv", "inner_ln", "inner_gelu", "multiply", "add", "dense_maps",
        "crop", "top_conv"])


def test_windows_on_a_graph_are_unions_handed_to_whole_maps(graph_cnn):
    """Where each tensor's window comes from: `cat` reads a max pool (windowed) and an average
    pool (whole maps); `sum` is read by both, so the whole maps take over there. `excite`
    multiplies by a 1x1 gate: the gate and `cat` get whole maps (the gate is read at every
    position, and `cat` also feeds the global pool below the gate)."""
    net = deconv.Deconvnet(graph_cnn)
    plan = net.builder.window_plan("cat", (21, 18), float("inf"))
    assert plan.steps == ("cat", "pool") and plan.boundary == ("sum", "avg")
    assert not net.window_reaches_pixels("cat", (21, 18))
    plan = net.builder.window_plan("sum", (21, 18), float("inf"))
    assert plan.boundary == () and plan.window_size("sum") == (1, 1)
    # a: 3x3 'same' conv on the stem's maps; b: a depthwise and a separable 3x3: a 5x5 union
    assert plan.window_size("stem_relu6") == (5, 5)
    assert plan.window_size("input") == (11, 11)  # the stem: 3x3, stride 2: (5 - 1) * 2 + 3
    plan = net.builder.window_plan("excite", (21, 18), float("inf"))
    assert plan.steps == ("excite",) and plan.boundary == ("cat", "gate")
    assert net.builder.window_plan("up", (21, 18), float("inf")) is None


def test_a_window_of_pointwise_steps_alone_runs_on_whole_maps():
    """A 1x1 convolution below a squeeze-and-excitation gate (an EfficientNet block's end): the
    window stops at the gate, so it would hold pointwise steps alone and save nothing; "auto"
    runs the whole maps, True still windows, with the same numbers."""
    inputs = keras.Input((12, 12, 3))
    features = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="c1")(inputs)
    gate = keras.layers.GlobalAveragePooling2D(keepdims=True, name="gate")(features)
    excite = keras.layers.Multiply(name="excite")([features, gate])
    model = keras.Model(inputs, keras.layers.Conv2D(4, 1, name="p")(excite))
    randomize(model, 4)
    net = deconv.Deconvnet(model, preprocessing="none")
    assert net.builder.window_plan("p", (12, 12), 0.8).steps == ("p", "excite")
    assert net.builder.reverse_plan("p", "auto", (12, 12)) == WHOLE_MAPS
    assert net.builder.reverse_plan("p", True, (12, 12)).on_graph
    images = np.random.default_rng(2).uniform(0, 255, (2, 12, 12, 3)).astype(np.float32)
    full = net.project(images, "p", 1, windowed=False)
    assert np.abs(full).max() > 0
    np.testing.assert_allclose(net.project(images, "p", 1, windowed=True), full,
                               atol=1e-5 * np.abs(full).max())


def test_windowed_equals_whole_maps_at_every_position_and_image(graph_cnn):
    """Every position of a few layers (corners and edges, whose windows are cut by the maps),
    several per image in one call (`project_groups`): the same numbers both ways."""
    net = deconv.Deconvnet(graph_cnn)
    images = np.random.default_rng(8).uniform(0, 255, (3, 23, 20, 3)).astype(np.float32)
    for layer in ("sum", "cat", "top_conv"):
        height, width = net.map_size(layer, (23, 20))
        positions = np.array([(y, x) for y in range(height) for x in range(width)], np.int32)
        count = len(positions)
        sources = np.arange(count, dtype=np.int32) % 3
        features = np.argmax(net.activations(images, layer)[sources, positions[:, 0],
                                                             positions[:, 1]], axis=1)
        full = net.project_groups(images, layer, sources, features, positions, windowed=False)
        windowed = net.project_groups(images, layer, sources, features, positions,
                                      windowed=True)
        np.testing.assert_allclose(windowed.values, full.values, rtol=1e-6)
        np.testing.assert_array_equal(windowed.positions, positions)
        scale = np.abs(full.reconstructions).max(axis=(1, 2, 3), keepdims=True) + 1e-30
        assert np.abs((windowed.reconstructions - full.reconstructions) / scale).max() < 1e-5
        alone = net.project_details(images[sources[:4]], layer, features[:4], positions[:4])
        assert oracle.relative_error(full.reconstructions[:4], alone.reconstructions).max() < 1e-5


@pytest.mark.parametrize("windowed", [False, True], ids=["full", "windowed"])
def test_new_batch_content_runs_the_same_trace(graph_cnn, windowed):
    """Pass 2 calls the compiled projection with new images, selections and counts each time:
    one trace serves them all (CompileOnReuse runs the first call eagerly, traces the second)."""
    net = deconv.Deconvnet(graph_cnn)
    rng = np.random.default_rng(5)
    layer = "sum"
    grouped = net.builder.project_groups_fn(layer, net.builder.reverse_plan(layer, windowed,
                                                                           (21, 18)))
    single = net.builder.project_fn(layer, "activation", net.builder.reverse_plan(
        layer, windowed, (21, 18)))
    for count, selections in ((2, 3), (3, 5), (1, 1), (3, 2)):
        images = rng.uniform(0, 255, (count, 21, 18, 3)).astype(np.float32)
        sources = rng.integers(count, size=selections).astype(np.int32)
        features = rng.integers(net.feature_count(layer), size=selections).astype(np.int32)
        net.project_groups(images, layer, sources, features, windowed=windowed)
        net.project(images, layer, features[:1], windowed=windowed)
    assert grouped.calls == single.calls == 4
    assert grouped.compiled.experimental_get_tracing_count() == 1
    assert single.compiled.experimental_get_tracing_count() == 1


def test_a_negative_value_is_projected_with_its_sign(graph_cnn, graph_images):
    """A linear layer's value may be negative: the signal starts negative, and the first
    rectification below stops it (relu is not linear: this is not -1 times a positive one)."""
    net = deconv.Deconvnet(graph_cnn)
    activations = net.activations(graph_images[:1], "stem")[0]
    y, x, feature = np.unravel_index(np.argmin(activations), activations.shape)
    value = activations[y, x, feature]
    assert value < 0
    projection = net.project_details(graph_images[:1], "stem", int(feature), (int(y), int(x)))
    assert projection.values[0] == pytest.approx(value)
    copy = graph_oracle.clone(graph_cnn)
    target = keras.Model(copy.inputs, copy.get_layer("stem").output)
    pixels = tf.constant(graph_images[:1])
    with tf.GradientTape() as tape:
        tape.watch(pixels)
        output = target(pixels)
    seed = np.zeros(output.shape, np.float32)
    seed[0, y, x, feature] = value
    expected = tape.gradient(output, pixels, output_gradients=tf.constant(seed)).numpy()
    assert np.abs(expected).max() > 0  # the stem is linear: the signal reaches the pixels
    assert oracle.relative_error(projection.reconstructions, expected).max() <= 1e-5


def test_fan_out_sums_the_signals_of_every_branch(graph_cnn, graph_images):
    """`stem_relu6` feeds three steps (two branches and the add): the deconv model adds the
    three signals coming back (the oracle agreement above checks their sum's values)."""
    net = deconv.Deconvnet(graph_cnn)
    readers = [step.name for step in net.steps if "stem_relu6" in step.inputs]
    assert sorted(readers) == ["a", "b_dw", "sum"]
    model = net.builder.deconv_model("sum")
    assert any(layer.name == "stem_relu6_fan_in" for layer in model.layers)


def test_weights_are_shared_on_a_graph(graph_cnn, graph_images):
    net = deconv.Deconvnet(graph_cnn)
    deconv_model = net.builder.deconv_model("top_conv")
    forward = {id(w) for w in graph_cnn.weights}
    assert deconv_model.weights and all(id(w) in forward for w in deconv_model.weights)
    before = net.project(graph_images, "top_conv", 1)
    kernel = graph_cnn.get_layer("b_sep").pointwise_kernel
    saved = kernel.numpy()
    try:
        kernel.assign(saved * -1.7)
        after = net.project(graph_images, "top_conv", 1)
        assert oracle.relative_error(after, before).min() > 1e-2
        copy = graph_oracle.clone(graph_cnn, logits="predictions")
        _assert_matches(net, graph_cnn, graph_images, "top_conv", 1, copy)
    finally:
        kernel.assign(saved)


@pytest.fixture(scope="module")
def linear_cnn():
    """The graph with linear activations and average pools: its plain gradient is nonzero
    over each receptive field, so its support's bounding box is the field."""
    return build_graph_cnn(activation="linear", pool="average")


@pytest.mark.parametrize("layer", ["stem", "a", "b_sep", "sum", "pool", "cat"])
def test_receptive_fields_are_the_support_of_the_gradient(linear_cnn, layer):
    net = deconv.Deconvnet(linear_cnn)
    size = (23, 19)
    height, width = net.map_size(layer, size)
    target = keras.Model(linear_cnn.inputs, linear_cnn.get_layer(layer).output)
    for y, x in [(0, 0), (height - 1, width - 1), (height // 2, width // 3), (1, width - 2)]:
        images = tf.constant(np.random.default_rng(y * 7 + x).uniform(-1, 1, (1, *size, 3)),
                             tf.float32)
        with tf.GradientTape() as tape:
            tape.watch(images)
            value = tf.reduce_sum(target(images)[0, y, x])
        support = np.argwhere(np.abs(tape.gradient(value, images).numpy()[0]).sum(axis=-1) > 0)
        top, left = support.min(axis=0)
        bottom, right = support.max(axis=0) + 1
        box = deconv.receptive_field(net, layer, (y, x), size)
        assert box == (top, left, bottom, right), (layer, (y, x), box)


def test_past_a_global_pool_fields_are_the_whole_image(graph_cnn):
    net = deconv.Deconvnet(graph_cnn)
    for layer in ("excite", "top_conv", "predictions"):
        assert deconv.receptive_field(net, layer, (0, 0), (21, 18)) == (0, 0, 21, 18)
    with pytest.raises(deconv.DeconvError, match="sees the whole image: pass image_size"):
        deconv.receptive_field(net, "excite", (0, 0))


def test_projections_stay_inside_their_fields(graph_cnn):
    """Containment with max pools and ReLUs, corners included, as for VGG."""
    net = deconv.Deconvnet(graph_cnn)
    images = np.random.default_rng(4).uniform(0, 255, (1, 29, 26, 3)).astype(np.float32)
    for layer in ("a", "sum", "pool", "cat"):
        height, width = net.map_size(layer, (29, 26))
        for y, x in [(0, 0), (height - 1, width - 1), (height // 2, 1)]:
            feature = int(np.argmax(net.activations(images, layer)[0, y, x]))
            reconstruction = net.project(images, layer, feature, (y, x))[0]
            top, left, bottom, right = deconv.receptive_field(net, layer, (y, x), (29, 26))
            outside = np.ones((29, 26), bool)
            outside[top:bottom, left:right] = False
            assert not np.any(reconstruction[outside]), (layer, (y, x))
            assert np.abs(reconstruction).max() > 0


def test_names_sizes_and_logits(graph_cnn, graph_images):
    net = deconv.Deconvnet(graph_cnn)
    assert "gmp" not in net.layer_names and "stem" in net.layer_names  # vectors: only logits
    assert net.map_size("predictions", (21, 18)) == (1, 1)
    assert net.map_size("up", (21, 18)) == (12, 10) and net.map_size("crop", (21, 18)) == (11, 9)
    logits = net.activations(graph_images, "predictions")
    assert logits.shape == (2, 4)
    probabilities = graph_cnn(graph_images).numpy()
    np.testing.assert_allclose(tf.nn.softmax(logits).numpy(), probabilities, rtol=1e-5)
    with pytest.raises(deconv.DeconvError,
                       match=r"Layer 'gmp' \(GlobalMaxPooling2D\) has no maps"):
        net.project(graph_images, "gmp", 0)
    with pytest.raises(deconv.DeconvError, match="needs mode 'activation'"):
        net.project(graph_images, "a", 0, mode="maps", windowed=True)


def test_a_model_with_a_classifier_takes_its_own_size():
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="c")(inputs)
    x = keras.layers.Flatten(name="flat")(x)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="p")(x))
    randomize(model, 2)
    net = deconv.Deconvnet(model)
    with pytest.raises(deconv.DeconvError, match="takes images of 16x16 pixels exactly"):
        net.project(np.zeros((1, 20, 20, 3)), "c", 0)
    copy = graph_oracle.clone(model, logits="p")
    images = np.random.default_rng(1).uniform(0, 255, (2, 16, 16, 3))
    _assert_matches(net, model, images, "p", _strongest_map(net, images, "p"), copy)
