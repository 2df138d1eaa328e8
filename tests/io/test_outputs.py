"""Writing outputs: a full disk is one error naming the file, and nothing half-written stays; a
path in the way is found before the work."""
import contextlib
import os
import resource
import signal

import numpy as np
from PIL import Image
import pytest

from deconv.errors import DeconvError
from deconv.io import images
from deconv.io import outputs


@contextlib.contextmanager
def disk_full_after(size):
    """Files of this process cannot grow past `size` bytes (as on a full disk: writes fail)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an error, not a killed process
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, handler)


def test_a_full_disk_is_one_line_and_leaves_nothing_half_written(tmp_path):
    noise = np.random.default_rng(0).integers(0, 256, (200, 200, 3), np.uint8)
    outputs.write_png(str(tmp_path / "old.png"), noise[:10])
    before = (tmp_path / "old.png").read_bytes()
    writers = [(outputs.write_png, "grid.png", noise), (outputs.write_json, "m.json",
                                                        {"x": list(range(5000))}),
               (outputs.write_npy, "a.npy", noise), (outputs.write_png, "old.png", noise)]
    for write, name, content in writers:
        with disk_full_after(4096), pytest.raises(DeconvError) as error:
            write(str(tmp_path / name), content)
        message = str(error.value)
        assert message.startswith(f"Cannot write {tmp_path / name}: "), message
        assert "File too large" in message or "is the disk full?" in message, message
        assert "\n" not in message
    assert sorted(os.listdir(tmp_path)) == ["old.png"]  # no temporary files, no new files
    assert (tmp_path / "old.png").read_bytes() == before  # the earlier file is intact


def test_a_saved_model_is_whole_or_absent(tmp_path):
    import deconv
    from deconv.saved_models import saved_model
    from tests.conftest import build_custom_cnn
    net = deconv.Deconvnet(build_custom_cnn())
    with disk_full_after(20000), pytest.raises(DeconvError) as error:
        saved_model.export_saved_model(net, ["c2"], str(tmp_path / "model"))
    assert str(error.value).startswith(f"Cannot write the SavedModel {tmp_path / 'model'}: ")
    assert "File too large" in str(error.value) and "\n" not in str(error.value)
    assert os.listdir(tmp_path) == []  # neither the model nor its staging folder
    (tmp_path / "model").mkdir()  # an empty folder may receive it
    saved_model.export_saved_model(net, ["c2"], str(tmp_path / "model"))
    assert sorted(os.listdir(tmp_path / "model")) == [
        outputs.MARKER, "README.txt", "assets", "fingerprint.pb", "saved_model.pb", "variables"]


def test_output_paths_are_checked_before_the_work(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(DeconvError, match=r"Output folder '.*file' is a file"):
        outputs.ensure_folder(str(tmp_path / "file"))
    (tmp_path / "out" / "conv1_1.json").mkdir(parents=True)
    with pytest.raises(DeconvError, match=r"Cannot write .*conv1_1.json: a folder of that name "
                                          r"is in the way"):
        outputs.check_targets([str(tmp_path / "out" / "a.png"),
                               str(tmp_path / "out" / "conv1_1.json")])
    outputs.ensure_folder(str(tmp_path / "new"))
    assert outputs.is_output_folder(str(tmp_path / "new"))


def test_an_output_never_replaces_an_input_or_hides_the_users_images(tmp_path):
    """Issue 23, item 1: an output path that is an input, or that would replace a file deconv
    did not write, is refused before any work; a folder holding the user's images (in it or
    below) is never marked as an output folder, so it stays readable."""
    from tests.conftest import last_error, run_command
    photos = tmp_path / "photos"
    (photos / "cats").mkdir(parents=True)
    Image.new("RGB", (40, 30), (200, 10, 10)).save(photos / "photo.png")
    Image.new("RGB", (40, 30), (10, 200, 10)).save(photos / "cats" / "cat.jpg")
    before = (photos / "photo.png").read_bytes()
    result = run_command("visualize", str(photos / "photo.png"), "--out", str(photos),
                         "--weights", "random", "--model", "vgg16", "--size", "32",
                         "--layers", "conv1_1")
    assert result.returncode == 2, result.stderr[-2000:]
    assert "it is this command's input" in last_error(result), result.stderr
    assert (photos / "photo.png").read_bytes() == before
    assert not outputs.is_output_folder(str(photos))
    # A folder with images only below it is not marked either, by any command's folder.
    for folder in (photos, photos / "cats"):
        with pytest.raises(DeconvError, match=r"holds images of yours \(e.g. .*(photo.png|"
                                              r"cat.jpg)\)"):
            outputs.ensure_folder(str(folder))
        assert not outputs.is_output_folder(str(folder))
    assert images.scan_folder(str(photos), images.parse_extensions(None))[0] == [
        str(photos / "cats" / "cat.jpg"), str(photos / "photo.png")]
    # A file of the user's that an output would replace (its folder unmarked) is refused; an
    # input is refused even in deconv's own folder; deconv's own outputs are replaced.
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "photo.json").write_text("mine")
    with pytest.raises(DeconvError, match=r"Cannot write .*photo.json: a file that deconv did "
                                          r"not write is there"):
        outputs.check_targets([str(tmp_path / "notes" / "photo.json")])
    outputs.ensure_folder(str(tmp_path / "out"))
    outputs.write_png(str(tmp_path / "out" / "photo.png"), np.zeros((2, 2, 3), np.uint8))
    outputs.check_targets([str(tmp_path / "out" / "photo.png")])
    with pytest.raises(DeconvError, match=r"it is this command's input"):
        outputs.check_targets([str(tmp_path / "out" / "photo.png")],
                              inputs=[str(tmp_path / "out" / "photo.png")])
    outputs.ensure_folder(str(tmp_path / "out"))  # deconv's own images: still an output folder
