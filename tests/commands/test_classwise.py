"""python -m deconv.classwise: the colour model's class folders, end to end, and its errors."""
import json

from tests.conftest import last_error, run_command
from tests.helpers import colour_model
from tests.helpers.colour_model import BLUE, RED

# What every command reading the colour folder prints about its files.
COLOUR_FOLDER_SKIPS = ("skipped 3 (1 not an image Pillow can identify, 1 truncated or corrupt, "
                       "1 zero-byte file); left out 1 file of other types (.txt: 1)")


def test_command_line(colour_folder, tmp_path):
    root, _ = colour_folder
    model = tmp_path / "colours.keras"
    colour_model.colour_model().save(model)
    out = tmp_path / "result"
    flags = ["--images", str(root), "--feat", "colours", "--model", str(model), "--per_image",
             "1", "--per_class", "2", "--size", "16", "--batch_size", "2", "--out", str(out)]
    result = run_command("classwise", *flags)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads((out / "colours.json").read_text()) == {"blue": [BLUE], "red": [RED]}
    details = json.loads((out / "colours_details.json").read_text())
    assert details["counts"]["skipped"] == 3 and details["classes"]["red"]["images"] == 4
    assert details["model_file"]["path"] == str(model)
    lines = result.stdout.strip().splitlines()
    assert lines[0] == f"{root}: read 7 images, {COLOUR_FOLDER_SKIPS} and 1 image in no class " \
                       f"folder"
    assert lines[1].startswith("colours: 2 classes: blue (3), red (4); ")
    # Outputs are checked before the work: a folder where a file goes stops it at once.
    (tmp_path / "taken" / "colours.json").mkdir(parents=True)
    bad = run_command("classwise", *flags[:-2], "--out", str(tmp_path / "taken"))
    assert bad.returncode == 2 and last_error(bad) == (
        f"python -m deconv.classwise: error: Cannot write {tmp_path / 'taken' / 'colours.json'}: "
        f"a folder of that name is in the way.")
    assert "Skipping" not in bad.stderr  # no image was read
    bad = run_command("classwise", *flags[:-2], "--per_class", "-1")
    assert bad.returncode == 2 and last_error(bad) == (
        "python -m deconv.classwise: error: --per_class must be an integer from 1 to 65536; "
        "received '-1'.")
