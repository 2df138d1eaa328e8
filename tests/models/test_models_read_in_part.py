"""Models deconv cannot read entirely: a layer it cannot reverse is refused only where a
projection would reverse it; a `.keras` file it cannot load (a `Lambda`, a custom layer class)
is one line for the command's user, with what they can do."""
import keras
import numpy as np
import pytest
import tensorflow as tf

import deconv
from deconv.models import loading
from tests.conftest import last_error, run_command


@keras.saving.register_keras_serializable(package="issue23")
class Twice(keras.layers.Layer):
    """A custom layer: registered here, unknown to a command's new process."""

    def call(self, inputs):
        return inputs * 2.0


def lstm_branch_model():
    """A conv trunk whose global pool feeds an LSTM, which gates a later conv: `c1` and `c2`
    are upstream of the LSTM, `after` downstream."""
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="c1")(inputs)
    x = keras.layers.Conv2D(5, 3, activation="relu", name="c2")(x)
    state = keras.layers.Reshape((1, 5))(keras.layers.GlobalAveragePooling2D(name="gap")(x))
    gate = keras.layers.Reshape((1, 1, 5))(keras.layers.LSTM(5, name="lstm")(state))
    y = keras.layers.Multiply(name="gate")([x, gate])
    outputs = keras.layers.Conv2D(3, 3, activation="relu", name="after")(y)
    model = keras.Model(inputs, outputs)
    rng = np.random.default_rng(3)
    for weight in model.weights:
        weight.assign(rng.normal(0, 0.3, weight.shape).astype(np.float32))
    return model


def test_only_what_a_projection_reverses_is_refused_and_unloadable_files_say_why(tmp_path):
    """Issue 23, item 4."""
    model = lstm_branch_model()
    net = deconv.Deconvnet(model)  # was refused whole: "layers deconv cannot reverse: lstm"
    images = np.random.default_rng(0).uniform(0, 255, (1, 12, 12, 3)).astype(np.float32)
    details = net.project_details(images, "c1", feature=2)
    # The oracle: for the first conv, the projection is the activation's value times its
    # gradient with respect to the pixels (its ReLU is on at the chosen position).
    pixels = tf.constant(images)
    y, x = (int(v) for v in details.positions[0])
    with tf.GradientTape() as tape:
        tape.watch(pixels)
        activation = keras.Model(model.inputs, model.get_layer("c1").output)(pixels)[0, y, x, 2]
    expected = activation.numpy() * tape.gradient(activation, pixels).numpy()
    assert activation.numpy() > 0
    np.testing.assert_allclose(details.reconstructions, expected, rtol=1e-5, atol=1e-6)
    assert net.project(images, "c2", feature=0).shape == (1, 12, 12, 3)
    assert net.activations(images, "after").shape == (1, 6, 6, 3)  # forward through the LSTM
    with pytest.raises(deconv.DeconvError, match=r"Layer 'after' cannot be projected: its way "
                                                 r"back to the pixels goes through lstm \(LSTM "
                                                 r"holds state or is recurrent\)"):
        net.project(images, "after", feature=0)
    assert net.projectable(["c1", "c2", "after"]) == ["c1", "c2"]
    # A Lambda layer, and a custom class the command line does not know: one line each.
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(4, 3, name="c1")(inputs)
    keras.Model(inputs, keras.layers.Lambda(lambda t: t * 2, name="double")(x)).save(
        tmp_path / "lambda.keras")
    with pytest.raises(deconv.DeconvError, match=r"its Lambda layers \(double\) hold Python "
                                                 r"code.*safe_mode=False"):
        loading.load_model(str(tmp_path / "lambda.keras"))
    keras.Model(inputs, Twice(name="twice")(x)).save(tmp_path / "custom.keras")
    result = run_command("run", "--model", str(tmp_path / "custom.keras"), "--feat", "c1",
                         "--out", str(tmp_path / "out"))
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert last_error(result).endswith(
        "its custom layers (twice (class issue23>Twice)) are of classes the command line does "
        "not know. In Python, import the module that registers them "
        "(keras.saving.register_keras_serializable), load the model (keras.saving.load_model) "
        "and pass it to deconv.Deconvnet."), result.stderr
