"""python -m deconv.classwise: the colour model's class folders, end to end, and its errors."""
import json

from tests import colour_model
from tests.colour_model import BLUE, RED
from tests.conftest import last_error, run_command


def test_command_line(colour_folder, tmp_path):
    root, _ = colour_folder
    model = tmp_path / "colours.keras"
    colour_model.colour_model().save(model)
    out = tmp_path / "result" / "classwise.json"
    flags = ["--images", str(root), "--feat", "colours", "--model", str(model), "--per_image",
             "1", "--per_class", "2", "--size", "16", "--batch_size", "2", "--out", str(out)]
    result = run_command("classwise", *flags)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(out.read_text()) == {"blue": [BLUE], "red": [RED]}
    details = json.loads((tmp_path / "result" / "classwise_details.json").read_text())
    assert details["counts"]["skipped"] == 3 and details["classes"]["red"]["images"] == 4
    assert "skipped 3" in result.stdout and "note: skipped" in result.stdout
    bad = run_command("classwise", *flags[:-2], "--per_class", "-1")
    assert bad.returncode == 2 and last_error(bad) == (
        "python -m deconv.classwise: error: per_class must be an integer of at least 1 (more "
        "than the layer's maps means all of them); received -1.")
