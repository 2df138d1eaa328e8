"""The files of an activation maximization (`python -m deconv.maximize`): a PNG per image, MACO's
transparency maps, a labelled grid, and the JSON manifest with each image's objective and its
quality. A pixel maximization of one image per map, without quality measures, writes exactly
what it always did."""
import os

import numpy as np

from deconv import limits
from deconv.io import outputs
from deconv.io import render


def _tile(picture, side):
    if not side:
        return render.upscale(picture, 128)
    from PIL import Image
    return np.asarray(Image.fromarray(picture).resize((side, side), Image.Resampling.BILINEAR))


def check_grid(count, side, tile=0):
    """Raises DeconvError if the grid `write` would draw for `count` images of `side` pixels
    (tiles of `tile` pixels, or the side enlarged to at least 128) is too large a picture."""
    side = tile or max(side, 128)
    limits.check_picture(count, side, "The grid of the maps (lower --tile, or give fewer --id)")


def stems(feat, features, copies=1, kind="mean"):
    """Each image's file name without `.png`: `{feat}_{id}` (`{feat}_sum` for a weighted sum),
    with `_{copy}` after it when a target has several images."""
    bases = [f"{feat}_sum"] if kind == "sum" else [f"{feat}_{f}" for f in features]
    if copies == 1:
        return bases
    return [f"{base}_{copy}" for base in bases for copy in range(copies)]


def files(out_dir, feat, features, copies=1, kind="mean", transparency=False):
    """The paths `write` writes for maps `features` of layer `feat`."""
    names = stems(feat, features, copies, kind)
    extra = [f"{name}_transparency.png" for name in names] if transparency else []
    return [os.path.join(out_dir, name) for name in (
        *(f"{name}.png" for name in names), *extra, f"{feat}_grid.png", f"{feat}.json")]


def _labels(result, index, names, quality):
    """The tile's title (target and final objective) and its quality line ('' without)."""
    per = result.copies
    if result.kind == "sum":
        title = "sum" if per == 1 else f"sum #{index % per}"
    else:
        target = int(result.features[index // per])
        word = "class" if result.kind == "logit" else "map"
        title = f"{word} {target}" + (f" {names[target]}" if names else "")
        title += f" #{index % per}" if per > 1 else ""
    found = quality[index] if quality else {}
    line = ""
    if found.get("ratio") is not None:
        line = f"x{found['ratio']:.2f} of natural top-1"
    elif "rank" in found:
        line = f"{found['judge']}: #{found['rank']}, {found['probability']:.0%}"
    return f"{title}: {result.values[index]:.3g}", line


def _tile_of(picture, side, title, line):
    tile = _tile(picture, side)
    return render.label(render.label(tile, line) if line else tile, title)


def _entry(result, index, path, transparency, names, quality):
    per = result.copies
    feature = None if result.kind == "sum" else int(result.features[index // per])
    entry = {"map": feature, "start": float(result.start_values[index]),
             "end": float(result.values[index]), "file": os.path.basename(path)}
    if result.kind == "sum":
        entry["map"] = [int(f) for f in result.features]
    if names and feature is not None:
        entry["name"] = names[feature]
    if per > 1:
        entry["copy"] = index % per
    if transparency:
        entry["transparency"] = os.path.basename(transparency)
    if quality:
        entry["quality"] = quality[index]
    return entry


def write(out_dir, feat, result, described, tile=0, names=None, quality=None):
    """Writes a `Maximization`, atomically: a PNG per image (`stems`), MACO's transparency maps
    (`{stem}_transparency.png`, the accumulated absolute gradient, white where it was
    largest), `{feat}_grid.png` (every image, labelled with its final objective and quality;
    tiles resized to `tile` pixels, or with 0 enlarged to at least 128) and `{feat}.json`
    (`described`, then sizes and per image its objective at the start and the end, and its
    quality). Returns `(image files, grid file, JSON file)`.

    Args:
      names: class names by id (for logits), or None.
      quality: per image a JSON-ready dict (`maximization_quality`), or None.
    """
    written, tiles, maps = [], [], []
    pictures = result.images.round().clip(0, 255).astype("uint8")
    for index, name in enumerate(stems(feat, result.features, result.copies, result.kind)):
        written.append(os.path.join(out_dir, f"{name}.png"))
        outputs.write_png(written[-1], pictures[index])
        alpha = None
        if result.transparency is not None:
            alpha = os.path.join(out_dir, f"{name}_transparency.png")
            outputs.write_png(alpha, (result.transparency[index] * 255).round().astype("uint8"))
        tiles.append(_tile_of(pictures[index], tile, *_labels(result, index, names, quality)))
        maps.append(_entry(result, index, written[-1], alpha, names, quality))
    grid = os.path.join(out_dir, f"{feat}_grid.png")
    outputs.write_png(grid, render.label(render.grid(tiles), f"{feat}: {result.objective}"))
    summary = os.path.join(out_dir, f"{feat}.json")
    content = {**described, "sizes": result.sizes,
               "values": f"{result.objective} of the map, on the start and on the result",
               "maps": maps, "grid": os.path.basename(grid)}
    if result.similarity is not None:
        content["similarity"] = [float(s) for s in result.similarity]
    outputs.write_json(summary, content)
    return written, grid, summary
