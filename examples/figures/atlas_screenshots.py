"""Screenshots of a unit atlas's site in headless Chromium (Selenium with Debian's chromedriver):
a layer page and a unit view with its source image hovered.

    python examples/figures/atlas_screenshots.py ATLAS_DIR LAYER UNIT OUT_DIR [PREFIX]

writes OUT_DIR/PREFIXlayer.png and OUT_DIR/PREFIXunit.png (PREFIX: `atlas_`).
"""
import os
import shutil
import sys
import time

from PIL import Image
from selenium import webdriver
from selenium.webdriver import ActionChains
from selenium.webdriver.chrome.service import Service


def main(atlas, layer, unit, out, prefix="atlas_"):
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or shutil.which("chromium-browser")
    for argument in ("--headless", "--no-sandbox", "--disable-gpu", "--window-size=1280,860",
                     "--hide-scrollbars"):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(
        shutil.which("chromedriver") or "/usr/bin/chromedriver"))
    try:
        folder = os.path.abspath(atlas)
        driver.get(f"file://{folder}/{layer}.html")
        time.sleep(1.5)
        driver.save_screenshot(os.path.join(out, f"{prefix}layer.png"))
        driver.get("about:blank")
        driver.get(f"file://{folder}/{layer}.html#unit-{unit}")
        time.sleep(1.5)
        ActionChains(driver).move_to_element(
            driver.find_elements("css selector", "#entries li")[0]).perform()
        time.sleep(1.0)
        driver.save_screenshot(os.path.join(out, f"{prefix}unit.png"))
    finally:
        driver.quit()
    for name in (f"{prefix}layer.png", f"{prefix}unit.png"):  # 256 colours: a third of the bytes
        path = os.path.join(out, name)
        Image.open(path).convert("RGB").quantize(
            colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
                path, optimize=True)


if __name__ == "__main__":
    main(*sys.argv[1:6])
