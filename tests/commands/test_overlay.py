"""python -m deconv.overlay: its four modes on the colour model, end to end."""
import json
import os

from PIL import Image

from tests.commands.test_classwise import COLOUR_FOLDER_SKIPS
from tests.conftest import run_command
from tests.helpers import colour_model
from tests.helpers.colour_model import BLUE, CONSTANT, RED
from tests.helpers.command_batch import run_commands


def _overlay_cli(*flags):
    return run_command("overlay", "--noprogress", *flags)


def test_command_line_modes(colour_folder, tmp_path):
    root, _ = colour_folder
    model = tmp_path / "colours.keras"
    colour_model.colour_model().save(model)
    common = ["--model", str(model), "--size", "16", "--out", str(tmp_path / "out")]
    (tmp_path / "maps.json").write_text(json.dumps({"red": [RED], "blue": [BLUE]}))
    many = _overlay_cli("--images", str(root), "--feat", "pooled", "--id", f"{RED},{BLUE}",
                        "--order", "strongest", "--each", *common)
    assert many.returncode == 0, many.stderr[-2000:]
    assert many.stdout.splitlines()[0] == f"{root}: read 8 images, {COLOUR_FOLDER_SKIPS}"
    summary = json.loads((tmp_path / "out" / "pooled_sum2_0+1.json").read_text())
    assert summary["model_file"]["path"] == str(model)
    assert summary["maps"] == [RED, BLUE] and len(summary["per_image"]) == 8
    assert len(summary["skipped"]) == 3 and summary["shown"][-1].endswith("loose.png")
    assert len(os.listdir(tmp_path / "out" / "pooled_sum2_0+1")) == 8
    # The other runs share one process (TensorFlow starts once), each through the command's
    # own flag parsing, main and one-line errors (tests/helpers/command_batch.py).
    image = str(root / "red" / "red1.png")
    runs = [["--images", str(root), "--feat", "colours", "--class_maps",
             str(tmp_path / "maps.json"), "--plot", str(tmp_path / "plot.png"), *common],
            [image, "--feat", "colours", "--top", "2", *common],
            [image, "--feat", "colours", "--id", f"{RED},{BLUE}", *common],  # not named a sum
            [image, "--feat", "colours", "--id", "7", *common]]
    plot, one, chosen, bad = [result for result, _ in run_commands(
        "overlay", [["--noprogress", *flags] for flags in runs], tmp_path)]
    assert plot.returncode == 0, plot.stderr[-2000:]
    assert plot.stdout.splitlines()[0] == f"{root}: read 8 images, {COLOUR_FOLDER_SKIPS}"
    data = json.loads((tmp_path / "plot.json").read_text())
    assert data["mean_score_by_folder"]["red"]["red"] > 0.4 and (tmp_path / "plot.png").exists()
    assert one.returncode == 0, one.stderr[-2000:]
    top = json.loads((tmp_path / "out" / "red1_colours_top2.json").read_text())
    assert [m["map"] for m in top["maps"]] == [RED, CONSTANT]
    with Image.open(tmp_path / "out" / "red1_colours_top2.png") as picture:
        assert picture.size == (2 * 16 + 3 * 2, 14 + 2 * (14 + 16) + 3 * 2)  # 2x2 grid, title
    assert chosen.returncode == 0, chosen.stderr[-2000:]
    assert (tmp_path / "out" / f"red1_colours_maps{RED}+{BLUE}.png").exists()
    assert bad.returncode == 2 and bad.stderr.strip().splitlines()[-1] == (
        "python -m deconv.overlay: error: --id 7 is out of range for layer 'colours', which "
        "has 5 feature maps (valid ids: 0 to 4).")
