"""The overlay pictures and their JSON: one image's strongest maps, one map (or a sum of maps)
over a folder, and each class's maps scored over a folder (`deconv.analysis.overlays` computes,
this module lays out and writes; `python -m deconv.overlay` only chooses)."""
import dataclasses
import os

from deconv.analysis import class_maps
from deconv.analysis import class_plot
from deconv.analysis import overlays
from deconv.core import names
from deconv.errors import DeconvError
from deconv.io import images as image_files
from deconv.io import outputs
from deconv.io import render
from deconv.io import streaming


@dataclasses.dataclass(frozen=True)
class Style:
    """How heat maps are blended: `alpha`, the heat's weight; `scale`, `"each"` (every tile
    spans the whole colour map), `"shared"` (one range and a colour bar) or `"auto"` (each for
    one image's maps, shared across images)."""
    alpha: float = 0.55
    scale: str = "auto"

    def scale_for(self, default):
        return default if self.scale == "auto" else self.scale


def maps_label(features, summed=True):
    """The file-name part for maps `features`: `map12`, `sum3_12+40+41` (summed over images)
    or `maps12+40` (one tile each)."""
    shown = features if len(features) <= 6 else [*features[:3], "...", features[-1]]
    kind = "map" if len(features) == 1 else (f"sum{len(features)}_" if summed else "maps")
    return kind + "+".join(map(str, shown))


def image_maps_prefix(out_dir, path, feat, top, features):
    """The path, without `.png` or `.json`, of `image_maps`'s files."""
    stem = os.path.splitext(os.path.basename(path))[0]
    what = f"top{top}" if features is None else maps_label(features, summed=False)
    return os.path.join(out_dir, f"{stem}_{feat}_{what}")


def folder_maps_prefix(out_dir, feat, features):
    """The path, without `.png` or `.json`, of `folder_maps`'s files."""
    return os.path.join(out_dir, f"{feat}_{maps_label(features)}")


def image_maps(net, layer, path, image, out_dir, *, top=16, features=None, style=Style(),
               described=None):
    """One image's `top` strongest maps (or the chosen `features`), one tile each; writes
    `{image}_{layer}_{top N | maps...}.png` and `.json` (the dict `described` first) in
    `out_dir`; returns their paths."""
    feat = names.short(net.resolve(layer))
    found = overlays.top_maps(net, layer, image, top=top, features=features)
    captions = [f"map {f}: mean {m:.3g}" for f, m in zip(found.features, found.means)]
    scale = style.scale_for("each")
    title = (f"{feat}: {'top ' + str(top) if features is None else 'chosen'} maps, "
             + ("each coloured from 0 to its maximum" if scale == "each" else "activation"))
    picture = overlays.overlay_grid(image, found.heats, captions, style.alpha, scale, title,
                                    first=image)
    out = image_maps_prefix(out_dir, path, feat, top, features)
    outputs.write_png(f"{out}.png", picture)
    outputs.write_json(f"{out}.json", {
        **(described or {}), "image": path, "layer": feat, "size": image.shape[0],
        "scale": scale,
        "maps": [{"map": int(f), "mean": float(m), "max": float(x)}
                 for f, m, x in zip(found.features, found.means, found.maxima)]})
    return [f"{out}.png", f"{out}.json"]


def _overlay_of(net, layer, path, low_res, reading):
    """Re-reads one image; returns `(pixels, heat)` with the map upsampled to it, each cell at
    its true centre."""
    pixels = image_files.read_image(path, reading.size, reading.aspect)[0]
    return pixels, overlays.to_image(net, layer, low_res, pixels.shape[:2])


def _write_each(net, layer, folder, paths, found, bounds, reading, alpha):
    for position in range(len(found.numbers)):
        path = paths[found.numbers[position]]
        pixels, heat = _overlay_of(net, layer, path, found.sums[position], reading)
        low, high = bounds if bounds else overlays.colour_range(heat[None], "each")[0]
        name = os.path.splitext(os.path.basename(path))[0]
        outputs.write_png(os.path.join(folder, f"{position:05d}_{name}.png"),
                          render.overlay(pixels, heat, alpha, low, high))


@dataclasses.dataclass(frozen=True)
class FolderGrid:
    """Which images of a folder the grid shows: at most `max_images`, in folder order or the
    `strongest` first; `each` also writes every image's overlay."""
    max_images: int = 36
    strongest: bool = False
    each: bool = False


def folder_maps(net, layer, paths, out_dir, *, features, root, reading=streaming.Reading(),
                style=Style(), grid=FolderGrid(), progress=None, described=None):
    """One map, or the sum of several, over the images `paths` of folder `root`, in one
    streaming pass: a grid with one colour range and its bar, `{layer}_{maps}.png` and `.json`
    (the dict `described` first) in `out_dir` (and with `grid.each`, every image's overlay in a
    folder of that name).

    Returns:
      `(files written, the `overlays.FolderMaps`)`.

    Raises:
      DeconvError: no image could be read (the message names one and why).
    """
    feat = names.short(net.resolve(layer))
    found = overlays.map_sums(net, layer, paths, features=features, reading=reading,
                              progress=progress)
    if not len(found.numbers):
        raise DeconvError(f"No image of {root} could be read; e.g. {found.skipped[0][0]}: "
                          f"{found.skipped[0][1]}.")
    shown = found.order(grid.strongest)[:grid.max_images]
    scale = style.scale_for("shared")
    # One colour range over every image read, so the grid and the single files compare.
    bounds = overlays.colour_range(found.sums, "shared")[0] if scale == "shared" else None
    pixels, heats = zip(*(_overlay_of(net, layer, paths[found.numbers[p]], found.sums[p],
                                      reading) for p in shown))
    captions = [f"{os.path.basename(paths[found.numbers[p]])[:18]}: {found.sums[p].mean():.3g}"
                for p in shown]
    title = f"{feat} " + (f"map {features[0]}" if len(features) == 1 else
                          f"sum of {len(features)} maps")
    out = folder_maps_prefix(out_dir, feat, features)
    outputs.write_png(f"{out}.png", overlays.overlay_grid(
        pixels, heats, captions, style.alpha, scale, title, bounds=bounds))
    outputs.write_json(f"{out}.json", {
        **(described or {}), "images": root, "layer": feat, "maps": features,
        "size": reading.size,
        "order": "strongest" if grid.strongest else "folder", "scale": scale,
        "shown": [paths[found.numbers[p]] for p in shown],
        "per_image": [{"path": paths[n], "mean": float(s.mean()), "max": float(s.max())}
                      for n, s in zip(found.numbers, found.sums)],
        "skipped": [{"path": p, "reason": r} for p, r in found.skipped]})
    written = [f"{out}.png", f"{out}.json"]
    if grid.each:
        _write_each(net, layer, out, paths, found, bounds, reading, style.alpha)
        written.append(f"{len(found.numbers)} PNGs in {out}/")
    return written, found


def class_scores_plot(net, layer, root, plot, *, maps, described, reading=streaming.Reading(),
                      extensions=None, progress=None):
    """Each class's maps (`maps`, `{class: [map ids]}`) scored in every image of `root`, one
    plot: writes `plot` and a JSON of its numbers beside it (`described` first).

    Returns:
      `(files written, the `class_maps.ClassScores`)`.
    """
    scores = class_maps.class_scores(net, layer, root, maps=maps, reading=reading,
                                     extensions=extensions, progress=progress)
    class_plot.plot(plot, scores)
    data = f"{os.path.splitext(plot)[0]}.json"
    outputs.write_json(data, class_plot.to_json(scores, **described))
    return [plot, data], scores
