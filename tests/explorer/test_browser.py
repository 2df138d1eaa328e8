"""The live explorer's page in headless Chromium (Selenium, Debian's chromedriver), against a
real uvicorn server: upload an image, open a layer, click a map, click a position, toggle the
rule and whole-map mode, and the projection shown has the pixels of `deconv.to_uint8` of the
library's projection; the atlas strip, the occlusion heat map, drops and examples work, and the
page logs no error (a content-security-policy violation would be one)."""
import base64
import shutil

import numpy as np
import pytest
from selenium.webdriver import ActionChains
from selenium.webdriver.support.ui import Select
from selenium.webdriver.support.ui import WebDriverWait

import deconv
from deconv.io import tiles
from tests.conftest import chrome_driver
from tests.explorer.conftest import SIZE, decode, png_bytes

LAYER, UNIT = "conv3_1", 12


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for the module."""
    driver = chrome_driver("1200,900")
    yield driver
    driver.quit()


def _wait(browser, script, *args, timeout=30):
    return WebDriverWait(browser, timeout).until(
        lambda driver: driver.execute_script(script, *args))


def _shown(browser, key):
    """The projection's pixels once the page shows projection `key`."""
    _wait(browser, "const i = document.getElementById('projection'); return i.dataset.key === "
                   "arguments[0] && i.complete && i.naturalWidth > 0", key)
    return decode(browser.find_element("id", "projection").get_attribute("src"))


@pytest.fixture(scope="module")
def page(browser, served, photo_file):
    """The page with the photo uploaded through its file input and conv3_1's grid shown."""
    browser.get(served + "/")
    _wait(browser, "return document.body.dataset.ready === 'true'")
    chooser = browser.find_element("id", "file")
    browser.execute_script("arguments[0].style.display = 'block'", chooser)  # inside a label
    chooser.send_keys(photo_file)
    _wait(browser, "const i = document.getElementById('input'); return i.complete && "
                   "i.naturalWidth > 0 && document.getElementById('grid').dataset.state === "
                   "'loaded'")
    Select(browser.find_element("id", "layer")).select_by_value(LAYER)
    _wait(browser, f"return document.getElementById('grid').dataset.layer === '{LAYER}' && "
                   f"document.querySelectorAll('#grid .cell').length === 256")
    return browser


def _click(browser, element):
    """Clicks `element` in the middle of the window (not under the sticky header)."""
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
    element.click()


def _click_cell(browser, unit):
    _click(browser, browser.find_element("css selector", f'.cell[data-unit="{unit}"]'))


def test_clicking_a_map_shows_the_library_projection_and_its_receptive_field(page, net16,
                                                                             photo):
    _click_cell(page, UNIT)
    shown = _shown(page, f"{LAYER}/{UNIT}/deconvnet/activation/max")
    oracle = net16.project_details(photo[None], LAYER, UNIT)
    np.testing.assert_array_equal(shown, deconv.to_uint8(oracle.reconstructions[0]))
    box = deconv.receptive_field(net16, LAYER, tuple(oracle.positions[0]), (SIZE, SIZE))
    assert page.find_element("id", "rf").get_attribute("data-box") == ",".join(map(str, box))
    effective = tiles.effective_box(oracle.reconstructions[0])
    assert page.find_element("id", "erf").get_attribute("data-box") == ",".join(
        map(str, effective))
    drawn = page.execute_script("""
        const frame = document.getElementById('input-frame').getBoundingClientRect();
        const box = document.getElementById('rf').getBoundingClientRect();
        return [box.top - frame.top, box.left - frame.left, box.bottom - frame.top,
                box.right - frame.left, frame.width];""")
    assert drawn[:4] == pytest.approx([side * drawn[4] / SIZE for side in box], abs=1.5)
    assert "selected" in page.find_element(
        "css selector", f'.cell[data-unit="{UNIT}"]').get_attribute("class")


def test_clicking_a_position_in_the_map_projects_that_position(page, net16, photo):
    _click_cell(page, UNIT)
    _shown(page, f"{LAYER}/{UNIT}/deconvnet/activation/max")
    frame = page.find_element("id", "map-frame")
    page.execute_script("arguments[0].scrollIntoView({block: 'center'})", frame)  # actions
    width = frame.size["width"]                                                 # do not scroll
    y, x = 2, 5
    cell = width / 8  # conv3_1's maps are 8 x 8 in a square frame
    ActionChains(page).move_to_element_with_offset(
        frame, int((x + 0.5) * cell - width / 2), int((y + 0.5) * cell - width / 2)).click().perform()
    shown = _shown(page, f"{LAYER}/{UNIT}/deconvnet/activation/{y},{x}")
    np.testing.assert_array_equal(shown, deconv.to_uint8(
        net16.project(photo[None], LAYER, UNIT, [(y, x)]))[0])


