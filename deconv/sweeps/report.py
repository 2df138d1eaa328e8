"""A sweep's outputs: the grids of receptive-field crops and the JSON manifest.

File names follow the TF1 deconvnet project: `conv4_4_feat.png` / `conv4_4_im.png` for the top
activations over all maps, `conv4_4_feat_350.png` / `conv4_4_im_350.png` for map 350, and the
manifest `conv4_4[_350].json`.
"""
import os

import numpy as np

from deconv.core import names
from deconv.io import outputs
from deconv.io import render
from deconv.io import tiles as tiles_lib
from deconv.io import words
from deconv.sweeps import pass2


def file_names(sweep):
    """Returns `{"feat": ..., "im": ..., "manifest": ...}` file names for a sweep."""
    layer = names.short(sweep.layer)
    suffix = "" if sweep.feature is None else f"_{sweep.feature}"
    suffix += "_maps" if sweep.mode == "maps" else ""
    return {"feat": f"{layer}_feat{suffix}.png", "im": f"{layer}_im{suffix}.png",
            "manifest": f"{layer}{suffix}.json"}


def tiles(net, sweep, found, reconstructions, pixels, size, normalize="symmetric", min_tile=64,
          crop="auto"):
    """Returns `(feat_tiles, im_tiles, shown)`: each winner's reconstruction and image patch,
    cropped as `crop` says (`deconv.io.tiles`: the whole receptive field, mid-gray outside the
    image; the field clipped to the image; or the effective box), normalised for display and
    all of one size, at least `min_tile` pixels; and `found` (`deconv.sweeps.pass2.Projected`
    records) as new records with their tiles' crops. In mode "maps" a whole map reaches the
    whole image: the tiles are the whole reconstruction and image (no crop)."""
    feat_tiles, im_tiles, shown = [], [], []
    image_size = (size, size)
    stride = tiles_lib.stride_of(image_size, net.map_size(sweep.layer, image_size))
    for projected, reconstruction, image in zip(found, reconstructions, pixels):
        if sweep.mode == "maps":
            feat_tiles.append(render.upscale(render.to_uint8(reconstruction, normalize),
                                             min_tile))
            im_tiles.append(render.upscale(np.asarray(image), min_tile))
            shown.append(projected)
            continue
        projected, window = pass2.cropped(net, sweep.layer, projected, reconstruction, size,
                                          crop)
        shown.append(projected)
        chosen = projected.crop
        if chosen.kind == "theoretical":  # the field's own scale, enlarged by a whole factor
            def sized(tile):
                return render.upscale(tile, min_tile)
        else:  # one size for the grid: the field's, clipped to the image
            side = max(min(window[2] - window[0], window[3] - window[1], size), min_tile)

            def sized(tile, side=side):
                return tiles_lib.resize(tile, side)
        feat, patch = tiles_lib.draw(reconstruction, image, chosen, normalize, sized,
                                     tiles_lib.cell_of(window, stride))
        feat_tiles.append(feat)
        im_tiles.append(patch)
    return feat_tiles, im_tiles, shown


def manifest(sweep, found, settings, counts, notes):
    """Returns the manifest of a sweep as a JSON-ready dict (`found`: the `Projected` records
    `tiles` returns)."""
    layer = names.short(sweep.layer)
    return {
        "layer": layer,
        "keras_layer": sweep.layer,
        "feature": sweep.feature,
        "top": sweep.top,
        "per_image": sweep.per_image,
        "mode": sweep.mode,
        "found": len(found),
        "results": [projected.record() for projected in found],
        "files": file_names(sweep),
        "counts": counts,
        "notes": notes,
        "settings": settings,
    }


def write(out_dir, sweep, feat_tiles, im_tiles, content):
    """Writes the two grids and the manifest atomically.

    Returns:
      `(paths, feat_grid, im_grid)`: `{"feat", "im", "manifest"}` paths, and the grids.
    """
    files = file_names(sweep)
    paths = {key: os.path.join(out_dir, name) for key, name in files.items()}
    feat_grid, im_grid = render.grid(feat_tiles), render.grid(im_tiles)
    outputs.write_png(paths["feat"], feat_grid)
    outputs.write_png(paths["im"], im_grid)
    outputs.write_json(paths["manifest"], content)
    return paths, feat_grid, im_grid


def note_lines(notes):
    """The notes of many sweeps (`{label: [note]}`) as lines, each naming its sweeps: a note
    that many sweeps share is one line (`conv1_1, conv1_2 and 14 more: Only 5 of ...`)."""
    labels = {}
    for label, texts in notes.items():
        for text in texts:
            labels.setdefault(text, []).append(label)
    lines = []
    for text, named in labels.items():
        shown = ", ".join(named[:3]) + (f" and {len(named) - 3} more" if len(named) > 3 else "")
        lines.append(f"{shown}: {text}")
    return lines


def skip_counts(read, skipped, ignored=None):
    """Returns the manifest's counts: image files read, skipped, and skipped per reason; and
    the files not looked at because of their extension (`ignored`: `{extension: count}`)."""
    reasons = words.reason_counts(skipped)
    return {"files": read + len(skipped), "read": read, "skipped": len(skipped),
            "skipped_by_reason": reasons,
            "skipped_files": [{"path": path, "reason": reason} for path, reason in skipped],
            "ignored_by_extension": dict(ignored or {})}


def dead(found):
    """Whether no winner activates at all (a map that never fires on these images)."""
    return bool(found) and float(np.max([w.value for w in found])) <= 0
