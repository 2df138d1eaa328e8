"""A folder of natural images for the README's figures of real classifiers: square crops, at
random places and sizes (seeded), of the photos in `examples/images` and of scikit-image's
photos (`skimage.data`, free to use), saved as PNG.

    python examples/figures/natural_crops.py OUT [--per_photo 10]     # from the repository root
"""
import argparse
import os

import numpy as np
from PIL import Image

SKIMAGE = ("astronaut", "cat", "coffee", "rocket", "camera", "coins", "clock", "colorwheel",
           "hubble_deep_field", "immunohistochemistry", "retina", "moon", "page", "text",
           "grass", "gravel", "brick", "cell")


def photos():
    """`(name, RGB PIL image)` of every source photo."""
    from skimage import data
    folder = os.path.join("examples", "images")
    for name in sorted(os.listdir(folder)):
        yield f"examples_{os.path.splitext(name)[0]}", Image.open(os.path.join(folder, name))
    for name in SKIMAGE:
        yield f"skimage_{name}", Image.fromarray(getattr(data, name)())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out")
    parser.add_argument("--per_photo", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    count = 0
    for name, photo in photos():
        photo = photo.convert("RGB")
        width, height = photo.size
        shorter = min(width, height)
        for number in range(args.per_photo):
            side = int(rng.integers(shorter // 3, shorter + 1))
            left = int(rng.integers(0, width - side + 1))
            top = int(rng.integers(0, height - side + 1))
            photo.crop((left, top, left + side, top + side)).save(
                os.path.join(args.out, f"{name}_{number}.png"))
            count += 1
    print(f"wrote {count} crops to {args.out}")


if __name__ == "__main__":
    main()
