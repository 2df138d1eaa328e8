"""Config-file sweeps: errors with lines, one pass for all sweeps, resuming, index.html,
TensorBoard."""
import glob
import json
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from deconv.errors import DeconvError
from deconv.io import images as image_files
from deconv.io import streaming
from deconv.sweeps import checkpoint
from deconv.sweeps import config as config_lib
from deconv.sweeps import plan as plan_lib
from deconv.sweeps import runner
from deconv.sweeps import scan as scan_lib
from deconv.sweeps import sweep as sweeps_lib
from tests.conftest import ROOT
from tests.conftest import chromium_dom


def _write(tmp_path, text, name="run.toml"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("text,match", [
    ("topk = 3\n[[sweeps]]\nlayer = 'conv1_1'\n",
     r"run.toml:1: unknown key 'topk' in the top level; valid keys: .*top"),
    ("[[sweeps]]\nlayer = 'conv1_1'\n\n[[sweeps]]\nlayer = 'conv2_1'\nfeatuers = 3\n",
     r"run.toml:6: unknown key 'featuers' in \[\[sweeps\]\] #2; valid keys: datasets, features"),
    ("[[datasets]]\nimages = 'x'\nsize = '224'\n[[sweeps]]\nlayer = 'conv1_1'\n",
     r"run.toml:3: 'size' must be an integer; received str '224'"),
    ("aspect = 'fit'\n[[sweeps]]\nlayer = 'conv1_1'\n",
     r"run.toml:1: 'aspect' must be one of stretch, crop; received 'fit'"),
    ("[[sweeps]]\nlayer = 'conv1_1'\ntop = 0\n",
     r"run.toml:3: 'top' must be an integer from 1 to 1000; received 0\."),
    ("[[sweeps]]\nlayer = 'conv1_1'\n\nper_image = 99999999999999999999\n",
     r"run.toml:4: 'per_image' must be an integer from 1 to 1000"),
    ("[[sweeps]]\nlayer = 'conv1_1'\nfeatures = 'some'\n",
     r"run.toml:3: 'features' must be a map id, a list of map ids or \"all\""),
    ("[[sweeps]]\nlayer = 'conv1_1'\ndatasets = ['cats']\n",
     r"run.toml:3: 'datasets' must list dataset names"),
    ("[[sweeps]]\nlayer = \n", r"run.toml: invalid TOML: "),
    ("out = 'x'\n", r"run.toml: no \[\[sweeps\]\]"),
    ("[[sweeps]]\ntop = 3\n", r"run.toml:1: \[\[sweeps\]\] #1 needs a 'layer'"),
    ("[[datasets]]\nimages = 'x'\nname = '../elsewhere'\n[[sweeps]]\nlayer = 'conv1_1'\n",
     r"run.toml:3: 'name' must be a plain folder name .*received '\.\./elsewhere'"),
])
def test_config_errors_name_file_and_line(tmp_path, text, match):
    with pytest.raises(DeconvError, match=match):
        config_lib.load(_write(tmp_path, text))


def test_bad_sweeps_are_reported_with_their_line_before_reading(tmp_path, net16):
    path = _write(tmp_path, "images = 'nowhere'\n[[sweeps]]\nlayer = 'conv1_1'\n\n[[sweeps]]\n"
                            "layer = 'conv3_1'\nfeatures = [1, 300]\n")
    with pytest.raises(DeconvError, match=r"run.toml:7: Feature 300 is out of range for layer "
                                          r"'conv3_1', which has 256 feature maps"):
        plan_lib.plan(net16, config_lib.load(path))


@pytest.mark.parametrize("text,line,message", [
    ("images = 'x'\n[[sweeps]]\nlayer = 'conv1_1'\nfeatures = [1, 999]\n", 4,
     r"Feature 999 is out of range for layer 'conv1_1', which has 64 feature maps"),
    ("images = 'x'\n[[sweeps]]\n\nlayer = 'conv9_9'\nfeatures = 3\n", 4,
     r"Unknown layer 'conv9_9'"),
    ("size = 8\nimages = 'x'\n[[sweeps]]\nlayer = 'conv5_1'\n", 1,
     r"--size 8: too small for layer 'conv5_1'"),
    ("[[datasets]]\nimages = 'x'\n\nsize = 8\n[[sweeps]]\nlayer = 'conv5_1'\n", 4,
     r"--size 8: too small for layer 'conv5_1'"),
])
def test_errors_found_later_point_at_the_line_of_the_bad_value(tmp_path, net16, text, line,
                                                                message):
    with pytest.raises(DeconvError, match=f"run.toml:{line}: {message}"):
        plan_lib.plan(net16, config_lib.load(_write(tmp_path, text)))


def test_images_flag_names_the_dataset_after_its_folder(tmp_path):
    config = config_lib.load(_write(tmp_path, "images = 'examples/images'\n[[sweeps]]\n"
                                              "layer = 'conv1_1'\n"))
    assert config.datasets[0].name == "images"
    assert config_lib.override(config, images="/data/photos/").datasets[0].name == "photos"
    named = config_lib.load(_write(tmp_path, "[[datasets]]\nname = 'mine'\nimages = 'x'\n"
                                             "[[sweeps]]\nlayer = 'conv1_1'\n", "named.toml"))
    assert config_lib.override(named, images="/data/photos").datasets[0].name == "mine"
    two = config_lib.load(_write(tmp_path, "[[datasets]]\nimages = 'x'\n[[datasets]]\n"
                                           "images = 'y'\n[[sweeps]]\nlayer = 'conv1_1'\n",
                                 "two.toml"))
    with pytest.raises(DeconvError, match=r"--images /p would replace the folders of all 2 "
                                          r"datasets of .*two.toml"):
        config_lib.override(two, images="/p")


@pytest.mark.parametrize("second", ["features = 3\ntop = 4", "features = 'all'\ntop = 1"])
def test_sweeps_that_would_write_the_same_files_are_refused(tmp_path, net16, second):
    path = _write(tmp_path, f"images = 'x'\n[[sweeps]]\nlayer = 'conv1_2'\nfeatures = 3\n\n"
                            f"[[sweeps]]\nlayer = 'conv1_2'\n{second}\n")
    with pytest.raises(DeconvError, match=r"run.toml:6: this sweep and the one at .*run.toml:2 "
                                          r"would both write conv1_2_3.json"):
        plan_lib.plan(net16, config_lib.load(path))
    other_mode = _write(tmp_path, "images = 'x'\n[[sweeps]]\nlayer = 'conv1_2'\nfeatures = 3\n"
                                  "[[sweeps]]\nlayer = 'conv1_2'\nfeatures = 'all'\n"
                                  "mode = 'maps'\n", name="ok.toml")
    assert len(plan_lib.plan(net16, config_lib.load(other_mode))["x"]) == 2


def test_defaults_datasets_and_overrides(tmp_path):
    path = _write(tmp_path, """
out = "o"
size = 64
top = 4
[[datasets]]
name = "a"
images = "x"
[[datasets]]
images = "y/b/"
size = 32
[[sweeps]]
layer = "conv2_2"
features = [59, 7]
[[sweeps]]
layer = "conv4_4"
features = "all"
datasets = ["a"]
mode = "maps"
""")
    config = config_lib.load(path)
    assert [(d.name, d.images, d.size) for d in config.datasets] == [("a", "x", 64),
                                                                     ("b", "y/b/", 32)]
    assert [(s.layer, s.features, s.top, s.mode, s.datasets) for s in config.sweeps] == [
        ("conv2_2", [59, 7], 4, "activation", None), ("conv4_4", "all", 4, "maps", ["a"])]
    config = config_lib.override(config, out="p", size=96, top=2, batch_size=3)
    assert (config.out, config.batch_size) == ("p", 3)
    assert [d.size for d in config.datasets] == [96, 96]
    assert [s.top for s in config.sweeps] == [2, 2]


@pytest.mark.parametrize("name", sorted(os.listdir(os.path.join(ROOT, "configs"))))
def test_shipped_configs_are_valid(name, net16, net19):
    if not name.endswith(".toml"):
        return
    config = config_lib.load(os.path.join(ROOT, "configs", name))
    net = net19 if config.model == "vgg19" else net16
    planned = plan_lib.plan(net, config)
    assert all(planned.values())
    for dataset in config.datasets or [config_lib.DatasetConfig("x", "examples/images")]:
        assert os.path.isdir(os.path.join(ROOT, dataset.images))


def test_one_pass_serves_every_sweep(net16, folders, tmp_path, monkeypatch):
    datasets_streamed, batches, reads = [], [], []
    original_dataset = streaming.image_dataset
    original_candidates = scan_lib.candidates_fn
    original_read = image_files.read_image

    def counting_dataset(paths, *args, **kwargs):
        datasets_streamed.append(len(paths))
        return original_dataset(paths, *args, **kwargs)

    def counting_candidates(net, sweeps):
        compiled = original_candidates(net, sweeps)

        def forward(images):
            batches.append(len(images))
            return compiled(images)

        return forward

    def counting_read(path, *args, **kwargs):
        reads.append(os.path.basename(path))
        return original_read(path, *args, **kwargs)

    monkeypatch.setattr(streaming, "image_dataset", counting_dataset)
    monkeypatch.setattr(scan_lib, "candidates_fn", counting_candidates)
    monkeypatch.setattr(image_files, "read_image", counting_read)
    config = config_lib.load(_write(tmp_path, f"""
out = "{tmp_path / 'out'}"
images = "{folders / 'people'}"
size = 32
batch_size = 2
top = 2
[[sweeps]]
layer = "conv1_2"
[[sweeps]]
layer = "conv3_3"
features = [5, 9]
[[sweeps]]
layer = "pool2"
features = "all"
"""))
    outcomes, _ = runner.run_config(net16, config, {"weights": "test"}, {})
    images_by_layer = {}  # pass 2 reads each image once per layer, for all its winners
    for content in outcomes["people"].manifests:
        images_by_layer.setdefault(content["layer"], set()).update(
            r["path"] for r in content["results"])
    pass1_reads = len(reads) - sum(len(found) for found in images_by_layer.values())
    assert datasets_streamed == [5]  # one stream over the 5 images for all 4 + 128 sweeps
    assert batches == [2, 2, 1]  # one forward call per batch, whatever the number of sweeps
    assert pass1_reads == 5
    assert len(outcomes["people"].manifests) == 1 + 2 + 128


def test_restart_discards_a_saved_state(net16, folders, tmp_path):
    paths = image_files.find_images(str(folders / "dog"), image_files.parse_extensions(None))
    sweeps = [sweeps_lib.make_sweep(net16, "conv2_1", 4, top=2)]
    settings = runner.Settings(32, batch_size=2)
    stale = scan_lib.ScanState.fresh(net16, sweeps)
    stale.cursor = 2
    checkpoint.save(str(tmp_path / checkpoint.FILE_NAME), stale, "another run")
    with pytest.raises(DeconvError, match="different config, model, weights or image list"):
        runner.run_resumable(net16, paths, sweeps, str(tmp_path), settings, {}, {})
    outcome = runner.run_resumable(net16, paths, sweeps, str(tmp_path), settings, {}, {},
                                   restart=True)
    assert outcome.state.cursor == 4 and outcome.state.read == 4


def test_index_html_renders_every_grid_in_chromium(net16, folders, tmp_path):
    """Also with a '#' in a dataset's name (its folder) and file names that are not UTF-8."""
    out = tmp_path / "out"
    latin1 = tmp_path / "latin1"
    latin1.mkdir()
    for number, path in enumerate(sorted((folders / "dog").iterdir())):
        os.link(path, os.path.join(os.fsencode(latin1), b"caf\xe9%d.png" % number))
    config = config_lib.load(_write(tmp_path, f"""
out = "{out}"
size = 32
top = 3
[[datasets]]
name = "people"
images = "{folders / 'people'}"
[[datasets]]
name = "dog #2"
images = "{latin1}"
[[sweeps]]
layer = "conv2_1"
[[sweeps]]
layer = "conv3_2"
features = 17
datasets = ["dog #2"]
"""))
    _, index = runner.run_config(net16, config, {"weights": "test"}, {})
    assert index == str(out / "index.html")
    dom = chromium_dom(f"file://{index}", tmp_path / "profile")
    images = dom.count("<img ")
    assert images == 2 * 3  # people: conv2_1; dog: conv2_1 and conv3_2/17
    assert dom.count('data-loaded="1"') == images, dom[:2000]
    for text in ("people", "dog #2", "conv3_2, map 17", "caf\ufffd0.png", "image patches"):
        assert text in dom


def test_tensorboard_summaries(net16, folders, tmp_path):
    from deconv.sweeps import summaries
    config = config_lib.RunConfig(
        [config_lib.DatasetConfig("dog", str(folders / "dog"), size=32)],
        [config_lib.SweepConfig("conv2_2", [3, 4], top=2)], out=str(tmp_path / "out"))
    board = summaries.Writer(str(tmp_path / "tb"))
    runner.run_config(net16, config, {"weights": "test"}, {}, on_written=board.add)
    board.close()
    tags = {}
    for event_file in glob.glob(str(tmp_path / "tb" / "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(event_file):
            for value in event.summary.value:
                tags[value.tag] = value
    assert set(tags) == {"dog/conv2_2_3", "dog/conv2_2_4", "dog/conv2_2_3/manifest",
                         "dog/conv2_2_4/manifest"}
    images = tf.make_ndarray(tags["dog/conv2_2_3"].tensor)
    assert len(images) == 2 + 2  # width, height, then the two encoded PNGs
    text = tf.make_ndarray(tags["dog/conv2_2_4/manifest"].tensor).item().decode()
    assert json.loads(text.strip("`\n"))["feature"] == 4


def test_a_dataset_without_sweeps_is_refused(tmp_path, net16):
    path = _write(tmp_path, "[[datasets]]\nname = 'a'\nimages = 'x'\n[[datasets]]\nname = 'b'\n"
                            "images = 'y'\n[[sweeps]]\nlayer = 'conv1_1'\ndatasets = ['a']\n")
    with pytest.raises(DeconvError, match="dataset 'b' has no sweeps"):
        plan_lib.plan(net16, config_lib.load(path))


def _two_dataset_config(tmp_path, folders, **extra):
    lines = "".join(f"{key} = {json.dumps(value)}\n" for key, value in extra.items())
    return config_lib.load(_write(tmp_path, f"""
out = "{tmp_path / 'out'}"
size = 32
batch_size = 2
top = 2
{lines}
[[datasets]]
name = "people"
images = "{folders / 'people'}"
[[datasets]]
name = "dog"
images = "{folders / 'dog'}"
[[sweeps]]
layer = "conv2_1"
"""))


def test_multi_dataset_resume_skips_finished_datasets(net16, folders, tmp_path, monkeypatch):
    config = _two_dataset_config(tmp_path, folders)
    reference, _ = runner.run_config(net16, config, {"w": 1}, {})
    expected = (tmp_path / "out" / "dog" / "conv2_1.json").read_text()
    # A run killed in dataset 2: dataset 1 finished, dataset 2 saved after its first batch.
    calls = []
    original = runner.run_resumable

    def killed_in_dog(net, paths, sweeps, out_dir, *args, **kwargs):
        calls.append(os.path.basename(out_dir))
        if out_dir.endswith("dog"):
            raise KeyboardInterrupt
        return original(net, paths, sweeps, out_dir, *args, **kwargs)

    monkeypatch.setattr(runner, "run_resumable", killed_in_dog)
    with pytest.raises(KeyboardInterrupt):
        runner.run_config(net16, config, {"w": 1}, {})
    monkeypatch.setattr(runner, "run_resumable", original)
    assert os.path.exists(tmp_path / "out" / "people" / checkpoint.DONE_NAME)
    counting = []
    real_scan = scan_lib.scan

    def counting_scan(net, paths, *args, **kwargs):
        counting.append(os.path.basename(os.path.dirname(paths[0])))
        return real_scan(net, paths, *args, **kwargs)

    monkeypatch.setattr(scan_lib, "scan", counting_scan)
    outcomes, _ = runner.run_config(net16, config, {"w": 1}, {})
    assert counting == ["dog"]  # people was not scanned again
    assert outcomes["people"].state.read == reference["people"].state.read == 5
    assert (tmp_path / "out" / "dog" / "conv2_1.json").read_text() == expected
    assert not os.path.exists(tmp_path / "out" / "people" / checkpoint.DONE_NAME)


def _resumable(net16, folders, tmp_path, paths=None, **settings):
    paths = paths or image_files.find_images(str(folders / "people"),
                                             image_files.parse_extensions(None))
    sweeps = [sweeps_lib.make_sweep(net16, "conv2_1", 4, top=2, mode=settings.pop("mode",
                                                                                "activation"))]
    return runner.run_resumable(net16, paths, sweeps, str(tmp_path / "out"),
                                runner.Settings(**{"size": 32, "batch_size": 2, **settings}),
                                {}, {"weights": "w"})


def _half_done(net16, folders, tmp_path):
    """Leaves the saved state of a run stopped after pass 1's first batch."""
    paths = image_files.find_images(str(folders / "people"), image_files.parse_extensions(None))
    sweeps = [sweeps_lib.make_sweep(net16, "conv2_1", 4, top=2)]
    settings = runner.Settings(32, batch_size=2)
    state = scan_lib.ScanState.fresh(net16, sweeps)
    state = next(scan_lib.scan(net16, paths, sweeps, state, settings.reading))
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    fingerprint = runner.pass_one_fingerprint({"weights": "w"}, sweeps, settings, paths)
    checkpoint.save(str(out / checkpoint.FILE_NAME), state, fingerprint)
    return paths


def test_fingerprint_ignores_pass_two_settings(net16, folders, tmp_path):
    _half_done(net16, folders, tmp_path)
    outcome = _resumable(net16, folders, tmp_path, mode="maps", normalize="minmax")
    assert outcome.state.cursor == 5 and outcome.state.read == 5


@pytest.mark.parametrize("change", ["added image", "touched image", "size"])
def test_fingerprint_refuses_what_changes_pass_one(net16, folders, tmp_path, change):
    paths = _half_done(net16, folders, tmp_path)
    settings = {}
    if change == "added image":
        shutil.copy(paths[0], tmp_path / "extra.png")
        paths = paths + [str(tmp_path / "extra.png")]
    elif change == "touched image":
        copy = tmp_path / "copy.png"
        shutil.copy(paths[0], copy)
        paths = [str(copy)] + paths[1:]
    else:
        settings["size"] = 40
    with pytest.raises(DeconvError, match="different config, model, weights or image list"):
        _resumable(net16, folders, tmp_path, paths=paths, **settings)


def test_a_killed_pass_two_resumes_at_pass_two(net16, folders, tmp_path, monkeypatch):
    reference = _resumable(net16, folders, tmp_path)
    expected = (tmp_path / "out" / "conv2_1_4.json").read_text()
    checkpoint.clear(str(tmp_path / "out"))
    original = runner.project_all
    monkeypatch.setattr(runner, "project_all",
                        lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        _resumable(net16, folders, tmp_path)
    monkeypatch.setattr(runner, "project_all", original)
    monkeypatch.setattr(scan_lib, "scan", lambda *a, **k: pytest.fail("pass 1 ran again"))
    outcome = _resumable(net16, folders, tmp_path)
    assert outcome.state.read == reference.state.read
    assert (tmp_path / "out" / "conv2_1_4.json").read_text() == expected


def test_a_finished_dataset_is_projected_again_when_pass_two_settings_change(
        net16, folders, tmp_path, monkeypatch):
    _resumable(net16, folders, tmp_path)  # finished: its record stays until the config is done
    assert os.path.exists(tmp_path / "out" / checkpoint.DONE_NAME)
    monkeypatch.setattr(scan_lib, "scan", lambda *a, **k: pytest.fail("pass 1 ran again"))
    outcome = _resumable(net16, folders, tmp_path, mode="maps")
    assert list(outcome.written) == ["conv2_1_4_maps"]
    assert json.loads((tmp_path / "out" / "conv2_1_4_maps.json").read_text())["mode"] == "maps"
    monkeypatch.setattr(runner, "project_all", lambda *a, **k: pytest.fail("projected again"))
    assert list(_resumable(net16, folders, tmp_path, mode="maps").written) == ["conv2_1_4_maps"]


def test_index_labels_each_run_with_its_own_dataset_weights_and_counts(net16, folders,
                                                                         tmp_path):
    out = str(tmp_path / "out")
    weights_file = {"path": "/w/a.h5", "bytes": 1, "sha256": "ab" * 32}
    for name, described, feature in (
            ("dog", {"model": "vgg16", "weights": "/w/a.h5", "weights_file": weights_file}, 4),
            ("people", {"model": "vgg19", "weights": "random", "seed": 0}, None)):
        config = config_lib.RunConfig([config_lib.DatasetConfig(name, str(folders / name),
                                                                size=32)],
                                      [config_lib.SweepConfig("conv2_1", feature, top=2)],
                                      out=out)
        _, index = runner.run_config(net16, config, {"w": name}, described)
    sections = open(index, encoding="utf-8").read().split("<h2>")[1:]
    assert len(sections) == 2
    people, dog = sections  # this run first, then the earlier one, each with its own heading
    assert people.startswith(f"people ({folders / 'people'})</h2><p>5 images read, 0 skipped; "
                             f"model vgg19, weights random (seed 0).</p>")
    assert 'src="conv2_1_feat.png"' in people and "conv2_1_feat_4" not in people
    assert dog.startswith(f"dog ({folders / 'dog'})</h2><p>4 images read, 0 skipped; model "
                          f"vgg16, weights /w/a.h5 (/w/a.h5, sha256 abababababababab…).</p>")
    assert 'src="conv2_1_feat_4.png"' in dog and 'src="conv2_1_feat.png"' not in dog


def test_a_run_into_its_image_folder_never_reads_its_outputs(net16, folders, tmp_path):
    images = tmp_path / "dog"
    shutil.copytree(folders / "dog", images)
    config = config_lib.RunConfig([config_lib.DatasetConfig("dog", str(images), size=32)],
                                  [config_lib.SweepConfig("conv1_1", None, top=3)],
                                  out=str(images / "results"))
    for _ in range(2):
        outcomes, _ = runner.run_config(net16, config, {"w": 1}, {})
        assert outcomes["dog"].state.read == 4
        assert not any("results" in r["path"] for r in outcomes["dog"].manifests[0]["results"])
    assert outcomes["dog"].manifests[0]["counts"]["ignored_by_extension"] == {
        image_files.OUTPUT_FOLDER: 1}


def test_index_keeps_earlier_runs_in_the_folder(net16, folders, tmp_path):
    out = str(tmp_path / "out")
    dataset = config_lib.DatasetConfig("dog", str(folders / "dog"), size=32)
    for features in (4, None):
        config = config_lib.RunConfig([dataset], [config_lib.SweepConfig("conv2_1", features,
                                                                         top=2)], out=out)
        _, index = runner.run_config(net16, config, {"weights": "test"}, {})
    page = open(index, encoding="utf-8").read()
    assert page.index('src="conv2_1_feat.png"') < page.index('src="conv2_1_feat_4.png"')
    (tmp_path / "out" / "conv2_1_feat_4.png").unlink()  # a manifest without its grids: left out
    _, index = runner.run_config(net16, config, {"weights": "test"}, {})
    assert "conv2_1_feat_4" not in open(index, encoding="utf-8").read()


def test_mode_maps_shows_whole_images(net16, folders, tmp_path):
    """A whole map reaches the whole image: its tiles are not cut to one activation's field."""
    from deconv.io import render
    _resumable(net16, folders, tmp_path, mode="maps")
    manifest = json.loads((tmp_path / "out" / "conv2_1_4_maps.json").read_text())
    pixels = [image_files.read_image(r["path"], 32, "stretch")[0] for r in manifest["results"]]
    expected = render.grid([render.upscale(image, 64) for image in pixels])
    written = np.asarray(Image.open(tmp_path / "out" / manifest["files"]["im"]))
    np.testing.assert_array_equal(written, expected)


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 not a zip"])
def test_damaged_state_files_are_reported(net16, folders, tmp_path, content):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / checkpoint.FILE_NAME).write_bytes(content)
    with pytest.raises(DeconvError, match="Cannot read the saved state .* --restart"):
        _resumable(net16, folders, tmp_path)
