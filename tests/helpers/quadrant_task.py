"""A synthetic task whose answer lies in one quadrant: class 1 has a bright square somewhere in
the top-left quadrant, class 0 has none there; bright squares elsewhere are distractors. A tiny
CNN with a softmax classifier learns it in a few seconds."""
import keras
import numpy as np

SIDE = 32
HALF = SIDE // 2
SQUARE = 6


def images(count, seed, classes=None):
    """`(images (count, 32, 32, 3) float32 in [0, 255], labels (count,))`: textured noise, one
    distractor square outside the top-left quadrant, and for class 1 a square inside it."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, count) if classes is None else np.asarray(classes)
    pixels = rng.uniform(40, 140, (count, SIDE, SIDE, 3))
    for image, label in zip(pixels, labels):
        y, x = rng.integers(0, SIDE - SQUARE, 2)
        while y < HALF and x < HALF:  # the distractor stays out of the top-left quadrant
            y, x = rng.integers(0, SIDE - SQUARE, 2)
        image[y:y + SQUARE, x:x + SQUARE] = 250
        if label:
            y, x = rng.integers(0, HALF - SQUARE, 2)
            image[y:y + SQUARE, x:x + SQUARE] = 250
    return pixels.astype(np.float32), labels


def truth(count):
    """The true saliency: 1 over the top-left quadrant, 0 elsewhere, `(count, 32, 32)`."""
    maps = np.zeros((count, SIDE, SIDE), np.float32)
    maps[:, :HALF, :HALF] = 1
    return maps


def model(seed=0, epochs=6):
    """The tiny CNN (block1: conv, pool; block2: conv, pool; fc1; predictions), trained on 512
    images with inputs scaled to [0, 1] (`unit` preprocessing)."""
    keras.utils.set_random_seed(seed)
    built = keras.Sequential([
        keras.Input((SIDE, SIDE, 3)),
        keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="block1_conv1"),
        keras.layers.MaxPooling2D(2, name="block1_pool"),
        keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="block2_conv1"),
        keras.layers.MaxPooling2D(2, name="block2_pool"),
        keras.layers.Flatten(name="flatten"),
        keras.layers.Dense(16, activation="relu", name="fc1"),
        keras.layers.Dense(2, activation="softmax", name="predictions")], name="quadrant")
    built.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    pixels, labels = images(512, seed)
    built.fit(pixels / 255, labels, epochs=epochs, batch_size=32, verbose=0)
    return built
