"""Data for the README figures of the paper's other analyses (evolution, invariance,
correspondence), all made offline:

    python examples/figures/paper_data.py shapes OUT   # a small CNN trained here, checkpoints
    python examples/figures/paper_data.py faces OUT    # five face crops and parts.json

`shapes`: 64x64 images of one of five shapes (circle, square, triangle, cross, ring) in a random
colour, size and place over a random crop of a scikit-image photo; a 4-conv-layer CNN trained
for 30 epochs to name the shape (about 3 minutes on 2 CPU cores). Writes OUT/shapes.keras (the
classifier), OUT/checkpoints/epoch_NN.weights.h5 after epochs 0, 1, 2, 5, 10, 20, 30, OUT/heldout/
(300 images the network never trained on, in one folder per class), OUT/callback/ (the grids
the `EvolutionCallback` drew during training) and OUT/accuracy.json.

`faces`: five of scikit-image's 25x25 LFW face crops (`skimage.data.lfw_subset`) as PNG files,
OUT/parts.json (boxes drawn by hand on them, in their 25x25 pixels, for the right eye and the
left eye (the person's: the right eye is on the image's left), the nose and the mouth) and
OUT/faces_parts.png (the boxes over the crops).
"""
import json
import os
import sys

import numpy as np
from PIL import Image
from PIL import ImageDraw

SHAPES = ("circle", "square", "triangle", "cross", "ring")
SIDE = 64
BACKGROUNDS = ("brick", "grass", "gravel", "coffee", "rocket", "astronaut", "chelsea", "coins")
EPOCHS = (0, 1, 2, 5, 10, 20, 30)


def _backgrounds():
    from skimage import data
    return [np.asarray(Image.fromarray(getattr(data, name)()).convert("RGB"))
            for name in BACKGROUNDS]


def _shape(draw, kind, box, colour):
    left, top, right, bottom = box
    if kind == "circle":
        draw.ellipse(box, fill=colour)
    elif kind == "square":
        draw.rectangle(box, fill=colour)
    elif kind == "triangle":
        draw.polygon([((left + right) / 2, top), (right, bottom), (left, bottom)], fill=colour)
    elif kind == "cross":
        third = (right - left) / 3
        draw.rectangle((left + third, top, right - third, bottom), fill=colour)
        draw.rectangle((left, top + third, right, bottom - third), fill=colour)
    else:
        draw.ellipse(box, outline=colour, width=max(3, (right - left) // 6))


def shapes(count, rng, backgrounds):
    """`(images uint8 (count, 64, 64, 3), labels)`."""
    images = np.zeros((count, SIDE, SIDE, 3), np.uint8)
    labels = rng.integers(0, len(SHAPES), count)
    for number, label in enumerate(labels):
        source = backgrounds[rng.integers(len(backgrounds))]
        y, x = rng.integers(0, source.shape[0] - SIDE), rng.integers(0, source.shape[1] - SIDE)
        picture = Image.fromarray((source[y:y + SIDE, x:x + SIDE] * 0.6 + 40).astype(np.uint8))
        size = int(rng.integers(16, 33))
        top, left = rng.integers(0, SIDE - size, 2)
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        _shape(ImageDraw.Draw(picture), SHAPES[label],
               (int(left), int(top), int(left) + size, int(top) + size), colour)
        images[number] = np.asarray(picture)
    return images, labels


def model():
    import keras
    keras.utils.set_random_seed(0)
    return keras.Sequential([
        keras.Input((SIDE, SIDE, 3)),
        keras.layers.Conv2D(16, 5, padding="same", activation="relu", name="conv1"),
        keras.layers.MaxPooling2D(2, name="pool1"),
        keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="conv2"),
        keras.layers.MaxPooling2D(2, name="pool2"),
        keras.layers.Conv2D(64, 3, padding="same", activation="relu", name="conv3"),
        keras.layers.MaxPooling2D(2, name="pool3"),
        keras.layers.Conv2D(64, 3, padding="same", activation="relu", name="conv4"),
        keras.layers.GlobalAveragePooling2D(name="gap"),
        keras.layers.Dense(len(SHAPES), activation="softmax", name="predictions")],
        name="shapes")


def train_shapes(out):
    import keras
    from deconv import EvolutionCallback
    rng = np.random.default_rng(0)
    backgrounds = _backgrounds()
    train_x, train_y = shapes(6000, rng, backgrounds)
    test_x, test_y = shapes(300, rng, backgrounds)
    for number, (image, label) in enumerate(zip(test_x, test_y)):
        folder = os.path.join(out, "heldout", SHAPES[label])
        os.makedirs(folder, exist_ok=True)
        Image.fromarray(image).save(os.path.join(folder, f"{number:03d}.png"))
    net = model()
    net.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                metrics=["accuracy"])
    checkpoints = os.path.join(out, "checkpoints")
    os.makedirs(checkpoints, exist_ok=True)
    net.save_weights(os.path.join(checkpoints, "epoch_00.weights.h5"))

    def save(epoch, logs):
        if epoch + 1 in EPOCHS:
            net.save_weights(os.path.join(checkpoints, f"epoch_{epoch + 1:02d}.weights.h5"))

    callback = EvolutionCallback(test_x[:100], ["conv1", "conv4"], 4, every=EPOCHS,
                                        out=os.path.join(out, "callback"),
                                        preprocessing="unit")
    history = net.fit(train_x / 255.0, train_y, batch_size=64, epochs=max(EPOCHS), verbose=2,
                      validation_data=(test_x / 255.0, test_y),
                      callbacks=[keras.callbacks.LambdaCallback(on_epoch_end=save), callback])
    net.save(os.path.join(out, "shapes.keras"))
    with open(os.path.join(out, "accuracy.json"), "w") as stream:
        json.dump({key: [round(v, 4) for v in values]
                   for key, values in history.history.items()}, stream, indent=1)


