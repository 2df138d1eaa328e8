"""Makes examples/figures/maximization_lite0.png, the README's grid of feature visualizations:
EfficientNet-Lite0 (ImageNet weights), one row per parameterisation (pixel, fourier, maco),
a few classes (labelled with EfficientNet-Lite2's verdict: the class's rank and probability)
and a few units (labelled with their activation against their strongest natural one).

It draws the pictures and numbers that benchmarks/maximization.py saved (its --pictures
folder and --results file), so run the benchmark's parts first, e.g.:

    python benchmarks/maximization.py --part classes --params pixel,fourier,maco --targets 0,5,15,25,45
    python benchmarks/maximization.py --part units --params pixel,fourier,maco --targets 9,30,63
    python examples/figures/maximization_figures.py [--pictures DIR] [--results FILE]
"""
import argparse
import json
import os
import sys

import numpy as np
from PIL import Image, ImageDraw, ImageFont

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CLASSES = [0, 100, 300, 500, 900]  # tench, black swan, tiger beetle, cliff dwelling, water tower
UNITS = ["block3b_add/18", "block5c_add/50", "block6d_add/191"]
PARAMS = ("pixel", "fourier", "maco")
TILE = 150
LINE = 13


def _text(draw, position, text, font):
    draw.text(position, text, fill="black", font=font)


def _tile(path, lines, font):
    """The picture at `path`, `TILE` pixels wide, with `lines` of text under it."""
    canvas = Image.new("RGB", (TILE, TILE + LINE * len(lines) + 4), "white")
    if os.path.exists(path):
        with Image.open(path) as picture:
            canvas.paste(picture.convert("RGB").resize((TILE, TILE), Image.BILINEAR), (0, 0))
    else:
        ImageDraw.Draw(canvas).text((8, TILE // 2), "not run", fill="gray", font=font)
    draw = ImageDraw.Draw(canvas)
    for number, line in enumerate(lines):
        _text(draw, (2, TILE + 2 + LINE * number), line, font)
    return canvas


def _class_lines(results, param, target):
    found = results.get("classes", {}).get(param, {}).get(str(target))
    if not found:
        return [f"class {target}", ""]
    return [f"{found['name'][:22]}", f"Lite2: #{found['rank']}, {found['probability']:.0%}"]


def _unit_lines(results, param, key):
    found = results.get("units", {}).get(param, {}).get(key)
    if not found:
        return [key, ""]
    ratio = found["ratio"]
    return [key.replace("/", " unit "), "x?" if ratio is None else
            f"{ratio:.2f} x natural top-1"]


def figure(pictures, results):
    font = ImageFont.load_default()
    rows = []
    for param in PARAMS:
        tiles = [_tile(os.path.join(pictures, "classes", param, f"{c}.png"),
                       _class_lines(results, param, c), font) for c in CLASSES]
        tiles += [_tile(os.path.join(pictures, "units", param, f"{k.replace('/', '_')}.png"),
                        _unit_lines(results, param, k), font) for k in UNITS]
        steps = next((r["settings"]["steps"] for r in results.get("classes", {}).get(
            param, {}).values()), "?")
        label = Image.new("RGB", (86, tiles[0].height), "white")
        draw = ImageDraw.Draw(label)
        _text(draw, (4, TILE // 2 - LINE), param, font)
        _text(draw, (4, TILE // 2 + 2), f"{steps} steps", font)
        row = Image.new("RGB", (label.width + (TILE + 6) * len(tiles), tiles[0].height), "white")
        row.paste(label, (0, 0))
        for number, tile in enumerate(tiles):
            row.paste(tile, (label.width + (TILE + 6) * number, 0))
        rows.append(row)
    title = ("EfficientNet-Lite0, ImageNet weights: class logits (judged by EfficientNet-Lite2, "
             "ImageNet: the class's rank and probability) and units (activation / strongest "
             "natural activation)")
    height = 22 + sum(row.height + 8 for row in rows)
    canvas = Image.new("RGB", (rows[0].width, height), "white")
    _text(ImageDraw.Draw(canvas), (4, 4), title, font)
    top = 22
    for row in rows:
        canvas.paste(row, (0, top))
        top += row.height + 8
    return canvas


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pictures", default="/tmp/deconv_maximization_bench")
    parser.add_argument("--results", default=os.path.join(ROOT, "benchmarks",
                                                          "maximization_results.json"))
    parser.add_argument("--out", default=os.path.join(HERE, "maximization_lite0.png"))
    args = parser.parse_args()
    if not os.path.isdir(args.pictures):
        sys.exit(f"{args.pictures}: no pictures; run benchmarks/maximization.py first (see "
                 f"this script's docstring).")
    with open(args.results, encoding="utf-8") as stream:
        results = json.load(stream)
    # 256 colours (median cut, no dithering): a third of the RGB file's size, under 1 MB.
    figure(args.pictures, results).quantize(
        256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(args.out,
                                                                             optimize=True)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
