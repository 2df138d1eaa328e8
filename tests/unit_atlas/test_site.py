"""The unit atlas's static site: the files `write_site` writes, escaping, and (in headless
Chromium, over file:// URLs) the pages' behaviour: every layer and unit shown, every image
loaded, lazy sprite sheets, permalinks, search, prev/next, the back button and the hover box."""
import json
import os
import re

import pytest
from selenium.webdriver import ActionChains
from selenium.webdriver.common.keys import Keys

from deconv.unit_atlas import site
from tests.conftest import chrome_driver
from tests.helpers.fake_atlas import SILENT_UNIT, make_fake_atlas

LAYERS = (("conv1_1", 4), ("conv2_1", 300))  # conv2_1: 3 sprite sheets of 100


def _embedded(page):
    """The JSON a page embeds (`#atlas-data`)."""
    found = re.search(r'<script type="application/json" id=atlas-data>(.*?)</script>', page,
                      re.DOTALL)
    return json.loads(found.group(1))


def _read(path):
    with open(path, encoding="utf-8") as stream:
        return stream.read()


@pytest.fixture(scope="module")
def atlas_dir(tmp_path_factory):
    """`(folder, atlas)`: a fake atlas with its site written."""
    folder = tmp_path_factory.mktemp("atlas")
    atlas = make_fake_atlas(str(folder), layers=LAYERS)
    site.write_site(str(folder), atlas)
    return str(folder), atlas


def test_write_site_writes_the_pages_and_the_assets(atlas_dir):
    folder, atlas = atlas_dir
    assert site.write_site(folder, atlas) == os.path.join(folder, "index.html")  # again: same
    for name in ("index.html", "conv1_1.html", "conv2_1.html", "site/atlas.css", "site/atlas.js"):
        assert os.path.isfile(os.path.join(folder, name)), name
    assert _read(os.path.join(folder, "site", "atlas.js")) == _read(
        os.path.join(site.STATIC, "atlas.js"))
    assert not [name for name in os.listdir(folder) if name.endswith(".part")]
    index = _read(os.path.join(folder, "index.html"))
    assert 'href="conv1_1.html"' in index and 'href="conv2_1.html"' in index
    assert "/data/images/bad.jpg" in index and "not an image" in index and "6d6bbae143d8" in index
    assert index.count('class="cell') == 4 + site.PREVIEW_UNITS
    # every page can search every layer; only a layer's own page embeds its units' entries
    assert _embedded(index) == {"page": "index", "layers": [
        {"name": "conv1_1", "keras": "block1_conv1", "units": 4, "page": "conv1_1.html"},
        {"name": "conv2_1", "keras": "block2_conv1", "units": 300, "page": "conv2_1.html"}]}
    page = _read(os.path.join(folder, "conv2_1.html"))
    assert page.count('class="cell') == 300 and page.count('class="cell silent"') == 1
    data = _embedded(page)
    assert data["layer"]["name"] == "conv2_1" and len(data["top"]) == 300
    entry = atlas["layers"][1]["top"][250][1]
    value, image, source, y, x, *box = data["top"][250][1]
    assert (value, data["images"][image], source, [y, x], box) == (
        entry["value"], entry["image"], entry["source"], entry["position"], entry["box"])
    assert len(data["top"][2]) == 2  # a unit with fewer entries than `top`


def test_strings_from_the_atlas_are_escaped(tmp_path):
    atlas = make_fake_atlas(str(tmp_path), layers=(("conv1_1", 3),), sources=2,
                            maximize=False)
    evil = '<script>alert("x")</script>&'
    atlas["model"]["name"] = evil
    atlas["dataset"]["skipped"][0]["reason"] = evil
    atlas["layers"][0]["keras_layer"] = "block<1>"
    atlas["layers"][0]["top"][0][0]["image"] = "cats/" + evil + ".jpg"
    site.write_site(str(tmp_path), atlas)
    for name in ("index.html", "conv1_1.html"):
        page = _read(tmp_path / name)
        assert "<script>alert" not in page and "block<1>" not in page, name
        assert page.count("</script>") == 2, name  # the data's and the script's own
    index = _read(tmp_path / "index.html")
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;" in index
    data = _embedded(_read(tmp_path / "conv1_1.html"))
    assert data["images"][data["top"][0][0][1]] == "cats/" + evil + ".jpg"
    assert data["layer"]["keras"] == "block<1>"


