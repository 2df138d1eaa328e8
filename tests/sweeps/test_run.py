"""The dataset runner on generated folders: top-k against brute force, crops, skips, outputs."""
import json
import math
import os

import numpy as np
import pytest
from PIL import Image

import deconv
from deconv.errors import DeconvError
from deconv.io import images as image_files
from deconv.io import outputs
from deconv.io import render
from deconv.sweeps import runner
from deconv.sweeps import sweep as sweeps_lib
from tests.conftest import GOOD_IMAGES as GOOD

SIZE = 32


@pytest.fixture(scope="module")
def sweeps(net16):
    return [sweeps_lib.make_sweep(net16, "conv3_2", None, top=4),
            sweeps_lib.make_sweep(net16, "conv3_2", 7, top=5, per_image=2),
            sweeps_lib.make_sweep(net16, "pool2", 3, top=20)]


@pytest.fixture(scope="module")
def outcome(net16, sweeps, image_folder, tmp_path_factory):
    paths = image_files.find_images(str(image_folder), image_files.parse_extensions(None))
    out = tmp_path_factory.mktemp("out")
    result = runner.run(net16, paths, sweeps, str(out), runner.Settings(SIZE, batch_size=3),
                        {"test": True})
    return paths, out, result


def _manifest(out, name):
    with open(os.path.join(out, name)) as stream:
        return json.load(stream)


def _brute_force(net, paths, sweep):
    good = [p for p in paths if image_files.read_image(p)[2] is None]
    pixels = np.stack([image_files.read_image(p, SIZE)[0] for p in good])
    acts = net.activations(pixels, sweep.layer, batch_size=2)
    flat = (acts.reshape(len(good), -1) if sweep.feature is None
            else acts[..., sweep.feature].reshape(len(good), -1))
    candidates = []
    for image, values in enumerate(flat):
        order = np.lexsort((np.arange(values.size), -values))[:sweep.per_image]
        candidates += [(-values[i], paths.index(good[image]), i) for i in order]
    return sorted(candidates)[:sweep.top], acts.shape


@pytest.mark.parametrize("which", [0, 1, 2])
def test_top_k_equals_brute_force(net16, sweeps, outcome, which):
    paths, out, _ = outcome
    sweep = sweeps[which]
    expected, (_, _, width, channels) = _brute_force(net16, paths, sweep)
    manifest = _manifest(out, f"{sweep.label}.json")
    assert len(manifest["results"]) == len(expected)
    for result, (neg_value, image, index) in zip(manifest["results"], expected):
        feature = index % channels if sweep.feature is None else sweep.feature
        spatial = index // channels if sweep.feature is None else index
        assert result["path"] == paths[image]
        assert result["feature"] == feature
        assert result["position"] == list(divmod(spatial, width))
        assert result["value"] == pytest.approx(-neg_value, rel=1e-5)
        assert result["projected_value"] == pytest.approx(result["value"], rel=1e-4)
    per_image = {}
    for result in manifest["results"]:
        per_image[result["path"]] = per_image.get(result["path"], 0) + 1
    assert max(per_image.values()) <= sweep.per_image


def test_crops_are_receptive_field_boxes(net16, sweeps, outcome):
    _, out, _ = outcome
    for sweep in sweeps:
        for result in _manifest(out, f"{sweep.label}.json")["results"]:
            assert result["box"] == list(deconv.receptive_field(
                net16, sweep.layer, result["position"], (SIZE, SIZE)))


def test_skips_are_counted_and_outputs_still_made(outcome):
    _, out, result = outcome
    counts = _manifest(out, "conv3_2_7.json")["counts"]
    assert (counts["files"], counts["read"], counts["skipped"]) == (10, GOOD, 3)
    assert counts["skipped_by_reason"] == {"zero-byte file": 1, "truncated or corrupt": 1,
                                           "not an image Pillow can identify": 1}
    assert sorted(os.path.basename(f["path"]) for f in counts["skipped_files"]) == [
        "cut.png", "empty.jpg", "text.png"]
    for files in result.written.values():
        for path in files.values():
            assert os.path.isfile(path), path


