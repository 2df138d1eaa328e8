"""The unit atlas's data: its entries equal `deconv.run`'s and a brute force over every
activation; layers added later reuse what is done; another atlas in --out is refused; corrupt
files are skipped and counted; a unit's strip shows its projections."""
import dataclasses
import io
import json
import os

import keras
import numpy as np
from PIL import Image
import pytest

import deconv
from deconv.errors import DeconvError
from deconv.io import images as image_files
from deconv.io import tiles
from deconv.sweeps import runner
from deconv.sweeps import sweep as sweeps_lib
from deconv.unit_atlas import build
from deconv.unit_atlas import files
from deconv.unit_atlas import pictures
from tests.conftest import last_error, run_command
from tests.conftest import RECORD, SETTINGS, SIZE

def _layer(atlas_content, name):
    return next(layer for layer in atlas_content["layers"] if layer["name"] == name)


def test_entries_equal_the_runner_for_sampled_units(net16, dataset, atlas, tmp_path):
    root, paths, _ = dataset
    out, outcome = atlas
    sampled = {"conv1_2": [0, 37, 63], "conv3_1": [0, 100, 255]}
    sweeps = [sweeps_lib.make_sweep(net16, layer, unit, top=3)
              for layer, units in sampled.items() for unit in units]
    ran = runner.run(net16, paths, sweeps, str(tmp_path), runner.Settings(SIZE, batch_size=4),
                     {})
    results = iter(manifest["results"] for manifest in ran.manifests)
    for layer, units in sampled.items():
        top = _layer(outcome.atlas, layer)["top"]
        for unit in units:
            expected = next(results)
            assert len(top[unit]) == len(expected) == 3
            for entry, result in zip(top[unit], expected):
                assert os.path.join(root, entry["image"]) == result["path"]
                assert entry["position"] == result["position"]
                assert entry["value"] == pytest.approx(result["value"], rel=1e-6)
                assert entry["box"] == result["box"]
                assert entry["box_original"] == result["box_original"]
    with open(os.path.join(out, files.ATLAS_JSON)) as stream:
        assert json.load(stream) == json.loads(json.dumps(outcome.atlas))


def _tiny_model():
    model = keras.Sequential([
        keras.Input((None, None, 3)),
        keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="c1"),
        keras.layers.MaxPooling2D(2, name="p1"),
        keras.layers.Conv2D(5, 3, padding="same", activation="relu", name="c2")])
    rng = np.random.default_rng(1)
    for weight in model.weights:
        weight.assign(rng.normal(0, 0.3, weight.shape).astype(np.float32))
    return model


def _brute_force(net, layer, images, top, per_image):
    """Every activation of every map computed at once; per map, each image's `per_image`
    largest (ties: lower flat index), then the `top` largest (ties: earlier image)."""
    acts = net.activations(images.astype(np.float32), layer)  # (n, h, w, c)
    n, _, width, count = acts.shape
    expected = []
    for unit in range(count):
        candidates = []
        for image in range(n):
            flat = acts[image, ..., unit].ravel()
            order = sorted(range(flat.size), key=lambda i: (-flat[i], i))[:per_image]
            candidates += [(-flat[i], image, i) for i in order]
        expected.append([(image, divmod(index, width), -value)
                         for value, image, index in sorted(candidates)[:top]])
    return expected


def test_entries_equal_a_brute_force_on_a_tiny_model(tmp_path):
    net = deconv.Deconvnet(_tiny_model(), preprocessing="none")
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, (5, 12, 12, 3), np.uint8)
    root = tmp_path / "tiny"
    root.mkdir()
    for number, pixels in enumerate(images):
        Image.fromarray(pixels).save(root / f"{number}.png")
    paths = [str(root / f"{number}.png") for number in range(5)]
    settings = build.AtlasSettings(top=4, per_image=2, size=12, batch_size=2, tile=8, thumb=8)
    outcome = build.build_atlas(net, paths, str(root), build.choose_layers(net, "all", settings),
                                str(tmp_path / "out"), settings)  # record: in memory
    assert [layer["name"] for layer in outcome.atlas["layers"]] == ["c1", "c2"]
    assert outcome.atlas["weights"]["weights"] == "in memory"
    assert len(outcome.atlas["weights"]["sha256"]) == 64
    for layer in outcome.atlas["layers"]:
        expected = _brute_force(net, layer["name"], images, 4, 2)
        found = [[(int(e["image"].split(".")[0]), tuple(e["position"]), e["value"])
                  for e in entries] for entries in layer["top"]]
        assert [[(i, p) for i, p, _ in unit] for unit in found] == \
            [[(i, p) for i, p, _ in unit] for unit in expected]
        np.testing.assert_allclose([v for unit in found for _, _, v in unit],
                                   [v for unit in expected for _, _, v in unit], rtol=1e-5)


