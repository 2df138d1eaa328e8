"""A synthetic unit atlas folder, as `python -m deconv.atlas` writes it (the contract in the
issue), drawn with NumPy and PIL: no network, no TensorFlow, a few hundred tiny JPEGs.

Every unit's tiles are a flat colour of its own (`unit_colour`), the projection row darker than
the patch row and each rank a little darker than the one before, so a test (or a person looking
at a screenshot) can tell which unit and which rank an image shows.
"""
import colorsys
import json
import math
import os

import numpy as np
from PIL import Image

SILENT_UNIT = 1  # in every layer: a unit whose values are all <= 0 (it never activates)
SHORT_UNIT = 2  # in every layer: a unit with only 2 entries (fewer than `top`)


def keras_name(name):
    """`conv2_1` -> `block2_conv1`; other names are kept."""
    if name.startswith("conv") and "_" in name:
        block, conv = name[len("conv"):].split("_", 1)
        return f"block{block}_conv{conv}"
    return name


def unit_colour(layer_index, unit, rank=0, patch=False):
    """The RGB colour (uint8) of a unit's tile: a hue per unit, darker for later ranks, the
    projection (row 0) darker than the patch (row 1)."""
    hue = (unit * 0.1371 + layer_index * 0.31) % 1.0
    value = (0.95 if patch else 0.7) * (1.0 - 0.12 * rank)
    return np.array([round(255 * c) for c in colorsys.hsv_to_rgb(hue, 0.75, value)], np.uint8)


