"""Puts runner grids side by side, a row per layer: each row's reconstructions beside its
image patches, scaled to one height, labelled; saved in 256 colours.

    python examples/figures/compose_grids.py OUT "LABEL" FEAT.png IM.png ["LABEL" FEAT IM ...]
        [--footer TEXT]
"""
import sys

from PIL import Image, ImageDraw, ImageFont

HEIGHT, GAP, TITLE = 260, 8, 16


def main(arguments):
    footer = None
    if "--footer" in arguments:
        at = arguments.index("--footer")
        footer, arguments = arguments[at + 1], arguments[:at] + arguments[at + 2:]
    out, rest = arguments[0], arguments[1:]
    rows = [rest[i:i + 3] for i in range(0, len(rest), 3)]
    font = ImageFont.load_default()
    pictures = []
    for label, feat, image in rows:
        pair = [Image.open(path).convert("RGB") for path in (feat, image)]
        pair = [p.resize((round(p.width * HEIGHT / p.height), HEIGHT), Image.Resampling.LANCZOS)
                for p in pair]
        pictures.append((label, pair))
    width = max(sum(p.width for p in pair) + GAP for _, pair in pictures)
    canvas = Image.new("RGB", (width, len(rows) * (HEIGHT + TITLE + GAP) + (14 if footer else 0)),
                       "white")
    draw = ImageDraw.Draw(canvas)
    for number, (label, pair) in enumerate(pictures):
        top = number * (HEIGHT + TITLE + GAP)
        draw.text((2, top + 2), label, fill="black", font=font)
        canvas.paste(pair[0], (0, top + TITLE))
        canvas.paste(pair[1], (pair[0].width + GAP, top + TITLE))
    if footer:
        draw.text((2, canvas.height - 13), footer, fill="black", font=font)
    canvas.quantize(256, dither=Image.Dither.FLOYDSTEINBERG).save(out, optimize=True)
    print("wrote", out)


if __name__ == "__main__":
    main(sys.argv[1:])