# Boxes [top, left, bottom, right) in the 25x25 crops, drawn by hand.
FACES = {
    1: {"right_eye": [7, 3, 11, 8], "left_eye": [7, 11, 11, 16], "nose": [10, 8, 15, 12],
        "mouth": [16, 7, 20, 16]},
    2: {"right_eye": [6, 4, 10, 9], "left_eye": [6, 10, 10, 15], "nose": [10, 8, 15, 12],
        "mouth": [16, 7, 20, 15]},
    3: {"right_eye": [7, 4, 11, 9], "left_eye": [7, 12, 11, 17], "nose": [10, 9, 15, 13],
        "mouth": [16, 8, 20, 17]},
    8: {"right_eye": [6, 4, 10, 9], "left_eye": [6, 11, 10, 16], "nose": [10, 8, 15, 12],
        "mouth": [16, 7, 20, 16]},
    11: {"right_eye": [6, 2, 10, 7], "left_eye": [6, 9, 10, 14], "nose": [10, 6, 15, 10],
         "mouth": [16, 5, 20, 13]},
}


def faces(out):
    from skimage import data
    crops = data.lfw_subset()
    os.makedirs(out, exist_ok=True)
    parts = {}
    for number, boxes in FACES.items():
        name = f"face{number:03d}.png"
        Image.fromarray(np.round(crops[number] * 255).astype(np.uint8)).convert("RGB").save(
            os.path.join(out, name))
        parts[name] = boxes
    with open(os.path.join(out, "parts.json"), "w") as stream:
        json.dump(parts, stream, indent=1)
    colours = {"right_eye": (230, 30, 30), "left_eye": (30, 200, 30), "nose": (30, 120, 255),
               "mouth": (255, 190, 0)}
    tiles = []
    for name, boxes in parts.items():  # the boxes drawn over the crops, 8x enlarged
        picture = Image.open(os.path.join(out, name)).resize((200, 200), Image.BILINEAR)
        draw = ImageDraw.Draw(picture)
        for part, (top, left, bottom, right) in boxes.items():
            draw.rectangle([left * 8, top * 8, right * 8 - 1, bottom * 8 - 1],
                           outline=colours[part], width=2)
        tiles.append(np.asarray(picture))
    Image.fromarray(np.concatenate(tiles, axis=1)).save(os.path.join(out, "faces_parts.png"))


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("shapes", "faces"):
        raise SystemExit("usage: paper_data.py shapes|faces OUT")
    (train_shapes if sys.argv[1] == "shapes" else faces)(sys.argv[2])
