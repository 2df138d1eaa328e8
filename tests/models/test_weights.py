"""Weights: every supported file format, the ImageNet search and its error, safe loading."""
import os

import h5py
import keras
import numpy as np
import pytest

import deconv
from deconv.core import names
from deconv.models import weights
from deconv.errors import DeconvError
from tests.conftest import build_custom_cnn, conv_arrays


def assert_same_weights(model, expected):
    assert conv_arrays(model).keys() == expected.keys()
    for name, arrays in conv_arrays(model).items():
        for got, want in zip(arrays, expected[name]):
            np.testing.assert_array_equal(got, want)


def test_seeded_random_weights_are_reproducible():
    a = conv_arrays(deconv.load_model("vgg16", weights=None, seed=1))
    b = conv_arrays(deconv.load_model("vgg16", weights="random", seed=1))
    c = conv_arrays(deconv.load_model("vgg16", weights=None, seed=2))
    np.testing.assert_array_equal(a["block3_conv2"][0], b["block3_conv2"][0])
    assert not np.array_equal(a["block3_conv2"][0], c["block3_conv2"][0])


def test_model_has_keras_names_and_any_input_size():
    model = deconv.load_model("vgg19", weights=None)
    assert model.input_shape == (None, None, None, 3)
    assert model.layers[1].name == "block1_conv1" and model.layers[-1].name == "block5_pool"
    assert sum(isinstance(layer, keras.layers.Conv2D) for layer in model.layers) == 16


def test_npy_dict_loads(npy_file, vgg16_arrays):
    assert_same_weights(deconv.load_model("vgg16", weights=str(npy_file)), vgg16_arrays)


def test_keras3_weights_file_loads(tmp_path, vgg16_arrays):
    source = deconv.load_model("vgg16", weights=None, seed=3)
    source.save_weights(tmp_path / "vgg16.weights.h5")
    assert_same_weights(deconv.load_model("vgg16", weights=str(tmp_path / "vgg16.weights.h5")),
                         vgg16_arrays)


def test_legacy_notop_layout_loads(tmp_path, vgg16_arrays):
    """The layout of Keras's downloaded vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5."""
    path = tmp_path / "legacy.h5"
    with h5py.File(path, "w") as h5:
        layer_names = ["input_1"] + list(vgg16_arrays) + ["block5_pool"]
        h5.attrs["layer_names"] = [n.encode() for n in layer_names]
        for name in layer_names:
            group = h5.create_group(name)
            arrays = vgg16_arrays.get(name, [])
            weight_names = [f"{name}/{kind}:0" for kind in ("kernel", "bias")][:len(arrays)]
            group.attrs["weight_names"] = [n.encode() for n in weight_names]
            for weight_name, array in zip(weight_names, arrays):
                group[weight_name] = array
    assert_same_weights(deconv.load_model("vgg16", weights=str(path)), vgg16_arrays)


def test_shape_mismatch_names_the_first_bad_layer(tmp_path, vgg16_arrays):
    bad = {names.paper_name(k): v for k, v in vgg16_arrays.items()}
    bad["conv2_2"] = [bad["conv2_2"][0][:, :, :64], bad["conv2_2"][1]]
    bad["conv4_1"] = [bad["conv4_1"][0][:, :, :10], bad["conv4_1"][1]]
    np.save(tmp_path / "bad.npy", bad, allow_pickle=True)
    with pytest.raises(DeconvError, match=r"'block2_conv2'.*\(3, 3, 128, 128\).*\(3, 3, 64, 128\)"):
        deconv.load_model("vgg16", weights=str(tmp_path / "bad.npy"))


def test_missing_layer_and_wrong_arch(npy_file):
    with pytest.raises(DeconvError, match=r"no weights for layer 'block3_conv4'.* The file has "
                                          r"weights for 13 layers, the model 'vgg19' 16: is it "
                                          r"for another architecture \(another --model\)\?"):
        deconv.load_model("vgg19", weights=str(npy_file))


class _Exploit:
    def __reduce__(self):
        return (os.system, (f"touch {_Exploit.marker}",))


def test_npy_with_code_is_refused_and_not_run(tmp_path):
    _Exploit.marker = tmp_path / "pwned"
    np.save(tmp_path / "evil.npy", np.array({"conv1_1": [_Exploit()]}), allow_pickle=True)
    with pytest.raises(DeconvError, match=r"(posix|os)\.system is not allowed"):
        deconv.load_model("vgg16", weights=str(tmp_path / "evil.npy"))
    assert not _Exploit.marker.exists()


def test_npy_of_plain_array_or_wrong_content(tmp_path):
    np.save(tmp_path / "plain.npy", np.zeros(3))
    with pytest.raises(DeconvError, match="plain float64 array"):
        deconv.load_model("vgg16", weights=str(tmp_path / "plain.npy"))
    np.save(tmp_path / "list.npy", np.array([1, "a"], dtype=object), allow_pickle=True)
    with pytest.raises(DeconvError, match="must hold a dict"):
        deconv.load_model("vgg16", weights=str(tmp_path / "list.npy"))