def test_a_strip_shows_the_units_projections_and_patches(net16, dataset, atlas):
    root, _, _ = dataset
    out, outcome = atlas
    layer = _layer(outcome.atlas, "conv3_1")
    unit = 100
    strip = np.asarray(Image.open(os.path.join(out, layer["strips"].format(unit=unit))))
    tile = SETTINGS.tile
    assert strip.shape == (2 * tile, 3 * tile, 3)
    projections, patches = [], []
    for entry in layer["top"][unit]:
        image, _, _ = image_files.read_image(os.path.join(root, entry["image"]), SIZE)
        projection = net16.project_details(image[None].astype(np.float32), "conv3_1", [unit],
                                           np.array([entry["position"]]))
        window = deconv.receptive_field(net16, "conv3_1", entry["position"], (SIZE, SIZE),
                                        clip=False)
        crop = tiles.choose("auto", window, entry["box"], projection.reconstructions[0],
                            (SIZE, SIZE))
        assert entry["crop"] == crop.kind and entry["crop_box"] == list(crop.box)
        stride = tiles.stride_of((SIZE, SIZE), net16.map_size("conv3_1", (SIZE, SIZE)))
        feat, patch = pictures.entry_tiles(projection.reconstructions[0], image, crop,
                                           tiles.cell_of(window, stride), "symmetric", tile)
        assert np.abs(feat.astype(float) - 128).mean() > 1  # not a blank tile
        projections.append(feat)
        patches.append(patch)
        source = Image.open(os.path.join(out, files.source(entry["source"])))
        assert source.size == (SIZE, SIZE)
        np.testing.assert_array_equal(np.asarray(source)[entry["box"][0]:entry["box"][2],
                                                         entry["box"][1]:entry["box"][3]].shape,
                                      (entry["box"][2] - entry["box"][0],
                                       entry["box"][3] - entry["box"][1], 3))
    # The same tiles through the same JPEG encoder: equal up to the last bit of a projection.
    expected = np.asarray(Image.open(io.BytesIO(pictures.jpeg_bytes(
        pictures.strip(projections, patches)))), float)
    assert np.abs(strip - expected).mean() < 0.5
    wrong = np.asarray(Image.open(io.BytesIO(pictures.jpeg_bytes(
        pictures.strip(projections[::-1], patches[::-1])))), float)
    assert np.abs(strip - wrong).mean() > 5  # the comparison can tell tiles apart


