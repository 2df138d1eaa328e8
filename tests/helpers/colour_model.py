"""A hand-set one-layer CNN whose maps respond to colours, and folders of red and blue images.

Map 0 is `relu((R - G - B) / 255)` (red), map 1 `relu((B - R - G) / 255)` (blue), map 2
`relu((G - R - B) / 255)` (green), map 3 a constant 0.05 (its bias), map 4 always zero; a 2x2
max-pool follows, so the pooled maps are half the image's size.
"""
import keras
import numpy as np
from PIL import Image

RED, BLUE, GREEN, CONSTANT, DEAD = range(5)


def colour_model():
    model = keras.Sequential([keras.Input((None, None, 3)),
                              keras.layers.Conv2D(5, 1, activation="relu", name="colours"),
                              keras.layers.MaxPooling2D(2, name="pooled")], name="colours")
    kernel = np.zeros((1, 1, 3, 5), np.float32)
    kernel[0, 0, :, RED] = [1, -1, -1]
    kernel[0, 0, :, BLUE] = [-1, -1, 1]
    kernel[0, 0, :, GREEN] = [-1, 1, -1]
    bias = np.zeros(5, np.float32)
    bias[CONSTANT] = 0.05
    model.get_layer("colours").set_weights([kernel / 255, bias])
    return model


def by_hand(images):
    """The `colours` layer's maps `(N, H, W, 5)` computed with NumPy."""
    images = np.asarray(images, np.float64) / 255
    r, g, b = images[..., 0], images[..., 1], images[..., 2]
    maps = np.stack([r - g - b, b - r - g, g - r - b, np.full_like(r, 0.05), np.zeros_like(r)],
                    axis=-1)
    return np.maximum(maps, 0)


def tinted(rng, main, size=(16, 16)):
    """A mostly `main`-coloured image (channel index) with noise in every channel."""
    pixels = rng.integers(0, 70, (*size, 3))
    pixels[..., main] = rng.integers(170, 256, size)
    return pixels.astype(np.uint8)


def make_folder(root, red=4, blue=3, seed=0):
    """`root/red` and `root/blue` images, bad files in `root/red`, a text file, and one image
    directly in `root`. Returns `{name: pixels}` of the good class images."""
    rng = np.random.default_rng(seed)
    written = {}
    for name, channel, count in (("red", 0, red), ("blue", 2, blue)):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            pixels = tinted(rng, channel)
            Image.fromarray(pixels).save(root / name / f"{name}{i}.png")
            written[f"{name}/{name}{i}.png"] = pixels
    (root / "red" / "empty.jpg").write_bytes(b"")
    (root / "red" / "text.png").write_text("not a picture")
    (root / "red" / "cut.png").write_bytes((root / "red" / "red0.png").read_bytes()[:120])
    (root / "notes.txt").write_text("left out by extension")
    Image.fromarray(tinted(rng, 1)).save(root / "loose.png")
    return written
