"""python -m deconv.correspondence: a parts file in original pixels, the library's table."""
import json

import numpy as np
from PIL import Image

from deconv.analysis import correspondence
from deconv.core.deconvnet import Deconvnet
from tests.analysis.test_correspondence import nose_images, nose_model
from tests.conftest import run_command


def test_command_line_writes_the_librarys_table(tmp_path):
    images, parts = nose_images(4)
    given = {}
    margins = np.random.default_rng(9).integers(0, 256, (4, 20, 5, 3))
    for number, (image, boxes) in enumerate(zip(images, parts)):
        # Saved 5 pixels wider on each side, which --aspect crop cuts off again: the boxes in
        # the file are in the wider image's pixels.
        wide = np.concatenate([margins[number], image, margins[number]], axis=1)
        Image.fromarray(wide.astype(np.uint8)).save(tmp_path / f"face{number}.png")
        top, left, bottom, right = boxes["nose"]
        given[f"face{number}.png"] = {"nose": [top, left + 5, bottom, right + 5]}
    (tmp_path / "parts.json").write_text(json.dumps(given))
    nose_model().save(tmp_path / "nose.keras")
    flags = ["--parts", str(tmp_path / "parts.json"), "--model", str(tmp_path / "nose.keras"),
             "--size", "20", "--aspect", "crop", "--fill", "black", "--trials", "6", "--noprogress"]
    result = run_command("correspondence", *flags, "--layers", "top", "--out", "out",
                         cwd=tmp_path)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr[-2000:]
    expected = correspondence.part_correspondence(Deconvnet(nose_model()), "top", images,
                                                  parts=parts, fill="black", trials=6)
    table = correspondence.table(expected)
    assert result.stdout.startswith(table)
    assert (tmp_path / "out" / "correspondence.md").read_text() == table
    summary = json.loads((tmp_path / "out" / "correspondence.json").read_text())
    assert summary["parts"]["nose"]["boxes"] == [list(p["nose"]) for p in parts]
    assert summary["parts"]["nose"]["layers"]["top"]["delta"] == 0.0
