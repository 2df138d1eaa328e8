"""What every command shares (deconv._cli, deconv._net): the record of the weights used, and
paths of the wrong kind named as what they are."""
import hashlib

import numpy as np
import pytest

from deconv.errors import DeconvError


def test_the_weights_used_are_recorded_with_their_hash(tmp_path, vgg16):
    from deconv import _net
    path = tmp_path / "mine.weights.h5"
    vgg16.save_weights(path)
    net, load = _net.load_net("vgg16", str(path))
    assert load() == {"model": "vgg16", "weights": str(path), "weights_file": {
        "path": str(path), "bytes": path.stat().st_size,
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}}
    np.testing.assert_array_equal(net.model.get_layer("block5_conv3").kernel.numpy(),
                                  vgg16.get_layer("block5_conv3").kernel.numpy())
    assert load_random() == {"model": "vgg16", "weights": "random", "seed": 3}
    vgg16.save(tmp_path / "mine.keras")
    _, load = _net.load_net(str(tmp_path / "mine.keras"), "imagenet")
    record = load()
    assert record["weights"] == "the .keras file's own" and "weights_file" not in record
    assert record["model_file"]["sha256"] == hashlib.sha256(
        (tmp_path / "mine.keras").read_bytes()).hexdigest()


def load_random():
    from deconv import _net
    return _net.load_net("vgg16", "random", seed=3)[1]()


def test_paths_of_the_wrong_kind_are_named_as_what_they_are(tmp_path):
    from deconv import _cli
    from deconv import _net
    from deconv.io import images
    from deconv.models import weights
    folder = tmp_path / "photos.jpg"
    folder.mkdir()
    with pytest.raises(DeconvError, match=r"--weights '.*photos.jpg' is a folder, not a weights "
                                          r"file"):
        _net.load_net("vgg16", str(folder))
    (tmp_path / "mine.keras").mkdir()
    with pytest.raises(DeconvError, match=r"--model '.*mine.keras' is a folder, not a .keras"):
        _net.load_net(str(tmp_path / "mine.keras"), "imagenet")
    with pytest.raises(DeconvError, match=r"Weights '.*photos.jpg' is a folder, not a weights "
                                          r"file"):
        weights.read_weights(str(folder), None)
    assert images.read_image(str(folder))[2] == "a folder, not an image file"
    with pytest.raises(DeconvError, match=r"Cannot read .*photos.jpg: a folder, not an image "
                                          r"file\."):
        _cli.one_image(["prog", str(folder)], 32, "stretch", "occlusion")
    with pytest.raises(DeconvError, match=r"--config '.*nothing.toml': no such file"):
        _net.input_file(str(tmp_path / "nothing.toml"), "a TOML configuration", "--config")

