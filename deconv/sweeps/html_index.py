"""`index.html`: every sweep's grids with its manifest, one page, readable offline.

Images are linked relatively, so the output folder can be moved or zipped as a whole. Each image
records whether it loaded (`data-loaded="1"` or `"0"`), which the tests read in headless Chromium.
"""
import html
import json
import os
import urllib.parse

from deconv.io import outputs

_STYLE = """
body { font-family: sans-serif; margin: 2em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.2em; margin-top: 2em; } h3 { font-size: 1em; }
.pair { display: flex; gap: 1em; flex-wrap: wrap; align-items: flex-start; }
.pair figure { margin: 0; } .pair img { max-height: 300px; image-rendering: pixelated; }
figcaption { font-size: 0.8em; color: #555; }
table { border-collapse: collapse; font-size: 0.8em; margin: 0.5em 0 1.5em; }
td, th { border: 1px solid #ccc; padding: 2px 6px; text-align: right; }
td.path { text-align: left; } .note { color: #a40; }
"""


def _text(name):
    """A file name as text: bytes that are not UTF-8 (old archives) shown as \ufffd."""
    return html.escape(os.fsencode(name).decode("utf-8", "replace"))


def _image(src, alt, lazy):
    loading = ' loading="lazy"' if lazy else ""
    url = urllib.parse.quote(os.fsencode(src))  # '#', '?', '%' and non-UTF-8 bytes are literal
    return (f'<img src="{html.escape(url)}" alt="{_text(alt)}"{loading} '
            f'onload="this.dataset.loaded=1" onerror="this.dataset.loaded=0">')


def _sweep(manifest, folder, lazy):
    label = manifest["files"]["manifest"][:-len(".json")]
    feature = manifest["feature"]
    title = f"{manifest['layer']}" + ("" if feature is None else f", map {feature}")
    rows = "".join(
        f"<tr><td>{r['rank']}</td><td class=path>{_text(os.path.basename(r['path']))}</td>"
        f"<td>{r['feature']}</td><td>{r['position'][0]}, {r['position'][1]}</td>"
        f"<td>{r['value']:.4g}</td><td>{', '.join(map(str, r['box']))}</td></tr>"
        for r in manifest["results"])
    notes = "".join(f'<p class="note">{_text(note)}</p>' for note in manifest["notes"])
    feat = os.path.join(folder, manifest["files"]["feat"])
    im = os.path.join(folder, manifest["files"]["im"])
    return (f'<section id="{_text(folder + label)}"><h3>{_text(title)} '
            f'<small>(top {manifest["top"]}, {manifest["per_image"]} per image)</small></h3>'
            f'<div class="pair"><figure>{_image(feat, title + " reconstructions", lazy)}'
            f"<figcaption>reconstructions</figcaption></figure>"
            f'<figure>{_image(im, title + " image patches", lazy)}'
            f"<figcaption>image patches</figcaption></figure></div>{notes}"
            f"<table><tr><th>rank</th><th>image</th><th>map</th><th>y, x</th><th>value</th>"
            f"<th>box (top, left, bottom, right)</th></tr>{rows}</table></section>")


def earlier_manifests(folder, current):
    """Returns the manifests of earlier runs left in `folder` (JSON files with a manifest's
    keys whose grids are still there), leaving out those named in `current`, sorted by name:
    an index lists them too, so a second run into one folder does not hide the first's."""
    names = {manifest["files"]["manifest"] for manifest in current}
    found = []
    for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
        if not name.endswith(".json") or name in names or name.startswith("."):
            continue
        try:
            with open(os.path.join(folder, name), encoding="utf-8") as stream:
                manifest = json.load(stream)
            files = manifest["files"]
            if (files["manifest"] == name and all(
                    os.path.exists(os.path.join(folder, files[key])) for key in ("feat", "im"))
                    and {"layer", "feature", "results", "notes", "top", "per_image"} <= set(
                        manifest)):
                found.append(manifest)
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue  # not one of our manifests
    return found


def _run_key(manifest):
    """What makes a manifest's run: its dataset, model, weights and counts. Sweeps of one run
    share a section; an earlier run in the folder gets its own."""
    settings, counts = manifest.get("settings") or {}, manifest.get("counts") or {}
    return json.dumps([settings.get(key) for key in (
        "dataset", "model", "weights", "weights_file", "model_file", "seed", "rule",
        "preprocessing")] + [counts.get("read"), counts.get("skipped")], sort_keys=True,
        default=str)


def _used(name, settings, key):
    """`vgg19`, `random (seed 0)`, `imagenet (/path/vgg19_...h5, sha256 1f2e...)`."""
    text = str(settings.get(name))
    record = settings.get(key)
    if isinstance(record, dict):
        text += f" ({record.get('path')}, sha256 {str(record.get('sha256'))[:16]}…)"
    elif name == "weights" and "seed" in settings:
        text += f" (seed {settings['seed']})"
    return html.escape(text)


def _heading(manifest, fallback):
    settings, counts = manifest.get("settings") or {}, manifest.get("counts") or {}
    dataset = settings.get("dataset") or {}
    name = dataset.get("name") or fallback
    images = dataset.get("images")
    where = f" ({images})" if images and images != name else ""
    return (f"<h2>{_text(name)}{_text(where)}</h2><p>{counts.get('read', 0)} images read, "
            f"{counts.get('skipped', 0)} skipped; model {_used('model', settings, 'model_file')}"
            f", weights {_used('weights', settings, 'weights_file')}.</p>")


def write(out_dir, pages):
    """Writes `out_dir/index.html`: a section per run, each headed by its own dataset, model,
    weights (the file used, with its hash) and counts, from its manifests.

    Args:
      out_dir: the run's output folder.
      pages: `(folder, manifests)` per output folder: the folder relative to `out_dir` (`""`
        for `out_dir` itself), and its manifests, this run's first, then earlier runs'
        (`earlier_manifests`).

    Returns:
      The path written.
    """
    count = sum(len(manifests) for _, manifests in pages)
    lazy = count > 50  # many maps: let the browser load what is scrolled to
    body = []
    for folder, manifests in pages:
        prefix = f"{folder}/" if folder else ""
        sections = {}  # one per run, in the order first seen: this run's first
        for manifest in manifests:
            sections.setdefault(_run_key(manifest), []).append(manifest)
        for number, section in enumerate(sections.values()):
            body.append(_heading(section[0], folder or os.path.basename(os.path.abspath(
                out_dir))) + ("" if number == 0 else "<p class=note>an earlier run</p>"))
            body.extend(_sweep(manifest, prefix, lazy) for manifest in section)
    page = (f"<!DOCTYPE html><html><head><meta charset=utf-8><title>deconv results</title>"
            f"<style>{_STYLE}</style></head><body><h1>deconv: strongest activations</h1>"
            f"{''.join(body)}</body></html>\n")
    path = os.path.join(out_dir, "index.html")
    outputs.write_bytes(path, page.encode("utf-8"))
    return path
