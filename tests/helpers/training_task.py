"""A tiny CNN and a synthetic task on which its feature maps change as it trains: at the start
(kernels made positive) both maps of `c2` respond most to the bright gray image; trained to find
red, they respond most to a red image."""
import keras
import numpy as np
from PIL import Image

SIDE = 12
NAMES = ("gray", "red0", "red1", "green", "blue", "noise")  # the order of `images()`
TARGETS = np.array([0, 1, 1, 0, 0, 0], np.float32)  # red or not


def images():
    """The six 12x12 RGB images, float32 in [0, 255] with integer values."""
    red = []
    for k in range(2):
        pixels = np.zeros((SIDE, SIDE, 3))
        pixels[2 + 4 * k:6 + 4 * k, 3:9, 0] = 255
        red.append(pixels)
    noise = np.random.default_rng(0).integers(0, 256, (SIDE, SIDE, 3))
    stack = [np.full((SIDE, SIDE, 3), 220.0), *red, np.zeros((SIDE, SIDE, 3)) + [0, 200, 0],
             np.zeros((SIDE, SIDE, 3)) + [0, 0, 200], noise]
    return np.stack(stack).astype(np.float32)


def save_folder(folder):
    """Writes `images()` as PNG files named after `NAMES`; returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, pixels in zip(NAMES, images()):
        Image.fromarray(pixels.astype(np.uint8)).save(folder / f"{name}.png")
    return folder


def model(seed=0):
    """c1 (3 maps) -> p1 -> c2 (2 maps) -> global max -> one output; trained on x / 255."""
    keras.utils.set_random_seed(seed)
    built = keras.Sequential([
        keras.Input((SIDE, SIDE, 3)),
        keras.layers.Conv2D(3, 3, padding="same", activation="relu", name="c1"),
        keras.layers.MaxPooling2D(2, name="p1"),
        keras.layers.Conv2D(2, 3, padding="same", activation="relu", name="c2"),
        keras.layers.GlobalMaxPooling2D(name="g"),
        keras.layers.Dense(1, name="head")], name="tiny")
    for name in ("c1", "c2"):
        kernel, bias = built.get_layer(name).get_weights()
        built.get_layer(name).set_weights([np.abs(kernel) * 0.5, bias])
    built.get_layer("head").set_weights([np.full((2, 1), 0.05, np.float32),
                                         np.zeros(1, np.float32)])
    built.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    return built


def train(built, epochs, callbacks=()):
    """Full-batch training on the task, in a fixed order."""
    built.fit(images() / 255, TARGETS, epochs=epochs, batch_size=len(TARGETS), shuffle=False,
              verbose=0, callbacks=list(callbacks))


def checkpoints(folder, model_=None, callbacks=()):
    """Trains `model_` (default: a new `model()`) for 30 epochs, saving checkpoints in `folder`
    after epochs 0, 3 (weights files) and 30 (a whole `.keras` model); returns the model."""
    built = model_ if model_ is not None else model()
    folder.mkdir(parents=True, exist_ok=True)
    built.save_weights(folder / "epoch_00.weights.h5")

    def save(epoch, logs):
        if epoch + 1 == 3:
            built.save_weights(folder / "epoch_03.weights.h5")
        elif epoch + 1 == 30:
            built.save(folder / "epoch_30.keras")

    train(built, 30, [keras.callbacks.LambdaCallback(on_epoch_end=save), *callbacks])
    return built


EPOCHS = (0, 3, 30)  # the checkpoints and the callback's snapshots


def trained(root):
    """`(folder, checkpoints, callback, model path)` under `root`: the images as files;
    checkpoints after epochs 0, 3 and 30 (the last a whole `.keras` model); the
    `EvolutionCallback` of the training; the trained classifier saved (the `trained_task`
    fixture of `tests.conftest` trains once per session)."""
    from deconv.analysis import evolution_callback
    folder = save_folder(root / "images")
    callback = evolution_callback.EvolutionCallback(
        images(), ["c1", "c2"], [0, 1], every=EPOCHS, out=str(root / "callback"),
        log_dir=str(root / "logs"), preprocessing="unit")
    checkpoints(root / "checkpoints", callbacks=[callback]).save(root / "tiny.keras")
    return folder, root / "checkpoints", callback, root / "tiny.keras"
