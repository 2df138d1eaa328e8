"""python -m deconv.export: a SavedModel written, and one-line errors."""
from tests.conftest import assert_plain_warnings, last_error, run_command
from tests.helpers.command_batch import run_commands


def _export_cli(*flags):
    result = run_command("export", *flags)
    return result.returncode, last_error(result)


def test_command_line(tmp_path):
    result = run_command("export", "--feat", "conv2_1", "--model", "vgg16", "--weights",
                         "random", "--out", str(tmp_path / "ok"))
    assert result.returncode == 0 and (tmp_path / "ok" / "saved_model.pb").exists()
    assert_plain_warnings(result.stderr, random=True)
    readme = (tmp_path / "ok" / "README.txt").read_text()
    assert "Model: vgg16 with weights random (seed 0)" in readme
    # The errors share one process (TensorFlow starts once), each through the command's own
    # flag parsing, main and one-line errors (tests/helpers/command_batch.py).
    runs = [["--feat", "conv2_1", "--rule", "backwards", "--out", str(tmp_path / "x")],
            ["--feat", "conv9_1", "--model", "vgg16", "--weights", "random", "--out",
             str(tmp_path / "bad")],
            ["--feat", "conv2_1", "--all_layers", "--out", str(tmp_path / "x")],
            ["--feat", "conv2_1"]]
    (rule, layer, both, no_out) = [(result.returncode, last_error(result))
                                   for result, _ in run_commands("export", runs, tmp_path)]
    assert rule == (2, "python -m deconv.export: error: --rule must be one of deconvnet, "
                       "guided; received 'backwards'.")  # absl's own parse error, in our style
    assert layer[0] == 2 and "error: Unknown layer 'conv9_1'. Valid layers:" in layer[1]
    assert both[0] == 2 and both[1].endswith("error: Give either --feat LAYER or --all_layers; "
                                             "see --help.")
    assert no_out[0] == 2 and "error: --out is required" in no_out[1]
    assert not (tmp_path / "x").exists() and not (tmp_path / "bad").exists()


def test_unsupported_model_names_the_layer(tmp_path):
    import keras
    inputs = keras.Input((8, 8, 3))
    maps = keras.layers.Conv2D(4, 3, name="c")(inputs)
    sequence = keras.layers.Reshape((36, 4), name="flat")(maps)
    gate = keras.layers.Reshape((1, 1, 4))(keras.layers.LSTM(4, name="lstm")(sequence))
    after = keras.layers.Conv2D(2, 1, name="after")(keras.layers.Multiply()([maps, gate]))
    keras.Model(inputs, after).save(tmp_path / "recurrent.keras")
    code, last = _export_cli("--feat", "after", "--model", str(tmp_path / "recurrent.keras"),
                             "--out", str(tmp_path / "out"))
    assert code == 2
    assert "Layer 'after' cannot be projected: its way back to the pixels goes through lstm " \
           "(LSTM holds state or is recurrent)" in last
