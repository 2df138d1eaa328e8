"""Feature evolution on checkpoints made here: a tiny CNN trained on a synthetic task
(`tests.helpers.training_task`), whose maps' strongest image changes from gray to red as it
learns."""
import json
import os
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import deconv
from deconv.analysis import evolution
from deconv.analysis import evolution_pictures
from deconv.errors import DeconvError
from deconv.models import checkpoints as checkpoints_lib
from deconv.io import streaming
from deconv.sweeps import runner
from deconv.sweeps import sweep as sweeps_lib
from tests.helpers import training_task as task
from tests.helpers.training_task import EPOCHS

READING = streaming.Reading(task.SIDE, batch_size=4)


@pytest.fixture(scope="module")
def net():
    """A fresh copy of the task's model, cut after c2: the checkpoints give its weights."""
    return deconv.Deconvnet(evolution.conv_part(task.model(seed=5), ["c2"]), "unit")


def _png(path):
    with Image.open(path) as picture:
        return np.asarray(picture.convert("RGB"))


def _keras_winner(path, layer, feature):
    """The oracle: Keras's own loading and forward pass, on x / 255 -> (image name, (y, x))."""
    model = (keras.saving.load_model(path, compile=False) if path.endswith(".keras")
             else task.model())
    if not path.endswith(".keras"):
        with warnings.catch_warnings():  # the file's optimizer state is not needed here
            warnings.simplefilter("ignore", UserWarning)
            model.load_weights(path)
    maps = keras.Model(model.inputs, model.get_layer(layer).output).predict(
        task.images() / 255, verbose=0)[..., feature]
    image, y, x = np.unravel_index(maps.argmax(), maps.shape)
    return task.NAMES[image], (int(y), int(x))


def test_each_column_is_what_the_sweep_finds_with_that_checkpoint(trained_task, net, tmp_path):
    folder, checkpoints, _, _ = trained_task
    before = [w.numpy() for w in net.model.weights]
    result = evolution.feature_evolution(net, "c2", str(folder), checkpoints=str(checkpoints),
                                         features=[0, 1], reading=READING)
    files = checkpoints_lib.checkpoint_files(str(checkpoints))
    assert result.checkpoints == ["epoch_00", "epoch_03", "epoch_30"]
    assert all(np.array_equal(a, w.numpy()) for a, w in zip(before, net.model.weights))
    paths = sorted(str(folder / f"{name}.png") for name in task.NAMES)
    for number, (column, path) in enumerate(zip(result.columns, files)):
        checkpoints_lib.load_checkpoint(net.model, path)
        sweeps = [sweeps_lib.make_sweep(net, "c2", feature, top=1) for feature in (0, 1)]
        out = tmp_path / f"run{number}"  # what `python -m deconv.run --top 1` writes
        runner.run(net, paths, sweeps, str(out), runner.Settings(task.SIDE, batch_size=4), {})
        for feature, cell in zip((0, 1), column["c2"]):
            found = json.loads((out / f"c2_{feature}.json").read_text())["results"][0]
            assert (found["path"], tuple(found["position"])) == (cell.winner.path,
                                                                 cell.winner.position)
            assert found["value"] == cell.winner.value and found["box"] == list(cell.winner.box)
            np.testing.assert_array_equal(_png(out / f"c2_feat_{feature}.png")[2:-2, 2:-2],
                                          cell.feat)
            np.testing.assert_array_equal(_png(out / f"c2_im_{feature}.png")[2:-2, 2:-2],
                                          cell.patch)
            name, position = _keras_winner(path, "c2", feature)
            assert (os.path.basename(cell.winner.path), cell.winner.position) == (
                f"{name}.png", position)
    # Training changes what the maps respond to most: the bright gray image, then a red one.
    for row in result.rows("c2"):
        names = [os.path.basename(cell.winner.path) for cell in row]
        assert names[0] == "gray.png" and names[-1].startswith("red"), names