def test_files_and_counts(dataset, atlas):
    root, paths, _ = dataset
    out, outcome = atlas
    content = outcome.atlas
    assert content["dataset"]["read"] == 8 and content["dataset"]["files"] == 9
    assert content["dataset"]["skipped"] == [
        {"path": os.path.join(root, "broken.png"), "reason": content["dataset"]["skipped"][0][
            "reason"]}]
    assert "not an image" in content["dataset"]["skipped"][0]["reason"]
    assert content["weights"] == {"weights": "random", "seed": 2}
    assert content["model"] == {"name": "vgg16", "include_top": False,
                                "preprocessing": "caffe", "rule": "deconvnet"}
    for layer in content["layers"]:
        assert len(layer["top"]) == layer["units"]
        sheets = -(-layer["units"] // layer["sprites"]["per_sheet"])
        assert len(layer["sprites"]["files"]) == sheets
        for name in layer["sprites"]["files"]:
            assert os.path.exists(os.path.join(out, name))
        for entries in layer["top"]:
            assert len(entries) == 3
            assert [e["value"] for e in entries] == sorted([e["value"] for e in entries],
                                                           reverse=True)
            for entry in entries:
                assert content["sources"][str(entry["source"])] == entry["image"]
                assert paths[entry["source"]] == os.path.join(root, entry["image"])
    assert os.path.exists(outcome.index)
    assert not os.path.exists(os.path.join(out, files.STATE))


def test_layers_added_later_reuse_what_is_done(net16, dataset, tmp_path):
    root, paths, ignored = dataset
    out = str(tmp_path / "out")
    first = build.build_atlas(net16, paths, root, [net16.resolve("conv1_1")], out, SETTINGS,
                              RECORD, ignored)
    assert first.made == ["conv1_1"] and first.reused == []
    record = os.path.join(out, files.layer_record("conv1_1"))
    before = open(record, "rb").read(), os.path.getmtime(record)
    both = build.build_atlas(net16, paths, root, build.choose_layers(
        net16, ["conv1_1", "conv2_1"], SETTINGS), out, SETTINGS, RECORD, ignored)
    assert both.made == ["conv2_1"] and both.reused == ["conv1_1"]
    assert (open(record, "rb").read(), os.path.getmtime(record)) == before
    assert [layer["name"] for layer in both.atlas["layers"]] == ["conv1_1", "conv2_1"]
    again = build.build_atlas(net16, paths, root, [net16.resolve("conv2_1")], out, SETTINGS,
                              RECORD, ignored)  # a run of one layer keeps the others listed
    assert again.made == [] and again.files_scanned == 0
    assert [layer["name"] for layer in again.atlas["layers"]] == ["conv1_1", "conv2_1"]

    with pytest.raises(DeconvError, match=r"holds an atlas of the model vgg16 \(weights "
                                          r"random, seed 2\), not vgg19"):
        build.build_atlas(net16, paths, root, [net16.resolve("conv1_1")], out, SETTINGS,
                          {**RECORD, "model": "vgg19"})
    with pytest.raises(DeconvError, match=r"other settings: top 3 \(now 4\)"):
        build.build_atlas(net16, paths, root, [net16.resolve("conv1_1")], out,
                          build.AtlasSettings(**{**SETTINGS.__dict__, "top": 4}), RECORD)
    with pytest.raises(DeconvError, match="image files of"):
        build.build_atlas(net16, paths[:-1], root, [net16.resolve("conv1_1")], out, SETTINGS,
                          RECORD)
    restarted = build.build_atlas(net16, paths, root, [net16.resolve("conv1_1")], out,
                                  build.AtlasSettings(**{**SETTINGS.__dict__, "top": 2}),
                                  RECORD, restart=True)
    assert restarted.made == ["conv1_1"]
    assert [layer["name"] for layer in restarted.atlas["layers"]] == ["conv1_1"]
    assert not os.path.exists(os.path.join(out, "conv2_1.html"))
    other = tmp_path / "run_results"
    other.mkdir()
    (other / "index.html").write_text("a deconv.run index")
    with pytest.raises(DeconvError, match="is not empty and holds no atlas \\(index.html\\)"):
        build.build_atlas(net16, paths, root, [net16.resolve("conv1_1")], str(other), SETTINGS,
                          RECORD)
    assert (other / "index.html").read_text() == "a deconv.run index"


def test_bad_layers_are_refused_before_any_image_is_read(net16, tmp_path):
    with pytest.raises(DeconvError, match="conv9_9.*conv1_1"):
        build.choose_layers(net16, ["conv1_1", "conv9_9"], SETTINGS)
    result = run_command("atlas", "--model", "vgg16", "--weights", "random", "--layers",
                         "conv3_3,conv9_9", "--images", str(tmp_path / "missing"),
                         "--out", str(tmp_path / "out"), "--noprogress")
    assert result.returncode == 2
    line = last_error(result)
    assert "conv9_9" in line and "conv5_3" in line and "missing" not in line, line
    assert not (tmp_path / "out").exists()


def test_maximize_adds_an_image_per_unit_to_a_finished_atlas(tmp_path):
    from deconv.analysis.maximization import Schedule
    net = deconv.Deconvnet(_tiny_model(), preprocessing="none")
    root = tmp_path / "tiny"
    root.mkdir()
    for number, pixels in enumerate(np.random.default_rng(4).integers(0, 256, (3, 12, 12, 3),
                                                                      np.uint8)):
        Image.fromarray(pixels).save(root / f"{number}.png")
    paths = sorted(str(path) for path in root.iterdir())
    settings = build.AtlasSettings(top=2, size=12, batch_size=3, tile=8, thumb=8)
    out = str(tmp_path / "out")
    build.build_atlas(net, paths, str(root), ["c2"], out, settings)
    schedule = Schedule(init_size=12, steps=3, rounds=1)
    grown = build.build_atlas(net, paths, str(root), ["c2"], out,
                              dataclasses.replace(settings, maximize=True), schedule=schedule)
    layer = grown.atlas["layers"][0]
    assert grown.reused == ["c2"] and layer["maximized"] == "maximized/c2/{unit}.png"
    assert grown.atlas["settings"]["maximize"] is True
    pictures = []
    for unit in range(5):
        picture = Image.open(os.path.join(out, layer["maximized"].format(unit=unit)))
        assert picture.size == (12, 12)
        pictures.append(np.asarray(picture, np.float32))
    # Its quality: each image's strongest activation against the unit's top-1 in the atlas.
    made = layer["maximization"]
    assert (made["param"], made["steps"], made["size"]) == ("pixel", 3, 12)
    reached = net.activations(np.stack(pictures), "c2").max(axis=(1, 2))[np.arange(5),
                                                                          np.arange(5)]
    for unit in range(5):
        top1 = layer["top"][unit][0]["value"] if layer["top"][unit] else 0
        assert made["activation"][unit] == pytest.approx(reached[unit], rel=1e-3, abs=1e-4)
        assert made["ratio"][unit] == (None if top1 <= 0 else pytest.approx(
            reached[unit] / top1, rel=1e-3, abs=1e-3))


def test_shipped_atlas_configs_are_valid(net16, tmp_path):
    from deconv.unit_atlas import config
    from tests.conftest import ROOT
    folder = os.path.join(ROOT, "configs", "atlas")
    for name in sorted(os.listdir(folder)):
        content = config.load(os.path.join(folder, name), config.KEYS)
        assert content["model"] == "vgg16"
        layers = build.choose_layers(net16, content["layers"], build.AtlasSettings(
            top=content["top"], size=content["size"]))
        assert len(layers) == 13
        assert os.path.isdir(os.path.join(ROOT, content["images"]))
    bad = tmp_path / "bad.toml"
    bad.write_text('layer = "conv1_1"\n')
    with pytest.raises(DeconvError, match="unknown key 'layer'. Valid keys: aspect, "):
        config.load(str(bad), config.KEYS)
