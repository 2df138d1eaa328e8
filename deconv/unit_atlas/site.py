"""The unit atlas as a static site: `index.html`, one page per layer, and shared assets.

Every page works from `file://` and from any static host: links are relative, nothing is fetched
at run time (each page embeds the data it needs as JSON in a `<script>`), and the pages need no
server, CDN or build step. `index.html` shows the model, the dataset and a preview row per layer;
`<layer>.html` shows every unit of a layer as a thumbnail cut from the layer's sprite sheets, and
the unit view (`<layer>.html#unit-350`) shows a unit's strongest projections beside their image
patches, as in Zeiler & Fergus's figure 2.

Reference: Zeiler & Fergus 2014, "Visualizing and Understanding Convolutional Networks"
(arXiv 1311.2901).
"""
import hashlib
import os

from deconv.io import outputs
from deconv.unit_atlas import site_pages

STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
ASSETS = "site"  # the assets' folder inside the atlas folder
PREVIEW_UNITS = 8  # thumbnails per layer on the index
PREVIEW_HEIGHT = 40  # px: a preview thumbnail's height on the index


def _rows(record, skip=()):
    """`<tr>`s of a record's keys and values (the values as given, escaped)."""
    return "".join(f"<tr><th>{site_pages.text(key)}</th><td>{site_pages.text(_shown(value))}"
                   f"</td></tr>" for key, value in record.items() if key not in skip)


def _shown(value):
    """A setting as text: `None` as `none`, lists and dicts compactly."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        return ", ".join(f"{key} {_shown(item)}" for key, item in value.items()) or "none"
    if isinstance(value, (list, tuple)):
        return " × ".join(map(_shown, value)) if value else "none"
    return str(value)


def _digest(sha):
    """A SHA-256 shortened, whole in its tooltip."""
    return (f'<code title="{site_pages.text(sha)}">{site_pages.text(str(sha)[:12])}…</code>'
            if sha else "none recorded")


def _model(atlas):
    """The model and its weights: name, rule, the weights file with its hash (shortened), a
    `.keras` model's file with its size and hash."""
    model, weights = atlas.get("model") or {}, atlas.get("weights") or {}
    held = weights.get("model_file")
    file_row = (f"<tr><th>model file</th><td><span class=path>"
                f"{site_pages.text(held.get('path'))}</span><br>{held.get('bytes', 0):,} bytes, "
                f"sha256 {_digest(held.get('sha256'))}</td></tr>"
                if isinstance(held, dict) else "")
    return (f"<section class=card><h2>Model</h2><table class=facts>"
            f"<tr><th>name</th><td class=path>{site_pages.text(model.get('name'))}</td></tr>"
            f"{_rows(model, skip=('name',))}"
            f"<tr><th>weights</th><td class=path>{site_pages.text(weights.get('weights'))}</td>"
            f"</tr><tr><th>sha256</th><td>{_digest(weights.get('sha256'))}</td></tr>{file_row}"
            f"{_rows(weights, skip=('weights', 'sha256', 'model_file'))}</table></section>")


def _dataset(atlas):
    """The dataset: root, counts, and the skipped files with their reasons (collapsed)."""
    dataset = atlas.get("dataset") or {}
    skipped = dataset.get("skipped") or []
    listed = "".join(f"<li><span class=path>{site_pages.text(item.get('path'))}</span>: "
                     f"{site_pages.text(item.get('reason'))}</li>" for item in skipped)
    details = (f"<details><summary>{len(skipped)} file{'s' * (len(skipped) != 1)} skipped"
               f"</summary><ul class=skipped>{listed}</ul></details>" if skipped
               else "<p class=quiet>No file skipped.</p>")
    ignored = dataset.get("ignored_by_extension") or {}
    ignored_row = (f"<tr><th>not images (by extension)</th><td>{site_pages.text(_shown(ignored))}"
                   f"</td></tr>" if ignored else "")
    return (f"<section class=card><h2>Dataset</h2><table class=facts>"
            f"<tr><th>root</th><td class=path>{site_pages.text(dataset.get('root'))}</td></tr>"
            f"<tr><th>files</th><td>{site_pages.text(dataset.get('files'))}</td></tr>"
            f"<tr><th>images read</th><td>{site_pages.text(dataset.get('read'))}</td></tr>"
            f"<tr><th>skipped</th><td>{len(skipped)}</td></tr>{ignored_row}</table>"
            f"{details}</section>")