def test_the_rule_and_whole_map_toggles(page, explorer, photo):
    _click_cell(page, UNIT)
    page.find_element("css selector", 'input[name="rule"][value="guided"]').click()
    guided = explorer.nets["guided"]
    shown = _shown(page, f"{LAYER}/{UNIT}/guided/activation/max")
    np.testing.assert_array_equal(shown, deconv.to_uint8(
        guided.project(photo[None], LAYER, UNIT))[0])
    page.find_element("id", "whole").click()
    shown = _shown(page, f"{LAYER}/{UNIT}/guided/maps/max")
    np.testing.assert_array_equal(shown, deconv.to_uint8(
        guided.project(photo[None], LAYER, UNIT, mode="maps"))[0])
    assert not page.find_element("id", "rf").is_displayed()
    page.find_element("id", "whole").click()
    page.find_element("css selector", 'input[name="rule"][value="deconvnet"]').click()
    _shown(page, f"{LAYER}/{UNIT}/deconvnet/activation/max")


def test_the_grid_orders_by_id_or_strength(page, explorer, photo):
    grid = explorer.map_grid(explorer.add_image(png_bytes(photo))[0], LAYER)
    order = "return Array.from(document.querySelectorAll('#grid .cell'), c => +c.dataset.unit)"
    assert page.execute_script(order) == list(range(256))
    page.find_element("css selector", 'input[name="order"][value="strength"]').click()
    assert page.execute_script(order) == sorted(range(256),
                                                key=lambda u: (-grid.strength[u], u))
    page.find_element("css selector", 'input[name="order"][value="id"]').click()
    assert page.execute_script("return document.querySelector('#grid .cell')"
                               ".style.backgroundImage").startswith('url("/api/maps.png?')


def test_the_atlas_strip_shows_beside_the_projection(page, fake_atlas):
    _click_cell(page, 200)
    _wait(page, "const a = document.getElementById('atlas'); const i = "
                "document.getElementById('atlas-strip'); return !a.hidden && a.dataset.unit === "
                "'200' && i.complete && i.naturalWidth > 0")
    assert page.find_element("id", "atlas-strip").get_attribute("src").endswith(
        "/atlas/units/conv3_1/200.jpg")
    # The feature visualization beside the natural top-k, with its ratio to the top-1.
    _wait(page, "const i = document.getElementById('atlas-maximized-img'); return "
                "!document.getElementById('atlas-maximized').hidden && i.complete && "
                "i.naturalWidth > 0")
    assert page.find_element("id", "atlas-maximized-img").get_attribute("src").endswith(
        "/atlas/maximized/conv3_1/200.png")
    assert page.find_element("id", "atlas-maximized-caption").text == (
        "fourier, 512 steps: 3.00× the top-1 natural activation")
    assert page.find_element("id", "atlas-strip").is_displayed()
    entries = fake_atlas[1]["layers"][0]["top"][200]
    items = page.find_elements("css selector", "#atlas-entries li")
    assert [item.text.split(" \u2014 ")[0] for item in items] == [
        f"{rank}. {e['image']}" for rank, e in enumerate(entries, 1)]


def test_the_occlusion_heat_map_with_progress(page):
    _click_cell(page, UNIT)
    _click(page, page.find_element("id", "occlude"))
    _wait(page, "const i = document.getElementById('occlusion-img'); return !i.hidden && "
                "i.complete && i.naturalWidth > 0")
    assert page.find_element("id", "occlusion-progress").get_attribute("max") == "196"
    assert "Total of map 12" in page.find_element("id", "occlusion-caption").text


