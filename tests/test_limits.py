"""Every number in a range, checked before the work: sizes, batches (a batch larger than the data
is capped), counts, pictures; non-finite numbers refused."""
import numpy as np
import pytest
import tensorflow as tf

from deconv import limits
from deconv.errors import DeconvError
from deconv.io import images as image_files
from deconv.io import streaming
from deconv.sweeps import config as config_lib
from deconv.sweeps import sweep as sweeps_lib


def test_values_outside_their_range_are_refused_naming_the_range():
    assert limits.check("size", 4096) == 4096
    for name, value, message in [
            ("size", 4097, "size must be an integer from 1 to 4096; received 4097."),
            ("top", 10 ** 20, f"top must be an integer from 1 to 1000; received {10 ** 20}."),
            ("batch_size", 0, "batch_size must be an integer from 1 to 4096; received 0."),
            ("seed", True, "seed must be an integer from 0 to 4294967295; received True.")]:
        with pytest.raises(DeconvError, match=f"^{message}$".replace("(", r"\(")):
            limits.check(name, value)
    for value in (float("nan"), float("inf"), -float("inf"), 1.5):
        assert limits.problem(value, 0, 1, integer=False) == (
            f"must be a number from 0 to 1; received {value!r}.")
    assert limits.problem(0.5, 0, 1, integer=False) is None


def test_a_batch_larger_than_the_data_is_capped(folders):
    paths = image_files.find_images(str(folders / "dog"), image_files.parse_extensions(None))
    reading = streaming.Reading(32, batch_size=4096)
    assert reading.for_count(len(paths)).batch_size == 4 and reading.for_count(0).batch_size == 1
    sizes = [batch.outputs for batch in streaming.stream(
        paths, lambda pixels: tf.shape(pixels)[0], reading)]
    assert sizes == [4]  # one batch of the four images, nothing allocated for 4096
    with pytest.raises(DeconvError, match=r"--batch_size 2 of 4096x4096 images is 33.6 M pixels "
                                          r"per batch, more than 16.8 M: use --batch_size 1"):
        streaming.Reading(4096, batch_size=2).for_count(10)
    with pytest.raises(DeconvError, match=r"size must be an integer from 1 to 4096; received "
                                          r"20000"):
        streaming.Reading(20000)


def test_sweeps_and_their_grids_are_bounded(net16):
    with pytest.raises(DeconvError, match=r"top must be an integer from 1 to 1000"):
        sweeps_lib.make_sweep(net16, "conv1_1", 3, top=99999999999999999999)
    big = sweeps_lib.make_sweep(net16, "conv2_1", 3, top=1000, mode="maps")
    with pytest.raises(DeconvError, match=r"The grids of conv2_1_3_maps \(top 1000; lower it, "
                                          r"--size or --min_tile\): 1000 tiles of 1024x1024 "
                                          r"pixels make 1049 M pixels, more than 134 M"):
        sweeps_lib.check_settings(net16, [big], 1024, 16)
    sweeps_lib.check_settings(net16, [big], 224, 16)  # 1000 tiles of 224 px: 50 M pixels
    with pytest.raises(DeconvError, match=r"min_tile must be an integer from 1 to 1024"):
        sweeps_lib.check_settings(net16, [big], 224, 16, min_tile=100000)


def test_config_values_have_the_flags_ranges(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text("batch_size = 100000\n[[sweeps]]\nlayer = 'conv1_1'\n")
    with pytest.raises(DeconvError, match=r"run.toml:1: 'batch_size' must be an integer from 1 "
                                          r"to 4096; received 100000\."):
        config_lib.load(str(path))
    np.testing.assert_equal(limits.RANGES["size"], (1, limits.MAX_SIDE))