def _settings(atlas):
    """The run's settings, as recorded."""
    return (f"<section class=card><h2>Settings</h2><table class=facts>"
            f"{_rows(atlas.get('settings') or {})}</table></section>")


def _preview(layer):
    """A row of the layer's strongest units, each a link to its unit view."""
    strongest = sorted(range(layer["units"]), key=lambda unit: (
        -site_pages.top_value(layer["top"][unit]), unit))[:PREVIEW_UNITS]
    cells = "".join(site_pages.cell(layer, unit) for unit in strongest)
    return site_pages.sprite_scope(layer, "preview", cells, height=PREVIEW_HEIGHT)


def _layer_row(layer):
    """A layer's row: its names (linked to its page), units, map size, silent units, preview."""
    silent = sum(1 for entries in layer["top"] if site_pages.is_silent(entries))
    page = site_pages.url(layer["page"])
    map_size = "×".join(str(side) for side in layer.get("map_size") or []) or "?"
    return (f'<tr><td><a class=layer href="{page}">{site_pages.text(layer["name"])}</a>'
            f'<div class=quiet>{site_pages.text(layer.get("keras_layer"))}</div></td>'
            f'<td class=num>{layer["units"]}</td><td class=num>{site_pages.text(map_size)}</td>'
            f'<td class=num>{silent}</td><td>{_preview(layer)}</td></tr>')


def _layers(atlas):
    """The table of layers."""
    rows = "".join(_layer_row(layer) for layer in atlas["layers"])
    return (f"<section class=card><h2>Layers</h2><p class=quiet>Each row shows the layer's "
            f"{PREVIEW_UNITS} strongest units (top projection beside its image patch); click "
            f"one to open it, or the layer's name for all of its units.</p>"
            f"<table class=layers><thead><tr><th>layer</th><th>units</th><th>map</th>"
            f"<th>never active</th><th>strongest units</th></tr></thead><tbody>{rows}</tbody>"
            f"</table></section>")


def index_page(atlas, assets):
    """The HTML of `index.html`: model, dataset, settings, and the layers with previews."""
    name = (atlas.get("model") or {}).get("name") or "model"
    body = (f"<div class=cards>{_model(atlas)}{_dataset(atlas)}{_settings(atlas)}</div>"
            f"{_layers(atlas)}")
    data = {"page": "index", "layers": site_pages.layer_list(atlas)}
    return site_pages.shell(f"Unit atlas: {name}", f"Unit atlas: {site_pages.text(name)}", body,
                            data, assets, crumbs="")


def _assets(out_dir):
    """Copies the package's static files to `out_dir/site/`; returns `{name: relative url}`,
    each with a hash of its content, so a browser never mixes a new page with an old script."""
    found = {}
    for name in sorted(os.listdir(STATIC)):
        source = os.path.join(STATIC, name)
        if not os.path.isfile(source) or name.startswith("."):
            continue
        with open(source, "rb") as stream:
            content = stream.read()
        outputs.write_bytes(os.path.join(out_dir, ASSETS, name), content)
        found[name] = f"{ASSETS}/{name}?v={hashlib.sha256(content).hexdigest()[:10]}"
    return found


def write_site(out_dir, atlas):
    """Writes the atlas's site into its folder: `index.html`, `<layer>.html` per layer, and
    the shared assets (`site/atlas.css`, `site/atlas.js`), each file atomically.

    The pages link the atlas's images relatively (strips, sprite sheets, sources, maximization
    images), so the folder can be moved, zipped or served by any static host as a whole.

    Args:
      out_dir: the atlas folder, holding the images that `atlas` names.
      atlas: the atlas record (the content of `atlas.json`: model, weights, dataset, settings,
        sources and layers, each layer with its units' top entries).

    Returns:
      The path of `index.html`.

    Raises:
      DeconvError: a file cannot be written (a full disk, no permission).
    """
    outputs.ensure_folder(out_dir)
    assets = _assets(out_dir)
    for layer in atlas["layers"]:
        outputs.write_bytes(os.path.join(out_dir, layer["page"]),
                            site_pages.layer_page(atlas, layer, assets).encode("utf-8"))
    path = os.path.join(out_dir, "index.html")
    outputs.write_bytes(path, index_page(atlas, assets).encode("utf-8"))
    return path

