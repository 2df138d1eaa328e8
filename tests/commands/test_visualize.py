"""python -m deconv.visualize: IMAGE and GIF modes, and its count rules."""
import json
import os

import imageio.v3 as imageio
import numpy as np

import deconv
from deconv import visualize
from deconv.analysis import ranges
from deconv.io import images as image_files
from tests.conftest import ROOT, assert_plain_warnings, run_command


def test_command_line_count_parsing():
    assert visualize.count_rule("9") == 9 and visualize.count_rule("0.2") == 0.2
    assert visualize.count_rule("3.0") == 3  # anything else is refused (test_conventions)


def _visualize(*flags):
    return run_command("visualize", *flags)


def test_command_line_image_and_gif_modes(tmp_path):
    image = os.path.join(ROOT, "examples", "images", "chelsea.jpg")
    result = _visualize(image, "--out", str(tmp_path / "cat"), "-m", "0.2", "-a", "9",
                        "--weights", "random", "--size", "64", "--layers", "conv1_2,conv3_1")
    assert result.returncode == 0, result.stderr[-2000:]
    assert_plain_warnings(result.stderr, random=True)
    assert (tmp_path / "cat" / "chelsea.png").exists()  # --out is a folder
    summary = json.loads((tmp_path / "cat" / "chelsea.json").read_text())
    assert (summary["weights"], summary["seed"]) == ("random", 0)
    layers = summary["layers"]
    assert [(x["layer"], x["maps_kept"], x["activations_per_map"]) for x in layers] == [
        ("conv1_2", 13, 9), ("conv3_1", 51, 9)]
    result = _visualize(image, "-g", "--out", str(tmp_path / "cat"), "--frames", "5",
                        "--weights", "random", "--size", "64", "--layers", "conv2_1")
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == f"wrote 1 GIF: {tmp_path / 'cat' / 'chelsea_conv2_1.gif'}"
    written = imageio.imread(tmp_path / "cat" / "chelsea_conv2_1.gif", index=None)[..., :3]
    assert written.shape[0] == len(ranges.frame_counts(128, 5)) == 5
    assert written.shape[1:3] == (64 + 14, 64)  # the image, with a caption line above
    # The file's frames, in order, are the frames rendered with the same network (GIF's
    # palette changes pixels a little: each written frame is nearest its own rendered one).
    net = deconv.Deconvnet(deconv.load_model("vgg19", weights=None, seed=0))
    pixels = image_files.read_image(image, 64, "stretch")[0]
    rendered = np.stack(ranges.layer_frames(net, "conv2_1", pixels, frames=5)).astype(np.float64)
    distances = np.abs(written[:, None].astype(np.float64) - rendered[None]).mean(axis=(2, 3, 4))
    assert distances.argmin(axis=1).tolist() == list(range(5)), distances
    assert np.all(np.diag(distances) < 4), distances
