"""The golden run's inputs (outputs.sh): the example photos with a fixed modification time, two
class folders, a small CNN with two checkpoints, and parts for correspondence."""
import json
import os
import shutil
import sys
from pathlib import Path

import keras
import numpy as np

out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
keras.utils.set_random_seed(3)
inputs = keras.Input((64, 64, 3))
x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="c1")(inputs)
x = keras.layers.MaxPooling2D(2, name="p1")(x)
x = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="c2")(x)
x = keras.layers.MaxPooling2D(2, name="p2")(x)
x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
outputs = keras.layers.Dense(4, name="logits")(x)
model = keras.Model(inputs, outputs)
model.save(out / "small.keras")
ck = out / "ckpt"
ck.mkdir(exist_ok=True)
for epoch in (0, 3):
    rng = np.random.default_rng(epoch + 1)
    model.set_weights([w + 0.05 * rng.standard_normal(w.shape).astype(w.dtype) for w in model.get_weights()])
    model.save_weights(ck / f"epoch_{epoch:02d}.weights.h5")
parts = {"chelsea.jpg": {"eye": [100, 120, 160, 180]}, "astronaut.jpg": {"eye": [80, 200, 140, 260]},
         "coffee.jpg": {"eye": [150, 200, 210, 260]}}
(out / "parts.json").write_text(json.dumps(parts))

examples = Path(__file__).resolve().parents[3] / "examples" / "images"
fixed = 1767225600  # 2026-01-01: the same times in every copy (atlas fingerprints read them)
classes = {"cat": ("chelsea.jpg", "astronaut.jpg"),
           "other": ("coffee.jpg", "rocket.jpg", "motorcycle.jpg")}
(out / "images").mkdir(exist_ok=True)
for name in sorted(os.listdir(examples)):
    shutil.copyfile(examples / name, out / "images" / name)
    os.utime(out / "images" / name, (fixed, fixed))
for label, names in classes.items():
    (out / "classes" / label).mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copyfile(examples / name, out / "classes" / label / name)
        os.utime(out / "classes" / label / name, (fixed, fixed))
