"""A worker that fails (a DoFn raising on one chosen shard, through the engine's test hook; two
worker processes) fails the run with one line naming the shard's files, and --out keeps only
what it held. Shards and options."""
import contextlib
import os
import sys

import pytest

from deconv.distributed import engine
from deconv.distributed import options as options_lib
from deconv.distributed import spec as spec_lib
from deconv.errors import DeconvError
from deconv.io import images as image_files
from deconv.sweeps import config as config_lib

from tests.distributed.test_beam_run import TWO_WORKERS


def _config(tmp_path, images, out):
    path = tmp_path / "run.toml"
    path.write_text(f'model = "vgg16"\nweights = "random"\nseed = 5\nbatch_size = 3\nsize = 32\n'
                    f'images = "{images}"\nout = "{out}"\n[[sweeps]]\nlayer = "conv2_1"\ntop = 3\n')
    return config_lib.load(str(path))


def test_a_failing_shard_names_its_files_and_leaves_no_partial_output(image_folder, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "earlier.txt").write_text("an earlier run's file")
    config = _config(tmp_path, image_folder, out)
    spec = spec_lib.NetSpec("vgg16", "random", seed=5)
    net = spec.build()
    paths = image_files.find_images(str(image_folder), image_files.parse_extensions(None))
    with pytest.raises(DeconvError) as raised:
        engine.run_config(net, spec, config, {"test": True},
                          options_lib.pipeline_options(TWO_WORKERS), fail_shard=1)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"Pass 1 failed on shard 1 (images 3 to 5: {paths[3]}, "
                              f"{paths[4]}, {paths[5]}): ")
    assert message.endswith("the test's injected failure")
    assert sorted(os.listdir(out)) == ["earlier.txt"]
    assert sorted(os.listdir(tmp_path)) == ["out", "run.toml"]  # no hidden folder left


def test_shards_are_whole_batches_and_cover_the_list():
    paths = [f"/data/{i:03d}.png" for i in range(50)]
    shards = spec_lib.shards(paths, 4)
    assert [len(s.paths) for s in shards] == [8] * 6 + [2]  # about 8 shards
    assert [p for s in shards for p in s.paths] == paths
    assert all(s.first == sum(len(t.paths) for t in shards[:s.number]) for s in shards)
    assert [len(s.paths) for s in spec_lib.shards(paths, 4, per_shard=10)] == [12] * 4 + [2]
    assert shards[1].describe(2) == ("shard 1 (images 8 to 15: /data/008.png, /data/009.png "
                                     "and 6 more)")


def test_beam_options_are_checked():
    with pytest.raises(DeconvError, match="each --name=value .* received 'DirectRunner'"):
        options_lib.pipeline_options("DirectRunner")
    with pytest.raises(DeconvError, match="received 'extra'"):
        options_lib.pipeline_options("--runner=DirectRunner extra")
    given = options_lib.pipeline_options("--runner DirectRunner --project p --temp_location /tmp/w")
    assert given.get_all_options()["project"] == "p"
    assert options_lib.work_folder(given, "/x/.out.part") == "/tmp/w/deconv-.out.part"
    with pytest.raises(DeconvError, match="cannot be split"):
        options_lib.pipeline_options("--project='x")
    options = options_lib.pipeline_options("")
    assert options.get_all_options()["direct_running_mode"] == "multi_processing"
    # Beam's own parser and runner registry, asked before any work: one line each.
    with pytest.raises(DeconvError, match=r"^--beam_options: argument --direct_num_workers: "
                                          r"invalid int value: 'abc'\.$"):
        options_lib.pipeline_options("--direct_num_workers=abc")
    with pytest.raises(DeconvError, match=r"^--beam_options: Unexpected pipeline runner: "
                                          r"NoSuchRunner\. Valid values are .*DirectRunner"):
        options_lib.pipeline_options("--runner=NoSuchRunner")
    with absltest_warnings() as said:
        options_lib.pipeline_options("--runner=DirectRunner --direct_num_worker=2")
    assert said == ["--beam_options: Beam knows no option --direct_num_worker; it is ignored."]
    assert options_lib.pipeline_options("--runner=FlinkRunner --flink_master=h:8081")


@contextlib.contextmanager
def absltest_warnings():
    """The messages absl logs as warnings while the block runs."""
    from absl import logging
    said = []
    original = logging.warning
    logging.warning = lambda message, *args: said.append(message % args)
    try:
        yield said
    finally:
        logging.warning = original


def test_beam_options_without_the_beam_engine_are_refused(tmp_path):
    from tests.conftest import last_error, run_command
    result = run_command("atlas", "--weights", "random", "--beam_options", "--runner=X",
                         "--out", str(tmp_path / "out"), "--noprogress")
    assert result.returncode == 2
    assert last_error(result) == ("python -m deconv.atlas: error: --beam_options needs --engine "
                                  "beam: the local engine takes no Beam options.")


def test_without_beam_the_engine_is_one_line_saying_how_to_install_it(monkeypatch):
    from deconv import _engine
    monkeypatch.setitem(sys.modules, "apache_beam", None)  # what a missing package raises
    with pytest.raises(DeconvError, match=r"^--engine beam needs Apache Beam: pip install -e "
                                          r"'\.\[beam\]'"):
        _engine.beam_engine("engine")
