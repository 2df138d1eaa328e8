"""python -m deconv.sanity: the library's numbers in report.json, the figures and report.html
(every picture loads in Chromium), an unreadable file skipped with a warning (bad input is the
library's one-line errors, checked in tests/analysis/test_sanity.py; flags in
test_conventions.py)."""
import json

import numpy as np
import pytest
from PIL import Image

import deconv
from deconv.analysis import sanity
from deconv.io import images as image_files
from tests.conftest import assert_plain_warnings, chrome_driver, run_command
from tests.helpers import quadrant_task


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """`(folder, result, model path, images folder)` of one run on the quadrant model."""
    folder = tmp_path_factory.mktemp("sanity")
    images = folder / "images"
    images.mkdir()
    for number, pixels in enumerate(quadrant_task.images(3, 21, classes=[1, 0, 1])[0]):
        Image.fromarray(pixels.astype(np.uint8)).save(images / f"task{number}.png")
    (images / "broken.png").write_bytes(b"not a png")
    quadrant_task.model(epochs=1).save(folder / "quadrant.keras")
    result = run_command(
        "sanity", "--model", str(folder / "quadrant.keras"), "--preprocessing", "unit",
        "--images", str(images), "--size", "32", "--steps", "8", "--occluder", "16",
        "--stride", "16", "--noindependent", "--methods", "deconvnet,gradient,occlusion",
        "--dependence_units", "2", "--out", str(folder / "report"), "--noprogress")
    return folder, result


def test_the_report_holds_the_library_numbers(run):
    folder, result = run
    assert result.returncode == 0, result.stderr[-2000:]
    assert_plain_warnings(result.stderr)
    assert "warning: skipped " in result.stderr and "broken.png" in result.stderr
    assert "read 3 images, skipped 1 (" in result.stdout
    content = json.loads((folder / "report" / "report.json").read_text())
    assert content["layer"] == "predictions" and content["unit"] == "class logit"
    assert content["model_file"]["sha256"] and len(content["images"]) == 3
    assert [block["name"] for block in content["blocks"]] == [
        "block1", "block2", "fc1", "predictions"]
    assert content["cascading"]["steps"] == ["predictions", "fc1", "block2", "block1"]
    pixels = np.stack([image_files.read_image(path, 32)[0] for path in content["images"]])
    model = deconv.load_model(str(folder / "quadrant.keras"))
    expected = sanity.sanity_check(
        deconv.Deconvnet(model, preprocessing="unit"), "predictions", pixels,
        settings=sanity.SanitySettings(
            methods=("deconvnet", "gradient", "occlusion"), steps=8, independent=False,
            occluder=deconv.Occluder(16, 16), dependence_units=2))
    assert [t["feature"] for t in content["target"]] == expected.target.features.tolist()
    for method in expected.methods:
        for metric, values in expected.cascading.similarity[method].items():
            np.testing.assert_allclose(
                content["cascading"]["similarity"][method][metric]["per_image"], values,
                atol=2e-6)
        for kind in ("deletion", "insertion"):
            np.testing.assert_allclose(content["perturbation"][kind][method]["area"]["mean"],
                                       expected.curves.areas[kind][method].mean(), atol=2e-6)
    assert set(content["verdicts"]) == set(expected.methods)
    assert content["image_dependence"]["deconvnet"]["between_images"] is not None
    assert content["image_dependence"]["deconvnet"]["derived"]["switches"] == [
        "block1_pool", "block2_pool"]
    assert "gradient: Spearman " in result.stdout
    assert ("image dependence, deconvnet: between images " in result.stdout
            and "; the graph: depends on the image through 2 max-pool switches" in result.stdout)


def test_report_html_shows_every_figure(run):
    folder, _ = run
    files = json.loads((folder / "report" / "report.json").read_text())["files"]
    assert len(files) == 2 + 2 + 3  # json, html, two figures, a grid per image
    for name in files:
        assert (folder / "report" / name).is_file(), name
    with Image.open(folder / "report" / "maps_000_task0.png") as grid:
        assert grid.size[0] > grid.size[1] > 200  # 3 methods down, 6 columns across
    driver = chrome_driver("1200,900")
    try:
        driver.get(f"file://{folder}/report/report.html")
        loaded = driver.execute_script(
            "return [...document.images].map(i => i.complete && i.naturalWidth > 0)")
        assert loaded == [True] * 5
        text = driver.find_element("tag name", "body").text
        assert "Verdicts" in text and "deconvnet projection: Spearman" in text
        assert "depends on the image through 2 max-pool switches on every path" in text
        assert not [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    finally:
        driver.quit()
