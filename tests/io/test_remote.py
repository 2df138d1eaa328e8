"""Image folders given by URL (`tf.io.gfile`: `gs://`, here TensorFlow's in-memory `ram://`):
listed and read as the same folder on a local disk is, bad files skipped for the same reasons,
deconv's output folders left out; a sweep over it (local engine, and Beam's in this process)
finds the same winners."""
import os

import numpy as np
import pytest
import tensorflow as tf

from deconv.distributed import engine
from deconv.distributed import options as options_lib
from deconv.distributed import spec as spec_lib
from deconv.errors import DeconvError
from deconv.io import images as image_files
from deconv.io import outputs
from deconv.sweeps import config as config_lib
from deconv.sweeps import runner
from deconv.sweeps import sweep as sweeps_lib

URL = "ram://deconv-test-images"


@pytest.fixture(scope="module")
def copied(image_folder):
    """`image_folder` copied to `URL`, with a marked output folder inside."""
    for folder, _, names in os.walk(image_folder):
        target = URL + folder[len(str(image_folder)):]
        tf.io.gfile.makedirs(target)
        for name in names:
            tf.io.gfile.copy(os.path.join(folder, name), f"{target}/{name}", overwrite=True)
    tf.io.gfile.makedirs(f"{URL}/results")
    for name in (outputs.MARKER, "conv1_1_feat.png"):
        tf.io.gfile.copy(os.path.join(image_folder, "dogs", "img0.png"), f"{URL}/results/{name}",
                         overwrite=True)
    return image_folder


def test_a_url_folder_lists_and_reads_as_the_local_folder(copied):
    extensions = image_files.parse_extensions(None)
    local, local_others = image_files.scan_folder(str(copied), extensions)
    found, others = image_files.scan_folder(URL, extensions)
    assert [p[len(URL):] for p in found] == [p[len(str(copied)):] for p in local]
    assert others == {**local_others, image_files.OUTPUT_FOLDER: 1}
    for url, path in zip(found, local):
        pixels, size, reason = image_files.read_image(url, 32)
        expected = image_files.read_image(path, 32)
        assert (reason is None) == (expected[2] is None) and size == expected[1]
        assert reason == expected[2] or reason.split(" (")[0] == expected[2].split(" (")[0]
        if reason is None:
            np.testing.assert_array_equal(pixels, expected[0])
    assert image_files.read_image(f"{URL}/nothing.png")[2] == "file not found"
    assert image_files.read_image(f"{URL}/dogs")[2] == "a folder, not an image file"
    with pytest.raises(DeconvError, match="Image folder not found: 'ram://nowhere'"):
        image_files.scan_folder("ram://nowhere", extensions)


def test_sweeps_over_a_url_find_the_local_winners(net16, copied, tmp_path):
    extensions = image_files.parse_extensions(None)
    sweeps = [sweeps_lib.make_sweep(net16, "conv2_1", 4, top=3)]
    settings = runner.Settings(32, batch_size=3)
    results = {}
    for name, root in (("local", str(copied)), ("url", URL)):
        paths = image_files.find_images(root, extensions)
        outcome = runner.run(net16, paths, sweeps, str(tmp_path / name), settings, {})
        results[name] = [(r["path"][len(root):], r["position"], r["value"])
                         for r in outcome.manifests[0]["results"]]
        assert outcome.manifests[0]["counts"]["skipped"] == 3
    assert results["url"] == results["local"]


def test_the_beam_engine_reads_a_url_folder(copied, tmp_path):
    """In this process (the DirectRunner in memory: `ram://` is this process's own), the Beam
    engine's manifests over the URL equal the local engine's over the local folder."""
    spec = spec_lib.NetSpec("vgg16", "random", seed=5)
    net = spec.build()
    manifests = {}
    for name, root in (("local", str(copied)), ("beam", URL)):
        config = config_lib.RunConfig(
            [config_lib.dataset_from(root, size=32)],
            [config_lib.SweepConfig("conv2_1", None, 3)], out=str(tmp_path / name),
            batch_size=3)
        found = runner.find_datasets(config)
        if name == "local":
            outcomes, _ = runner.run_config(net, config, {}, {}, found=found)
        else:
            outcomes, _, _ = engine.run_config(
                net, spec, config, {}, options_lib.pipeline_options(
                    "--runner=DirectRunner --direct_running_mode=in_memory"), found)
        manifest = next(iter(outcomes.values())).manifests[0]
        manifests[name] = [(r["path"][len(root):], r["position"], r["value"], r["box"])
                           for r in manifest["results"]]
    assert manifests["beam"] == manifests["local"]
