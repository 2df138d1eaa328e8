"""Every application the README lists (Keras's, and EfficientNet-Lite0/1/2) works through
`python -m deconv.run` at its smallest size (one projection each), and says in one line that it
cannot take a smaller one.

The default suite checks that the README lists exactly the models deconv takes by name, Keras's
applications and EfficientNet-Lite (the list the `zoo` run below proves), and projects
NASNetMobile, the one Keras builds for one size only, at an odd size; `python -m pytest -m zoo`
runs every application through the command line.
"""
import json
import re

import keras
import numpy as np
from PIL import Image
import pytest

import deconv
from deconv.models import applications
from deconv.models import efficientnet_lite
from deconv.models import loading
from tests.conftest import ROOT, last_error, run_command


def readme_applications():
    """The application names of the README's sentence "Every application of keras.applications
    ...", in the order written."""
    text = open(f"{ROOT}/README.md", encoding="utf-8").read()
    found = re.search(r"<!-- applications -->(.*?)<!-- /applications -->", text, re.S)
    assert found, "README.md has no <!-- applications --> list"
    return re.findall(r"`([^`]+)`", found.group(1))


def name_key(name):
    """A model name as `loading.choices()` spells it."""
    lite = efficientnet_lite.find(name)
    return lite.name if lite else applications.key(name)


def smallest_size(name):
    """`(deepest layer with maps, the smallest image side that reaches it)`; for an application
    Keras builds for one size (NASNet), Keras's smallest, 32. Keras's counters are reset first,
    so that its generated layer names (`activation_187`) are those the command's new process
    gives."""
    keras.utils.clear_session()
    net = deconv.Deconvnet(deconv.load_model(name, weights=None, seed=0))
    deepest = [layer for layer in net.layer_names if len(net.step(layer).shape) == 4][-1]
    if name in applications.FIXED_SIZE:
        return deepest, 32
    for size in range(1, 400):
        try:
            net.check_image_size(deepest, size)
        except deconv.DeconvError:
            continue
        return deepest, size
    raise AssertionError(f"{name}: no size up to 400 reaches {deepest}")


def test_the_readme_lists_every_application_and_nasnet_takes_every_size():
    """Issue 23, item 2: the README's list is every application of `keras.applications` and
    EfficientNet-Lite0/1/2 (each run through deconv.run by the `zoo` test below); NASNetMobile,
    which Keras builds for one size, projects at an odd size, 33 px (it failed at every size,
    built for any) and refuses another in one line."""
    listed = readme_applications()
    assert sorted(name_key(name) for name in listed) == loading.choices()
    assert "efficientnet_lite0" in listed
    assert len(set(listed)) == len(listed)
    images = np.random.default_rng(0).uniform(0, 255, (1, 33, 33, 3)).astype(np.float32)
    net = deconv.Deconvnet(deconv.load_model("nasnetmobile", weights=None, seed=0, size=33))
    assert net.input_shape[1:3] == (33, 33)
    projection = net.project(images, "reduction_concat_stem_2", feature=0)
    assert projection.shape == (1, 33, 33, 3) and np.abs(projection).max() > 0
    with pytest.raises(deconv.DeconvError, match=r"Images of 20x20: the model takes images "
                                                 r"of 33x33"):
        net.project(images[:, :20, :20], "reduction_concat_stem_2", feature=0)


@pytest.mark.zoo
@pytest.mark.parametrize("name", loading.choices())
def test_every_application_runs_through_the_command_line(name, tmp_path):
    """One projection of the deepest layer at the smallest size; one size smaller is refused in
    one line before any image is read."""
    assert name in [name_key(listed) for listed in readme_applications()]
    layer, size = smallest_size(name)
    images = tmp_path / "images"
    images.mkdir()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (size + 5, size + 3, 3),
                                                      np.uint8)).save(images / "a.png")
    flags = ["--model", name, "--weights", "random", "--feat", layer, "--id", "0", "--top",
             "1", "--images", str(images), "--noprogress"]
    result = run_command("run", *flags, "--size", str(size), "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr[-3000:]
    manifest = json.loads(next((tmp_path / "out").glob("*_0.json")).read_text())
    assert (manifest["keras_layer"], manifest["found"]) == (layer, 1)
    if size > 1:
        result = run_command("run", *flags, "--size", str(size - 1), "--out",
                             str(tmp_path / "smaller"))
        assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, (
            result.stderr[-3000:])
        assert str(size - 1) in last_error(result), result.stderr
        assert not (tmp_path / "smaller").exists()
