"""Invariance curves on models whose answers are known: global average pooling over pointwise
maps is exactly invariant to circular shifts; an identity layer gives distances by hand."""
import keras
import numpy as np
import pytest

from deconv.analysis import invariance
from deconv.analysis import invariance_plot
from deconv.core.deconvnet import Deconvnet
from deconv.errors import DeconvError


def gap_model():
    """Pointwise maps (1x1 convs), then their global average: circular shifts of the image
    permute the maps' pixels, and the average does not change."""
    model = keras.Sequential([keras.Input((None, None, 3)),
                              keras.layers.Conv2D(4, 1, activation="relu", name="pointwise"),
                              keras.layers.Conv2D(3, 1, name="mix"),
                              keras.layers.GlobalAveragePooling2D(name="gap")], name="gap")
    rng = np.random.default_rng(1)
    for layer in model.layers:
        layer.set_weights([rng.normal(0, 0.05, w.shape).astype(np.float32) + 0.01
                           for w in layer.get_weights()])
    return model


def identity_model():
    """`pixels`: the image itself (a 1x1 identity conv); `gap`: its channel means."""
    model = keras.Sequential([keras.Input((None, None, 3)),
                              keras.layers.Conv2D(3, 1, use_bias=False, name="pixels"),
                              keras.layers.GlobalAveragePooling2D(name="gap")], name="identity")
    model.get_layer("pixels").set_weights([np.eye(3, dtype=np.float32)[None, None]])
    return model


def sum_classifier():
    """Class 0's logit is 0.001 times the sum of the pixels, class 1's is 0."""
    model = keras.Sequential([keras.Input((4, 4, 3)),
                              keras.layers.Conv2D(2, 4, name="logits"),
                              keras.layers.Flatten(), keras.layers.Softmax()])
    kernel = np.zeros((4, 4, 3, 2), np.float32)
    kernel[..., 0] = 0.001
    model.get_layer("logits").set_weights([kernel, np.zeros(2, np.float32)])
    return model


def _net(model):
    return Deconvnet(model, "none")


def rows_image():
    """4x4, every pixel of row i is 10 * (i + 1) in all three channels."""
    return np.repeat(np.repeat((np.arange(1, 5) * 10.0)[:, None, None], 4, axis=1), 3, axis=2)


def test_global_pooling_is_exactly_invariant_to_circular_shifts():
    images = np.random.default_rng(0).uniform(0, 255, (2, 16, 12, 3)).astype(np.float32)
    amounts = (-7, -2, 0, 1, 5, 16)
    for axis, roll_axis in (("vertical", 0), ("horizontal", 1)):
        transform = invariance.Transform("translate", amounts, "wrap", axis)
        for amount, moved in zip(amounts, invariance.transformed(images[0], transform)):
            np.testing.assert_array_equal(moved, np.roll(images[0], amount, axis=roll_axis))
        result = invariance.invariance_curves(_net(gap_model()), ["pointwise", "gap"], images,
                                              transform=transform)
        assert result.layers == ["pointwise", "gap"]
        assert np.all(result.norms["gap"] > 0) and np.all(result.distances["gap"] < 1e-6)
        pointwise = result.distances["pointwise"]
        pooled = invariance.invariance_curves(_net(gap_model()), "pointwise", images, pool="max",
                                              transform=transform)
        assert np.all(pooled.distances["pointwise"] == 0)  # a maximum ignores the order
        unchanged = [a == 0 or (axis == "vertical" and a == 16) for a in amounts]
        assert np.all(pointwise[:, unchanged] == 0) and np.all(pointwise[:, ~np.array(unchanged)]
                                                               > 0.05)


def test_distances_and_probabilities_by_hand():
    image = rows_image()
    transform = invariance.Transform("translate", (1, -1), "black")
    result = invariance.invariance_curves(_net(identity_model()), ["pixels", "gap", "logits"],
                                          image[None], transform=transform,
                                          classifier=sum_classifier())
    # ||x||^2 = 12 * (100 + 400 + 900 + 1600) = 36000. Down by one: rows 0, 10, 20, 30, every
    # pixel 10 off: 48 * 100 = 4800. Up by one: rows 20, 30, 40, 0: 36 * 100 + 12 * 1600.
    np.testing.assert_allclose(result.distances["pixels"][0],
                               [np.sqrt(4800 / 36000), np.sqrt(22800 / 36000)], rtol=1e-6)
    np.testing.assert_allclose(result.norms["pixels"], [np.sqrt(36000)], rtol=1e-6)
    # Channel means: 25 -> 15 and 22.5, the same in all three channels.
    np.testing.assert_allclose(result.distances["gap"][0], [10 / 25, 2.5 / 25], rtol=1e-6)
    # Pixel sums 1200 -> 720 and 1080: the classifier's logits (0.001 * sum, 0), a layer the
    # model lacks, move by 0.48 and 0.12 of 1.2; p(class 0) = sigmoid(0.001 * sum).
    np.testing.assert_allclose(result.distances["logits"][0], [0.4, 0.1], rtol=1e-5)
    assert result.targets.tolist() == [0]
    sigmoid = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    assert result.original_probability[0] == pytest.approx(sigmoid(1.2), rel=1e-5)
    np.testing.assert_allclose(result.probability[0], sigmoid(np.array([0.72, 1.08])), rtol=1e-5)
    assert result.top_class.tolist() == [[0, 0]]
    sideways = invariance.invariance_curves(
        _net(identity_model()), "pixels", image[None],
        transform=invariance.Transform("translate", (1,), "black", "horizontal"))
    # One column goes black: 3 * (100 + 400 + 900 + 1600) = 9000 of 36000.
    assert sideways.distances["pixels"][0, 0] == pytest.approx(0.5, rel=1e-6)