def _save(path, pixels, format="JPEG"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(pixels).save(path, format=format, **({"quality": 92} if format == "JPEG"
                                                          else {}))


def _tile(colour, size, mark):
    """A flat tile with a darker diagonal band (`mark` shifts it), so tiles are not blank."""
    tile = np.tile(colour, (size, size, 1))
    rows, columns = np.mgrid[:size, :size]
    band = np.abs(rows - columns - mark % size) < max(1, size // 8)
    tile[band] = (tile[band] * 0.55).astype(np.uint8)
    return tile


def _entries(rng, layer_index, unit, top, sources, size, map_size):
    count = 2 if unit == SHORT_UNIT else top
    entries = []
    for rank in range(count):
        source = int(rng.integers(len(sources)))
        height, width = (int(v) for v in rng.integers(size // 8, size // 2, 2))
        y0, x0 = int(rng.integers(0, size - height)), int(rng.integers(0, size - width))
        value = (0.0 - 0.5 * rank if unit == SILENT_UNIT
                 else round(100.0 / (1 + unit % 37) * (1 - 0.1 * rank) + layer_index, 3))
        entries.append({"image": sources[source], "source": source,
                        "position": [int(rng.integers(map_size)), int(rng.integers(map_size))],
                        "value": value, "box": [y0, x0, y0 + height, x0 + width],
                        "box_original": [2 * y0, 2 * x0, 2 * (y0 + height), 2 * (x0 + width)]})
    return entries


def _strips(out_dir, name, layer_index, top_lists, tile):
    for unit, entries in enumerate(top_lists):
        rows = [np.concatenate([_tile(unit_colour(layer_index, unit, rank, patch), tile, rank)
                                for rank in range(len(entries))], axis=1)
                for patch in (False, True)]
        _save(os.path.join(out_dir, "units", name, f"{unit}.jpg"), np.concatenate(rows))


def _sprites(out_dir, name, layer_index, units, thumb, per_sheet, columns):
    files = []
    for sheet in range(math.ceil(units / per_sheet)):
        count = min(per_sheet, units - sheet * per_sheet)
        pixels = np.full((math.ceil(count / columns) * thumb, columns * 2 * thumb, 3), 255,
                         np.uint8)
        for index in range(count):
            unit = sheet * per_sheet + index
            row, column = divmod(index, columns)
            for half in (0, 1):
                x = (2 * column + half) * thumb
                pixels[row * thumb:(row + 1) * thumb, x:x + thumb] = _tile(
                    unit_colour(layer_index, unit, 0, bool(half)), thumb, 0)
        files.append(f"sprites/{name}_{sheet}.jpg")
        _save(os.path.join(out_dir, files[-1]), pixels)
    return files


def _layer(out_dir, rng, layer_index, name, units, settings, sources, maximize):
    map_size = max(2, settings["size"] // 2 ** (layer_index + 1))
    top_lists = [_entries(rng, layer_index, unit, settings["top"], sources, settings["size"],
                          map_size) for unit in range(units)]
    _strips(out_dir, name, layer_index, top_lists, settings["tile"])
    if maximize:
        for unit in range(units):
            _save(os.path.join(out_dir, "maximized", name, f"{unit}.png"),
                  _tile(unit_colour(layer_index, unit, 0, True), 32, 5), "PNG")
    return {"name": name, "keras_layer": keras_name(name), "units": units,
            "map_size": [map_size, map_size], "page": f"{name}.html",
            "strips": f"units/{name}/{{unit}}.jpg",
            "maximized": f"maximized/{name}/{{unit}}.png" if maximize else None,
            **({"maximization": {"param": "fourier", "steps": 512, "size": 224,
                                 "objective": "mean activation",
                                 "activation": [1.0 + unit for unit in range(units)],
                                 "ratio": [None if unit == 0 else 1.0 + unit / 100
                                           for unit in range(units)]}} if maximize else {}),
            "sprites": {"files": _sprites(out_dir, name, layer_index, units, settings["thumb"],
                                          settings["per_sheet"], settings["columns"]),
                        "per_sheet": settings["per_sheet"], "columns": settings["columns"],
                        "thumb": settings["thumb"]},
            "top": top_lists}


def make_fake_atlas(out_dir, layers=(("conv1_1", 4), ("conv2_1", 300)), top=3, tile=16,
                    thumb=24, size=64, per_sheet=100, columns=10, sources=6, maximize=True,
                    seed=0):
    """Writes a synthetic atlas folder into `out_dir` (images and `atlas.json`).

    Args:
      out_dir: the folder (created if needed).
      layers: `(name, units)` per layer; paper-style names get Keras names (`block2_conv1`).
      top: entries per unit (unit `SHORT_UNIT` has 2, unit `SILENT_UNIT` never activates).
      tile, thumb, size: the strips' tile size, the sprites' thumbnail height, and the sources'
        side, in pixels.
      per_sheet, columns: units per sprite sheet, and cells per sheet row.
      sources: how many source images (`sources/<n>.jpg`, named `cats/img<n>.jpg` and so on).
      maximize: whether to write an activation-maximization PNG per unit.
      seed: the seed of the entries' sources, positions and boxes.

    Returns:
      The atlas record (what `atlas.json` holds).
    """
    from deconv.io import outputs
    outputs.ensure_folder(out_dir)  # marked first, as the atlas claims its folder
    rng = np.random.default_rng(seed)
    names = [f"{('cats', 'dogs')[n % 2]}/img{n}.jpg" for n in range(sources)]
    for n in range(sources):
        colour = unit_colour(5, 7 * n, 0, True)
        _save(os.path.join(out_dir, "sources", f"{n}.jpg"), _tile(colour, size, 3 * n))
    settings = {"top": top, "per_image": 1, "size": size, "aspect": "stretch",
                "normalize": "symmetric", "tile": tile, "thumb": thumb, "maximize": maximize,
                "per_sheet": per_sheet, "columns": columns}
    records = [_layer(out_dir, rng, index, name, units, settings, names, maximize)
               for index, (name, units) in enumerate(layers)]
    for key in ("per_sheet", "columns"):
        del settings[key]
    root = "/data/images"
    atlas = {"format": "deconv-atlas", "version": 1,
             "model": {"name": "vgg16", "include_top": False, "preprocessing": "caffe",
                       "rule": "deconvnet"},
             "weights": {"weights": "/cache/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
                         "sha256": "6d6bbae143d832006294945121d1f1fc" * 2},
             "dataset": {"root": root, "files": sources + 2, "read": sources,
                         "skipped": [{"path": f"{root}/bad.jpg", "reason": "not an image"}],
                         "ignored_by_extension": {".txt": 1}},
             "settings": settings, "sources": names, "layers": records}
    with open(os.path.join(out_dir, "atlas.json"), "w", encoding="utf-8") as stream:
        json.dump(atlas, stream, indent=1)
    return atlas