def test_file_names_follow_the_tf1_project(outcome):
    _, out, _ = outcome
    assert sorted(os.listdir(out)) == sorted([
        "conv3_2.json", "conv3_2_feat.png", "conv3_2_im.png",
        "conv3_2_7.json", "conv3_2_feat_7.png", "conv3_2_im_7.png",
        "pool2_3.json", "pool2_feat_3.png", "pool2_im_3.png"])


def test_fewer_images_than_top_is_said(outcome):
    _, out, _ = outcome
    manifest = _manifest(out, "pool2_3.json")
    assert manifest["found"] == GOOD
    assert manifest["notes"][0].startswith(f"Only {GOOD} of the 20 requested activations")


def test_grids_have_the_expected_sizes(net16, sweeps, outcome):
    _, out, _ = outcome
    for sweep, k in zip(sweeps, (4, 5, GOOD)):
        manifest = _manifest(out, f"{sweep.label}.json")
        position = manifest["results"][0]["position"]
        window = deconv.receptive_field(net16, sweep.layer, position, (SIZE, SIZE), clip=False)
        side = window[2] - window[0]
        side *= max(1, math.ceil(64 / side))
        columns = math.ceil(math.sqrt(k))
        rows = math.ceil(k / columns)
        expected = (columns * (side + 2) + 2, rows * (side + 2) + 2)
        for key in ("feat", "im"):
            with Image.open(os.path.join(out, manifest["files"][key])) as picture:
                assert picture.size == expected, (sweep.label, key)