def test_transforms_move_pixels_as_described():
    image = np.random.default_rng(2).uniform(0, 255, (6, 6, 3)).astype(np.float32)
    rotated = invariance.transformed(image, invariance.Transform("rotate", (0, 90)))
    np.testing.assert_array_equal(rotated[0], image)
    np.testing.assert_allclose(rotated[1], np.rot90(image), atol=1e-3)  # counter-clockwise
    # Zoomed 2x about the centre: output row y reads input row 1.5 + (y - 1.5) / 2, where the
    # ramp's value is 10 * (row + 1): 17.5, 22.5, 27.5, 32.5.
    ramp = rows_image()
    zoomed = invariance.transformed(ramp, invariance.Transform("scale", (1, 2)))
    np.testing.assert_array_equal(zoomed[0], ramp)
    np.testing.assert_allclose(zoomed[1][:, 0, 0], [17.5, 22.5, 27.5, 32.5], rtol=1e-6)
    shifted = invariance.transformed(image, invariance.Transform("translate", (2,), "gray"))[0]
    np.testing.assert_array_equal(shifted[2:], image[:-2])
    np.testing.assert_allclose(shifted[:2], np.broadcast_to([123.68, 116.779, 103.939],
                                                            (2, 6, 3)))


def test_bad_input_is_reported_first(tmp_path):
    image = rows_image()[None]
    with pytest.raises(DeconvError, match=r"^Unknown transform 'shear'\. Valid: translate, "
                                          r"scale, rotate\.$"):
        invariance.invariance_curves(_net(identity_model()), "gap", image,
                                     transform=invariance.Transform("shear"))
    with pytest.raises(DeconvError, match=r"^Scales must be positive ratios"):
        invariance.Transform("scale", (0, 1)).checked()
    with pytest.raises(DeconvError, match=r"^Class 2 is out of range: the classifier has 2 "):
        invariance.invariance_curves(_net(identity_model()), "gap", image,
                                     classifier=sum_classifier(), labels=[2])
    with pytest.raises(DeconvError, match=r"^The classifier takes 4x4 images; received 8x8\.$"):
        invariance.invariance_curves(_net(identity_model()), "gap", np.zeros((1, 8, 8, 3)),
                                     classifier=sum_classifier())
    with pytest.raises(DeconvError, match=r"^Unknown layer 'conv9_9'"):
        invariance.invariance_curves(_net(identity_model()), "conv9_9", image)
    with pytest.raises(DeconvError, match=r"^invariance_curves takes a deconv.Deconvnet first "
                                          r".*; received Sequential\.$"):
        invariance.invariance_curves(identity_model(), "gap", image)
    with pytest.raises(DeconvError, match=r"^Unknown fill 'teal'"):
        invariance.Transform(fill="teal").checked()


def test_written_files_hold_the_numbers(tmp_path):
    images = np.random.default_rng(3).uniform(0, 255, (2, 16, 16, 3)).astype(np.float32)
    result = invariance.invariance_curves(_net(gap_model()), ["pointwise", "gap"], images,
                                          transform=invariance.Transform("rotate", (0, 90, 45)))
    paths = invariance_plot.write(str(tmp_path), images, result, ["a.png", "b.png"], {"x": 1})
    import json
    summary = json.loads(open(paths["summary"]).read())
    assert summary["x"] == 1 and summary["transform"]["unit"] == "degrees"
    assert summary["layers"]["pointwise"]["distance"] == [
        [round(float(v), 6) for v in row] for row in result.distances["pointwise"]]
    from PIL import Image
    with Image.open(paths["examples"]) as grid:  # 2 images x 3 amounts, 96 px + 14 px labels
        assert grid.size == (2 + 3 * 98, 2 + 2 * (96 + 14 + 2))
    with Image.open(paths["plot"]) as plot:
        assert plot.width > 600