def test_callback_draws_the_same_columns_while_training(trained_task, net):
    folder, checkpoints, callback, _ = trained_task
    both = deconv.Deconvnet(evolution.conv_part(task.model(seed=5), ["c1", "c2"]), "unit")
    expected = evolution.feature_evolution(both, ["c1", "c2"], str(folder),
                                           checkpoints=str(checkpoints),
                                           features={"c1": [0, 1], "c2": [0, 1]}, reading=READING)
    found = callback.result
    assert found.checkpoints == ["epoch 0", "epoch 3", "epoch 30"]
    for layer in ("c1", "c2"):
        for mine, theirs in zip(found.rows(layer), expected.rows(layer)):
            for a, b in zip(mine, theirs):
                number = int(a.winner.path.strip("images[]"))
                assert os.path.basename(b.winner.path) == f"{task.NAMES[number]}.png"
                assert (a.winner.position, a.winner.box) == (b.winner.position, b.winner.box)
                assert a.winner.value == pytest.approx(b.winner.value, rel=1e-5)
                np.testing.assert_array_equal(a.feat, b.feat)
                np.testing.assert_array_equal(a.patch, b.patch)
    out = callback.out
    feat_grid, im_grid = evolution_pictures.grids(found, "c2")
    np.testing.assert_array_equal(_png(os.path.join(out, "c2_evolution_feat.png")), feat_grid)
    np.testing.assert_array_equal(_png(os.path.join(out, "c2_evolution_im.png")), im_grid)
    steps = {}
    for name in os.listdir(callback.log_dir):
        for event in tf.compat.v1.train.summary_iterator(os.path.join(callback.log_dir, name)):
            for value in event.summary.value:
                steps.setdefault(value.tag, []).append(event.step)
                last = value.tensor.string_val
    assert steps == {"evolution/c1": list(EPOCHS), "evolution/c2": list(EPOCHS)}
    np.testing.assert_array_equal(tf.io.decode_png(last[2]).numpy(), feat_grid)


def test_default_maps_are_the_strongest_at_the_last_checkpoint(trained_task, net):
    folder, checkpoints, _, _ = trained_task
    result = evolution.feature_evolution(net, "c2", str(folder), checkpoints=str(checkpoints),
                                         maps=1, reading=READING)
    checkpoints_lib.load_checkpoint(net.model, str(checkpoints / "epoch_30.keras"))
    acts = net.activations(task.images(), "c2")
    strongest = int(acts.max(axis=(0, 1, 2)).argmax())
    assert result.features == {"c2": [strongest]}
    named = evolution.feature_evolution(net, "c2", str(folder), checkpoints=str(checkpoints),
                                        features=[strongest], reading=READING)
    for a, b in zip(result.rows("c2")[0], named.rows("c2")[0]):
        assert a.winner == b.winner and np.array_equal(a.feat, b.feat)


def test_bad_input_is_reported_before_any_image_is_read(trained_task, net, tmp_path):
    folder, checkpoints, _, _ = trained_task
    other = keras.Sequential([keras.Input((None, None, 3)),
                              keras.layers.Conv2D(4, 3, name="c1")])
    other.save_weights(tmp_path / "other.weights.h5")
    (tmp_path / "empty").mkdir()
    run = lambda **options: evolution.feature_evolution(  # noqa: E731
        net, options.pop("layer", "c2"), options.pop("images", str(folder)),
        reading=READING, **{"checkpoints": str(checkpoints), **options})
    with pytest.raises(DeconvError, match=r"other.weights.h5 does not fit layer 'c1'"):
        run(checkpoints=[str(checkpoints / "epoch_00.weights.h5"),
                         str(tmp_path / "other.weights.h5")])
    with pytest.raises(DeconvError, match=r"^Checkpoint not found: 'nope.weights.h5'\.$"):
        run(checkpoints="nope.weights.h5")
    with pytest.raises(DeconvError, match=r"^No checkpoints in folder .*: it needs files"):
        run(checkpoints=str(tmp_path / "empty"))
    with pytest.raises(DeconvError, match=r"^Feature 2 is out of range for layer 'c2', which "
                                          r"has 2 feature maps"):
        run(features=[2])
    # The task's model takes 12x12 images only (its classifier fixes the size).
    with pytest.raises(DeconvError, match=r"^Images of 12x16: the model takes images of 12x12 "):
        run(images=np.zeros((2, 12, 16, 3), np.uint8))
    with pytest.raises(DeconvError, match=r"^Unknown layer 'c9'"):
        run(layer="c9")


def test_a_map_that_never_fires_is_noted(trained_task, net, tmp_path):
    folder, checkpoints, _, _ = trained_task
    model = task.model()
    with warnings.catch_warnings():  # the file's optimizer state is not needed here
        warnings.simplefilter("ignore", UserWarning)
        model.load_weights(checkpoints / "epoch_03.weights.h5")
    kernel, bias = model.get_layer("c2").get_weights()
    model.get_layer("c2").set_weights([kernel, bias - np.array([0, 1000], np.float32)])
    model.save_weights(tmp_path / "off.weights.h5")
    result = evolution.feature_evolution(
        net, "c2", str(folder), features=[0, 1], reading=READING,
        checkpoints=[str(checkpoints / "epoch_03.weights.h5"), str(tmp_path / "off.weights.h5")])
    assert evolution_pictures.notes(result, "c2") == [
        "map 1 never activates on these images at off (all values are 0): its reconstruction is "
        "blank and its patch is an arbitrary image's."]
    assert np.all(result.rows("c2")[1][1].feat == 128)  # zero is mid-gray
    assert result.rows("c2")[1][0].winner.value > 0
