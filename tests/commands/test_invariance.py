"""python -m deconv.invariance: the library's numbers, a plot and the transformed images, for any
Keras model (here one with global pooling) and a classifier of one's own."""
import json

import keras
import numpy as np
from PIL import Image

from deconv.analysis import invariance
from deconv.core.deconvnet import Deconvnet
from deconv.io import images as image_files
from tests.analysis.test_invariance import gap_model
from tests.conftest import photos, run_command


def test_command_line_measures_what_the_library_does(tmp_path):
    for name, pixels in zip(("astronaut", "chelsea"), photos((40, 30))):
        Image.fromarray(pixels).save(tmp_path / f"{name}.png")
    gap_model().save(tmp_path / "gap.keras")
    classifier = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Conv2D(3, 16),
                                   keras.layers.Flatten(), keras.layers.Softmax()])
    classifier.save(tmp_path / "classes.keras")
    result = run_command(
        "invariance", str(tmp_path / "astronaut.png"), str(tmp_path / "chelsea.png"),
        "--model", str(tmp_path / "gap.keras"), "--size", "16", "--transform", "scale",
        "--range", "0.5:2:0.25", "--fill", "mean", "--layers", "pointwise,gap", "--classes",
        "--classifier", str(tmp_path / "classes.keras"), "--label", "2", "--out", "out",
        "--noprogress", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert lines[0].startswith("pointwise: mean distance ") and lines[0].endswith(
        " at 2 ratio") and lines[-1].startswith("wrote out/invariance_scale.png, ")
    summary = json.loads((tmp_path / "out" / "invariance_scale.json").read_text())
    pixels = np.stack([image_files.read_image(str(tmp_path / f"{name}.png"), 16)[0]
                       for name in ("astronaut", "chelsea")])
    expected = invariance.invariance_curves(
        Deconvnet(keras.saving.load_model(tmp_path / "gap.keras")), ["pointwise", "gap"], pixels,
        transform=invariance.Transform("scale", (0.5, 0.75, 1, 1.25, 1.5, 1.75, 2), "mean"),
        classifier=keras.saving.load_model(tmp_path / "classes.keras"), labels=[2, 2])
    assert summary["transform"]["amounts"] == [0.5, 0.75, 1, 1.25, 1.5, 1.75, 2]
    for layer in ("pointwise", "gap"):
        np.testing.assert_allclose(summary["layers"][layer]["distance"],
                                   expected.distances[layer], atol=1e-6)
    assert summary["classes"]["target"] == [2, 2]
    np.testing.assert_allclose(summary["classes"]["probability"], expected.probability,
                               atol=1e-6)
    with Image.open(tmp_path / "out" / "invariance_scale_examples.png") as grid:
        assert grid.size == (2 + 7 * 98, 2 + 2 * 112)