# In headless Chromium, over file:// URLs.

@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for the module."""
    driver = chrome_driver("900,450")
    yield driver
    driver.quit()


def _open(browser, folder, page):
    """Loads `page` afresh (a new document, even if only the hash differs)."""
    browser.get("about:blank")
    browser.get(f"file://{folder}/{page}")
    _wait(browser, "return document.readyState === 'complete'")


def _wait(browser, script, timeout=10):
    from selenium.webdriver.support.ui import WebDriverWait
    return WebDriverWait(browser, timeout).until(lambda driver: driver.execute_script(script))


def _loads(browser, urls):
    """Whether each url (relative to the page) loads as an image, tried in the page."""
    return browser.execute_async_script("""
        const [urls, done] = arguments;
        Promise.all(urls.map(url => new Promise(resolve => {
          const probe = new Image();
          probe.onload = () => resolve(probe.naturalWidth > 0);
          probe.onerror = () => resolve(false);
          probe.src = url;
        }))).then(done);""", urls)


_ORDER = "return Array.from(document.querySelectorAll('#grid .cell'), c => +c.dataset.unit)"

_SHEETS = """
    return Array.from(document.querySelectorAll('.sprites')).flatMap(scope =>
      JSON.parse(scope.dataset.sprites).map((url, n) =>
        scope.style.getPropertyValue('--sheet-' + n) ? url : null));"""

_BACKGROUNDS = """
    return Array.from(document.querySelectorAll('#grid .sprite'), sprite =>
      getComputedStyle(sprite).backgroundImage.replace(/.*\\/sprites\\/(.*)"\\)$/, '$1'));"""


def _title(browser):
    return browser.find_element("id", "unit-title").text


def test_index_lists_every_layer_with_previews_that_load(browser, atlas_dir):
    folder, _ = atlas_dir
    _open(browser, folder, "index.html")
    rows = browser.find_elements("css selector", "table.layers tbody tr")
    assert [row.find_element("css selector", "a.layer").text for row in rows] == [
        "conv1_1", "conv2_1"]
    assert "block2_conv1" in rows[1].text and "300" in rows[1].text
    previews = browser.find_elements("css selector", "table.layers tbody tr:nth-child(2) .cell")
    assert [cell.text for cell in previews][:3] == ["0", "37", "74"]  # strongest first
    assert previews[0].get_attribute("href").endswith("conv2_1.html#unit-0")
    browser.execute_script("document.querySelector('table.layers').scrollIntoView()")
    sheets = _wait(browser, _SHEETS.replace("return", "const s =", 1) + ";"
                   " return s.every(Boolean) && s;")
    assert _loads(browser, sheets) == [True] * len(sheets)
    assert browser.find_element("css selector", "details summary").text == "1 file skipped"


def test_layer_page_renders_every_unit_and_loads_sheets_lazily(browser, atlas_dir):
    folder, _ = atlas_dir
    _open(browser, folder, "conv2_1.html")
    assert browser.execute_script(_ORDER) == list(range(300))
    last_sheet_top = browser.execute_script(
        "return document.querySelector('.cell[data-unit=\"200\"]').getBoundingClientRect().top"
        " - innerHeight")
    assert last_sheet_top > 400  # far below the fold: its sheet must not be loaded yet
    _wait(browser, "return document.getElementById('grid').style.getPropertyValue('--sheet-0')")
    assert browser.execute_script(_SHEETS)[2] is None
    assert browser.execute_script(_BACKGROUNDS)[200:] == ["none"] * 100
    for unit in (100, 200, 299):  # scroll through
        browser.execute_script(f"document.querySelector('.cell[data-unit=\"{unit}\"]')"
                               ".scrollIntoView()")
    sheets = _wait(browser, _SHEETS.replace("return", "const s =", 1) + ";"
                   " return s.every(Boolean) && s;")
    assert sheets == [f"sprites/conv2_1_{n}.jpg" for n in range(3)]
    assert _loads(browser, sheets) == [True] * 3
    assert browser.execute_script(_BACKGROUNDS) == [  # three images, not one per unit
        f"conv2_1_{unit // 100}.jpg" for unit in range(300)]
    assert browser.execute_script(
        "return Array.from(document.images).every(i => !i.src || (i.complete && i.naturalWidth))")
    silent = browser.find_element("css selector", f'.cell[data-unit="{SILENT_UNIT}"]')
    assert "silent" in silent.get_attribute("class") and "off" in silent.text


def test_sorting_by_top_value(browser, atlas_dir):
    folder, atlas = atlas_dir
    _open(browser, folder, "conv2_1.html")
    browser.find_element("css selector", "[data-sort=top]").click()
    top = atlas["layers"][1]["top"]
    assert browser.execute_script(_ORDER) == sorted(
        range(300), key=lambda unit: (-top[unit][0]["value"], unit))
    browser.find_element("css selector", "[data-sort=id]").click()
    assert browser.execute_script(_ORDER) == list(range(300))


def test_a_permalink_opens_its_unit(browser, atlas_dir):
    folder, atlas = atlas_dir
    _open(browser, folder, "conv2_1.html#unit-250")
    assert _title(browser) == "Unit 250"
    assert not browser.find_element("id", "grid-view").is_displayed()
    _wait(browser, "return document.getElementById('unit-view').dataset.strip === 'loaded'")
    tiles = browser.find_elements("css selector", "#entries .tile")
    assert len(tiles) == 2 * 3
    assert "units/conv2_1/250.jpg" in tiles[0].value_of_css_property("background-image")
    assert _wait(browser, "const i = document.querySelector('#maximized img'); return "
                          "i.complete && i.naturalWidth > 0 && i.src")
    assert browser.find_element("css selector", "#maximized img").get_attribute(
        "src").endswith("maximized/conv2_1/250.png")
    # Beside the natural top-k, with how strongly it drives the unit against the top-1.
    assert browser.find_element("id", "maximized-caption").text == (
        "feature visualization (fourier, 512 steps): activation 3.50× the top-1 natural one")
    assert browser.find_element("id", "entries").is_displayed()
    entry = atlas["layers"][1]["top"][250][0]
    assert entry["image"] in browser.find_element("id", "entries").text


def test_search_jumps_to_units_and_layers(browser, atlas_dir):
    folder, _ = atlas_dir
    _open(browser, folder, "index.html")
    browser.find_element("id", "search-box").send_keys("conv2_1/7" + Keys.ENTER)
    _wait(browser, "return location.href.endsWith('conv2_1.html#unit-7')")
    _wait(browser, "return document.getElementById('unit-title').textContent === 'Unit 7'")
    box = browser.find_element("id", "search-box")
    box.send_keys("block2_conv1 9" + Keys.ENTER)  # a Keras name, on the layer's own page
    _wait(browser, "return location.hash === '#unit-9'")
    assert _title(browser) == "Unit 9"
    box.clear()
    box.send_keys("CONV1_1" + Keys.ENTER)
    _wait(browser, "return location.pathname.endsWith('conv1_1.html')")
    assert len(browser.find_elements("css selector", "#grid .cell")) == 4


def test_bad_searches_and_permalinks_say_what_is_valid(browser, atlas_dir):
    folder, _ = atlas_dir
    _open(browser, folder, "conv2_1.html")
    box, message = (browser.find_element("id", name) for name in ("search-box",
                                                                  "search-message"))
    assert not message.is_displayed()
    box.send_keys("conv9_9/1" + Keys.ENTER)
    assert message.text.startswith("No layer named \u201cconv9_9\u201d. Layers: conv1_1, conv2_1")
    box.clear()
    box.send_keys("conv2_1/300" + Keys.ENTER)
    assert message.text == "conv2_1 has 300 units: 0 to 299."
    assert browser.current_url.endswith("conv2_1.html")
    _open(browser, folder, "conv1_1.html#unit-4")
    assert browser.find_element("id", "search-message").text == "conv1_1 has 4 units: 0 to 3."
    assert browser.find_element("id", "grid-view").is_displayed()


def test_prev_next_keys_and_the_back_button(browser, atlas_dir):
    folder, _ = atlas_dir
    _open(browser, folder, "conv2_1.html#unit-250")
    browser.find_element("id", "next").click()
    _wait(browser, "return location.hash === '#unit-251'")
    assert _title(browser) == "Unit 251"
    body = browser.find_element("tag name", "body")
    body.send_keys(Keys.ARROW_LEFT)
    body.send_keys(Keys.ARROW_LEFT)
    _wait(browser, "return location.hash === '#unit-249'")
    browser.back()
    _wait(browser, "return location.hash === '#unit-250'")
    assert _title(browser) == "Unit 250"
    browser.find_element("id", "to-grid").click()
    _wait(browser, "return !document.getElementById('grid-view').hidden")
    assert not browser.find_element("id", "unit-view").is_displayed()
    _open(browser, folder, "conv2_1.html#unit-0")
    assert not browser.find_element("id", "prev").is_enabled()


def test_hovering_an_entry_shows_its_source_with_the_box(browser, atlas_dir):
    folder, atlas = atlas_dir
    _open(browser, folder, "conv2_1.html#unit-250")
    entry = atlas["layers"][1]["top"][250][1]
    ActionChains(browser).move_to_element(
        browser.find_elements("css selector", "#entries li")[1]).perform()
    _wait(browser, "const i = document.getElementById('source-img'); "
                   "return i.complete && i.naturalWidth > 0")
    image = browser.find_element("id", "source-img")
    assert image.get_attribute("src").endswith(f"sources/{entry['source']}.jpg")
    shown = browser.execute_script("""
        const image = document.getElementById('source-img').getBoundingClientRect();
        const box = document.getElementById('source-box').getBoundingClientRect();
        return [box.top - image.top, box.left - image.left, box.bottom - image.top,
                box.right - image.left, image.width];""")
    scale = shown[4] / atlas["settings"]["size"]
    assert shown[:4] == pytest.approx([side * scale for side in entry["box"]], abs=1)
    assert entry["image"] in browser.find_element("id", "source-caption").text


def test_the_pages_log_no_errors(browser, atlas_dir):
    folder, _ = atlas_dir
    for page in ("index.html", "conv1_1.html#unit-3", "conv2_1.html"):
        _open(browser, folder, page)
    assert [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"] == []


def test_a_real_atlas_renders_with_every_image_loaded(browser, atlas):
    """The pipeline's own output (`tests.conftest`): the index, a layer page and a
    unit view render, and every image they show loads."""
    folder, outcome = atlas
    _open(browser, folder, "index.html")
    assert [a.text for a in browser.find_elements("css selector", "a.layer")] == [
        "conv1_2", "conv3_1"]
    _open(browser, folder, "conv3_1.html")
    assert browser.execute_script(_ORDER) == list(range(256))
    browser.execute_script("document.querySelector('.cell[data-unit=\"255\"]')"
                           ".scrollIntoView()")
    sheets = _wait(browser, _SHEETS.replace("return", "const s =", 1) + ";"
                   " return s.every(Boolean) && s;")
    assert sheets == ["sprites/conv3_1_0.jpg"] and _loads(browser, sheets) == [True]
    cell = browser.find_element("css selector", '.cell[data-unit="100"]')
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", cell)
    cell.click()
    _wait(browser, "return location.hash === '#unit-100'")
    _wait(browser, "return document.getElementById('unit-view').dataset.strip === 'loaded'")
    entries = outcome.atlas["layers"][1]["top"][100]
    for number, entry in enumerate(entries):
        ActionChains(browser).move_to_element(
            browser.find_elements("css selector", "#entries li")[number]).perform()
        _wait(browser, f"const i = document.getElementById('source-img'); return i.complete && "
                       f"i.naturalWidth > 0 && i.src.endsWith('sources/{entry['source']}.jpg')")
    assert _loads(browser, [f"units/conv3_1/{unit}.jpg" for unit in range(256)]) == [True] * 256
    assert [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"] == []