def test_interrupted_writes_leave_no_file(tmp_path, monkeypatch):
    def failing_save(self, fp, *args, **kwargs):
        with open(fp, "wb") as stream:
            stream.write(b"\x89PNG half")
        raise KeyboardInterrupt

    monkeypatch.setattr(Image.Image, "save", failing_save)
    with pytest.raises(KeyboardInterrupt):
        outputs.write_png(str(tmp_path / "grid.png"), np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(TypeError):
        outputs.write_json(str(tmp_path / "manifest.json"), {"bad": object()})
    assert os.listdir(tmp_path) == []


def test_sweep_errors_before_reading(net16):
    with pytest.raises(DeconvError, match="Unknown layer 'conv3_9'"):
        sweeps_lib.make_sweep(net16, "conv3_9", 1)
    with pytest.raises(DeconvError, match="has 256 feature maps"):
        sweeps_lib.make_sweep(net16, "conv3_2", 256)
    with pytest.raises(DeconvError, match="top must be an integer from 1 to 1000; received 0"):
        sweeps_lib.make_sweep(net16, "conv3_2", 1, top=0)
    with pytest.raises(DeconvError, match="needs images of at least 32x32"):
        sweeps_lib.check_settings(net16, [sweeps_lib.make_sweep(net16, "pool5")], 16, 4)


def _expected_grids(net, sweep, manifest, size=SIZE, aspect="stretch"):
    """The grids rebuilt from the manifest alone: crops of freshly read images and projections."""
    results = manifest["results"]
    pixels = np.stack([image_files.read_image(r["path"], size, aspect)[0] for r in results])
    projection = net.project_details(pixels, sweep.layer, [r["feature"] for r in results],
                                     np.array([r["position"] for r in results]))
    feats, ims = [], []
    for r, image, recon in zip(results, pixels, projection.reconstructions):
        window = deconv.receptive_field(net, sweep.layer, r["position"], (size, size), clip=False)
        feat = render.place(render.crop(recon, r["box"]), r["box"], window, 0.0)
        feats.append(render.upscale(render.to_uint8(feat), 64))
        ims.append(render.upscale(render.place(render.crop(image, r["box"]), r["box"], window,
                                               128), 64))
    return render.grid(feats), render.grid(ims)


def test_grids_show_the_listed_crops(net16, sweeps, outcome):
    _, out, _ = outcome
    for sweep in sweeps:
        manifest = _manifest(out, f"{sweep.label}.json")
        feat, im = _expected_grids(net16, sweep, manifest)
        np.testing.assert_array_equal(np.asarray(Image.open(out / manifest["files"]["im"])), im)
        written = np.asarray(Image.open(out / manifest["files"]["feat"])).astype(int)
        assert np.abs(written - feat).max() <= 1 and (written != feat).mean() < 0.01


def test_pass_two_names_a_changed_image(net16, image_folder, tmp_path):
    folder = tmp_path / "copy"
    folder.mkdir()
    for name in ("img0.png", "img2.png", "img4.png"):
        (folder / name).write_bytes((image_folder / "dogs" / name).read_bytes())
    paths = image_files.find_images(str(folder), image_files.parse_extensions(None))
    sweep = sweeps_lib.make_sweep(net16, "conv2_1", 3, top=3)
    settings = runner.Settings(SIZE, batch_size=2)
    state, _ = runner.scan_all(net16, paths, [sweep], settings)
    Image.fromarray(np.zeros((40, 50, 3), np.uint8)).save(folder / "img2.png")  # now black
    _, manifests, notes = runner.project_all(net16, paths, [sweep], state, str(tmp_path / "out"),
                                             settings, {})
    changed = [note for note in notes[sweep.label] if "img2.png" in note]
    assert len(changed) == 1 and "in pass 1 but" in changed[0]
    assert changed[0] in manifests[0]["notes"]


def test_every_map_sweep(net16, image_folder, tmp_path):
    paths = image_files.find_images(str(image_folder), image_files.parse_extensions(None))
    every = sweeps_lib.make_sweep(net16, "conv1_2", sweeps_lib.EACH_MAP, top=2)
    outcome = runner.run(net16, paths, [every], str(tmp_path), runner.Settings(SIZE, batch_size=5),
                         {})
    assert len(outcome.manifests) == 64 and len(os.listdir(tmp_path)) == 3 * 64
    for feature in (0, 17, 63):
        single = sweeps_lib.make_sweep(net16, "conv1_2", feature, top=2)
        expected, _ = _brute_force(net16, paths, single)
        manifest = _manifest(tmp_path, f"conv1_2_{feature}.json")
        assert [(r["path"], r["feature"]) for r in manifest["results"]] == [
            (paths[image], feature) for _, image, _ in expected]
        assert [r["value"] for r in manifest["results"]] == pytest.approx(
            [-v for v, _, _ in expected], rel=1e-5)
    assert not any(outcome.notes.values())  # every projected value matched pass 1


def test_crop_aspect_boxes_in_original_pixels(net16, image_folder, tmp_path):
    paths = image_files.find_images(str(image_folder), image_files.parse_extensions(None))
    sweep = sweeps_lib.make_sweep(net16, "conv2_2", None, top=3)
    outcome = runner.run(net16, paths, [sweep], str(tmp_path),
                         runner.Settings(SIZE, aspect="crop", batch_size=4), {})
    for result in outcome.manifests[0]["results"]:
        height, width = result["original_size"]
        assert result["box_original"] == image_files.to_original(
            result["box"], (height, width), SIZE, "crop")
        top, left, bottom, right = result["box_original"]
        assert 0 <= top < bottom <= height and 0 <= left < right <= width
    feat, im = _expected_grids(net16, sweep, outcome.manifests[0], aspect="crop")
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "conv2_2_im.png")), im)


def test_a_note_many_sweeps_share_is_one_line_naming_them():
    from deconv.sweeps import report
    few = "Only 5 of the 9 requested activations exist: 5 images read, at most 1 per image."
    notes = {f"conv{block}_{number}": [few] for block in (1, 2) for number in (1, 2)}
    notes["conv5_4_7"] = [few, "conv5_4_7 never activates on these images"]
    assert report.note_lines(notes) == [
        f"conv1_1, conv1_2, conv2_1 and 2 more: {few}",
        "conv5_4_7: conv5_4_7 never activates on these images"]