def test_dropping_an_image_and_choosing_an_example(page, served):
    noise = np.random.default_rng(7).integers(0, 256, (24, 40, 3), np.uint8)
    page.execute_script("""
        const bytes = Uint8Array.from(atob(arguments[0]), c => c.charCodeAt(0));
        const files = new DataTransfer();
        files.items.add(new File([bytes], 'noise.png', {type: 'image/png'}));
        document.body.dispatchEvent(new DragEvent('drop', {dataTransfer: files, bubbles: true,
                                                           cancelable: true}));""",
                        base64.b64encode(png_bytes(noise)).decode())
    _wait(page, "return document.getElementById('input-caption').textContent.includes('40')")
    assert page.find_element("id", "projection").get_attribute("src") is None
    _click(page, page.find_element("css selector", '[data-example="astronaut.png"]'))
    _wait(page, "return document.getElementById('input-caption').textContent.includes("
                "'32\u00d732 px')")
    _wait(page, f"return document.getElementById('grid').dataset.layer === '{LAYER}'")


def test_bad_files_say_why_and_the_page_logs_no_errors(page, tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("not a picture")
    chooser = page.find_element("id", "file")
    chooser.send_keys(str(text))
    _wait(page, "return !document.getElementById('message').hidden")
    assert page.find_element("id", "message").text == (
        "notes.png: Not a usable image: not an image Pillow can identify.")
    severe = [entry for entry in page.get_log("browser") if entry["level"] == "SEVERE"
              and "/api/images" not in entry["message"]]  # the 400 of the bad file
    assert severe == []


def test_what_the_user_sees_issue23(page, fake_atlas, tmp_path):
    """Issue 23, item 7, seen in Chromium (screenshots in the test's folder): the atlas's entries
    each with its rank, apart; a layer's graphs prepared in the background when it is opened,
    the page saying so; the atlas index's long model file inside its card. Last in the module:
    it leaves the explorer's page."""
    _click_cell(page, 200)
    _wait(page, "const a = document.getElementById('atlas'); return !a.hidden && "
                "a.dataset.unit === '200' && document.querySelectorAll('#atlas-entries li')"
                ".length > 0")
    page.find_element("id", "atlas").screenshot(str(tmp_path / "atlas_entries.png"))
    boxes = page.execute_script("""return Array.from(document.querySelectorAll(
        '#atlas-entries li'), li => { const r = li.getBoundingClientRect();
        return [li.innerText, r.left, r.right, r.top, r.bottom]; });""")
    for rank, (text, *_) in enumerate(boxes, 1):
        assert text.startswith(f"{rank}."), boxes
    for (_, _, right, top, _), (_, left, _, next_top, _) in zip(boxes, boxes[1:]):
        assert next_top > top or left - right >= 10, boxes  # apart on a line, or below
    # A cold layer is prepared when opened; the page says so until it is ready.
    Select(page.find_element("id", "layer")).select_by_value("conv5_2")
    _wait(page, "const p = document.getElementById('preparing'); return p.dataset.layer === "
                "'conv5_2' && p.dataset.state === 'preparing' && !p.hidden")
    assert page.find_element("id", "preparing").text.startswith("Preparing conv5_2's projections")
    page.save_screenshot(str(tmp_path / "preparing.png"))
    _wait(page, "const p = document.getElementById('preparing'); return p.dataset.state === "
                "'ready' && p.hidden", timeout=120)
    # The atlas index: a long model file and name stay inside their card.
    import json
    import os

    from deconv.unit_atlas import site
    folder, _ = fake_atlas
    atlas = json.load(open(os.path.join(folder, "atlas.json")))
    long_path = "/models/" + "a_rather_long_folder_name/" * 4 + "my_classifier.keras"
    atlas["model"]["name"] = long_path
    atlas["weights"]["model_file"] = {"path": long_path, "bytes": 28684, "sha256": "d2" * 32}
    out = tmp_path / "site"
    shutil.copytree(folder, out)
    site.write_site(str(out), atlas)
    page.get((out / "index.html").as_uri())
    _wait(page, "return document.readyState === 'complete'")
    page.save_screenshot(str(tmp_path / "atlas_index.png"))
    outside = page.execute_script("""
        const found = [];
        for (const card of document.querySelectorAll('.card')) {
          const box = card.getBoundingClientRect();
          for (const cell of card.querySelectorAll('td, th, h2')) {
            const r = cell.getBoundingClientRect();
            if (r.right > box.right + 0.5 || r.left < box.left - 0.5) found.push(cell.innerText);
          }
        }
        const title = document.querySelector('h1').getBoundingClientRect();
        if (title.right > document.documentElement.clientWidth) found.push('h1');
        return found;""")
    assert outside == []