def test_bad_weights_paths(tmp_path):
    with pytest.raises(DeconvError, match="Weights file not found: '.*nope.h5'"):
        deconv.load_model("vgg16", weights=str(tmp_path / "nope.h5"))
    (tmp_path / "w.pt").write_bytes(b"x")
    with pytest.raises(DeconvError, match="Unsupported weights file"):
        deconv.load_model("vgg16", weights=str(tmp_path / "w.pt"))
    (tmp_path / "junk.h5").write_bytes(b"not hdf5")
    with pytest.raises(DeconvError, match="Cannot read weights file"):
        deconv.load_model("vgg16", weights=str(tmp_path / "junk.h5"))
    with pytest.raises(DeconvError, match=r"Unknown arch 'vgg20'. Valid: .*resnet50, .*vgg16, vgg19, xception, "
                                          r"or the path of a .keras model"):
        deconv.load_model("vgg20")


def test_imagenet_error_lists_every_place_tried(tmp_path, monkeypatch, capfd):
    monkeypatch.setenv("DECONV_PRETRAINED", str(tmp_path / "pre"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    capfd.readouterr()
    with pytest.raises(DeconvError) as error:
        weights.find_imagenet("vgg19", origin="http://127.0.0.1:9/vgg19_notop.h5")
    printed = capfd.readouterr()
    assert printed.out == "" and "Downloading" not in printed.err  # only our error, offline
    message = str(error.value)
    assert "\n" not in message
    assert "(1) " + str(tmp_path / "pre") in message and "vgg19.npy" in message
    assert "(2) " + str(tmp_path / "keras" / "models" /
                        "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5") in message
    assert "(3) download http://127.0.0.1:9/vgg19_notop.h5 (failed:" in message
    assert "pretrained/" in message and "--weights" in message


def test_imagenet_search_order(tmp_path, monkeypatch, npy_file, vgg16_arrays):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    cached = tmp_path / "keras" / "models" / weights.KERAS_FILES["vgg16"][0]
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"placeholder")
    monkeypatch.setenv("DECONV_PRETRAINED", str(tmp_path / "empty"))
    assert weights.find_imagenet("vgg16") == str(cached)
    pretrained = tmp_path / "pre"
    pretrained.mkdir()
    (pretrained / "vgg16.npy").symlink_to(npy_file)
    monkeypatch.setenv("DECONV_PRETRAINED", str(pretrained))
    assert weights.find_imagenet("vgg16") == str(pretrained / "vgg16.npy")
    assert_same_weights(deconv.load_model("vgg16", weights="imagenet"), vgg16_arrays)


def test_user_keras_model_loads_safely(tmp_path):
    model = build_custom_cnn()
    model.save(tmp_path / "custom.keras")
    loaded = deconv.load_model(str(tmp_path / "custom.keras"))
    assert_same_weights(loaded, conv_arrays(model))
    unsafe = keras.Sequential([keras.Input((4, 4, 3)), keras.layers.Lambda(lambda x: x * 2)])
    unsafe.save(tmp_path / "lambda.keras")
    with pytest.raises(DeconvError, match="safe_mode"):
        deconv.load_model(str(tmp_path / "lambda.keras"))


class _Call:
    """Pickles as a call of `function(*args)`: crafted weight files."""

    def __init__(self, function, *args):
        self.function, self.args = function, args

    def __reduce__(self):
        return self.function, self.args


@pytest.mark.parametrize("payload,match", [
    (_Call(__import__("codecs").encode, "x", "rot13"), "not allowed"),
    (_Call(np.dtype, "zzz"), "Cannot read weights file"),
])
def test_crafted_pickles_give_one_line_errors(tmp_path, payload, match):
    np.save(tmp_path / "crafted.npy", np.array({"conv1_1": [payload]}), allow_pickle=True)
    with pytest.raises(DeconvError, match=match):
        deconv.load_model("vgg16", weights=str(tmp_path / "crafted.npy"))


def test_non_numeric_weights_are_refused_before_assigning(tmp_path, vgg16_arrays):
    bad = {names.paper_name(k): v for k, v in vgg16_arrays.items()}
    bad["conv3_1"] = [np.full(bad["conv3_1"][0].shape, "a"), bad["conv3_1"][1]]
    np.save(tmp_path / "strings.npy", bad, allow_pickle=True)
    model = deconv.load_model("vgg16", weights=None, seed=0)
    before = model.get_layer("block1_conv1").kernel.numpy()
    with pytest.raises(DeconvError, match="'block3_conv1'; weights must be finite numbers"):
        weights.load_into(model, str(tmp_path / "strings.npy"))
    np.testing.assert_array_equal(model.get_layer("block1_conv1").kernel.numpy(), before)


def test_broken_legacy_h5_is_reported(tmp_path):
    with h5py.File(tmp_path / "broken.h5", "w") as h5:
        h5.attrs["layer_names"] = [b"block1_conv1"]
        h5.create_group("block1_conv1").attrs["weight_names"] = [b"block1_conv1/kernel:0"]
    with pytest.raises(DeconvError, match="Cannot read weights file"):
        deconv.load_model("vgg16", weights=str(tmp_path / "broken.h5"))


def test_keras_model_with_random_weights_is_reinitialised(tmp_path):
    model = build_custom_cnn()
    model.save(tmp_path / "custom.keras")
    a = deconv.load_model(str(tmp_path / "custom.keras"), weights="random", seed=1)
    b = deconv.load_model(str(tmp_path / "custom.keras"), weights="random", seed=1)
    saved = model.get_layer("c2").kernel.numpy()
    assert not np.allclose(a.get_layer("c2").kernel.numpy(), saved)
    np.testing.assert_array_equal(a.get_layer("c2").kernel.numpy(),
                                  b.get_layer("c2").kernel.numpy())
    with pytest.raises(DeconvError, match="seed must be a non-negative integer"):
        deconv.load_model("vgg16", weights=None, seed="x")
