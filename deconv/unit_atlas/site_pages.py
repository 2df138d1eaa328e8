"""The pieces of the unit atlas's pages: the page shell, sprite-sheet thumbnails, the data a
page embeds, and `<layer>.html` (see `deconv.unit_atlas.site`).

Every string taken from the atlas is escaped (`text`, `url`), and the JSON a page embeds is safe
inside `<script>` (`script_json`), so a file or layer name can never become markup.
"""
import html
import json
import math
import os
import urllib.parse

VALUE_DIGITS = 6  # significant digits of the activation values a page embeds


def text(value):
    """`value` as HTML text: escaped, and bytes that are not UTF-8 (surrogate-escaped file
    names) shown as \ufffd."""
    value = "" if value is None else str(value)
    return html.escape(value.encode("utf-8", "surrogateescape").decode("utf-8", "replace"))


def url(path):
    """A relative path as an attribute value: percent-encoded (so `#`, `?`, `%` and quotes in a
    name are literal), then escaped; `{unit}` is kept for the pages' script to fill in."""
    return html.escape(urllib.parse.quote(os.fsencode(path), safe="/{}"))


def script_json(data):
    """`data` as JSON that is safe inside `<script>`: `<`, `>` and `&` escaped as `\\u003c`
    and so on, non-ASCII as `\\u` escapes."""
    encoded = json.dumps(data, ensure_ascii=True, separators=(",", ":"), allow_nan=False)
    return encoded.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _number(value):
    """An activation for a page: `VALUE_DIGITS` significant digits, or None if not finite."""
    value = float(value)
    return float(f"{value:.{VALUE_DIGITS}g}") if math.isfinite(value) else None


def top_value(entries):
    """A unit's strongest activation (its rank-1 entry's value), or -inf without entries."""
    return float(entries[0]["value"]) if entries else -math.inf


def is_silent(entries):
    """Whether a unit never activates on the dataset: every entry's value is <= 0."""
    return all(float(entry["value"]) <= 0 for entry in entries)


def layer_list(atlas):
    """What each page's search box needs: every layer's name, Keras name, units and page."""
    return [{"name": layer["name"], "keras": layer.get("keras_layer") or layer["name"],
             "units": layer["units"], "page": urllib.parse.quote(os.fsencode(layer["page"]))}
            for layer in atlas["layers"]]


def shell(title, heading, body, data, assets, crumbs):
    """A complete page: header with the search box, `body`, the embedded `data` and the
    shared assets (`{name: relative url}`)."""
    example = data["layers"][0]["name"] if data["layers"] else "conv1_1"
    return (f'<!DOCTYPE html><html lang=en><head><meta charset=utf-8><meta name=viewport '
            f'content="width=device-width, initial-scale=1"><title>{text(title)}</title>'
            f'<link rel=stylesheet href="{html.escape(assets["atlas.css"])}"></head><body>'
            f'<header class=top><div class=bar><nav class=crumbs><a href="index.html">Unit '
            f'atlas</a>{crumbs}</nav><form id=search class=search role=search '
            f'autocomplete=off><input id=search-box type=search spellcheck=false '
            f'placeholder="layer/unit, e.g. {text(example)}/0" '
            f'aria-label="Go to a layer or a unit"><button type=submit>Go</button></form>'
            f'</div><p id=search-message class=message role=alert hidden></p></header>'
            f'<main><h1>{heading}</h1>{body}</main>'
            f'<script type="application/json" id=atlas-data>{script_json(data)}</script>'
            f'<script src="{html.escape(assets["atlas.js"])}"></script></body></html>\n')


def cell(layer, unit, href=None):
    """A unit's thumbnail: its cell of the layer's sprite sheet (a CSS background that the
    pages' script sets only when the cell scrolls into view), its id, and a link to it."""
    sprites = layer["sprites"]
    thumb = sprites["thumb"]
    sheet, index = divmod(unit, sprites["per_sheet"])
    row, column = divmod(index, sprites["columns"])
    entries = layer["top"][unit]
    silent = is_silent(entries)
    value = _number(top_value(entries)) if entries else None
    title = f"unit {unit}: " + ("never active" if silent else f"top {value:.4g}")
    link = href if href is not None else url(layer["page"]) + f"#unit-{unit}"
    return (f'<a class="cell{" silent" * silent}" href="{link}" data-unit={unit} '
            f'data-sheet={sheet} data-top="{"" if value is None else value}" title="{title}">'
            f'<span class=thumb><span class=sprite style="background-image:var(--sheet-{sheet});'
            f'background-position:{-2 * thumb * column}px {-thumb * row}px"></span></span>'
            f'<span class=id>{unit}{"<small> · off</small>" * silent}</span></a>')


def sprite_scope(layer, kind, cells, attributes="", height=None):
    """`cells` inside the element that holds the layer's sprite sheets' urls (`data-sprites`):
    the script sets `--sheet-<n>` on it when a cell of sheet n comes into view. The cells are
    shown `height` px high (default: the sheets' own size)."""
    thumb = layer["sprites"]["thumb"]
    scale = 1 if height is None else height / thumb
    sizes = (f"--thumb-width:{2 * thumb * scale:.4g}px;--thumb-height:{thumb * scale:.4g}px;"
             f"--sprite-width:{2 * thumb}px;--sprite-height:{thumb}px;--sprite-scale:{scale:.4g}")
    sheets = [urllib.parse.quote(os.fsencode(path)) for path in layer["sprites"]["files"]]
    return (f'<div class="sprites {kind}" style="{sizes}" data-sprites="'
            f'{html.escape(json.dumps(sheets))}"{attributes}>{cells}</div>')


def _entries(entries, images):
    """A unit's entries, compact: `[value, image, source, y, x, top, left, bottom, right]`
    (the receptive field), then, where the tiles show another box of the image (crop `image`
    or `effective`), that box; `image` an index into `images` (filled as names are first
    seen)."""
    rows = []
    for entry in entries:
        name = entry["image"]
        if name not in images:
            images[name] = len(images)
        row = [_number(entry["value"]), images[name], int(entry["source"]),
               *map(int, entry["position"]), *map(int, entry["box"])]
        if entry.get("crop") not in (None, "theoretical"):
            row += list(map(int, entry["crop_box"]))
        rows.append(row)
    return rows


def layer_data(atlas, layer):
    """What `<layer>.html` embeds: the layer list (for search), this layer's image patterns
    and sizes, its units' entries, and the image names they use (once each)."""
    settings = atlas.get("settings") or {}
    images = {}
    top = [_entries(entries, images) for entries in layer["top"]]
    tile = settings.get("tile") or 96
    return {"page": "layer", "layers": layer_list(atlas),
            "layer": {"name": layer["name"], "keras": layer.get("keras_layer") or layer["name"],
                      "units": layer["units"], "page": urllib.parse.quote(
                          os.fsencode(layer["page"])),
                      "strips": urllib.parse.quote(os.fsencode(layer["strips"]), safe="/{}"),
                      "maximized": None if not layer.get("maximized") else urllib.parse.quote(
                          os.fsencode(layer["maximized"]), safe="/{}"),
                      "tile": tile, "size": settings.get("size") or 224},
            "images": [name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
                       for name in images], "top": top}


def _unit_view(layer):
    """The unit view's skeleton, which the script fills in when a unit opens."""
    name = text(layer["name"])
    return (f'<section id=unit-view hidden aria-live=polite><nav class=unit-nav>'
            f'<a id=to-grid href="#">← all {name} units</a><span class=spacer></span>'
            f'<button type=button id=prev title="previous unit (←)">‹ prev</button>'
            f'<button type=button id=next title="next unit (→)">next ›</button></nav>'
            f'<h2 id=unit-title></h2><p id=unit-summary class=quiet></p>'
            f'<div class=unit-body><div><p class=legend>Each entry: the projection of the '
            f'unit\'s activation back to pixel space (left) beside the image patch under it '
            f'(right). Hover or focus an entry to see the whole image.</p><ol id=entries></ol>'
            f'</div><aside class=side><figure id=source class="source empty"><div class=frame>'
            f'<img id=source-img alt=""><div id=source-box></div></div>'
            f'<figcaption id=source-caption>Hover an entry to see its source image with the '
            f'receptive field.</figcaption></figure><figure id=maximized class=maximized hidden>'
            f'<img alt="activation maximization"><figcaption>activation maximization'
            f'</figcaption></figure></aside></div></section>')


def layer_page(atlas, layer, assets):
    """The HTML of `<layer>.html`: every unit's thumbnail, sortable, and the unit view."""
    name, keras = layer["name"], layer.get("keras_layer") or layer["name"]
    silent = sum(1 for entries in layer["top"] if is_silent(entries))
    map_size = "×".join(str(side) for side in layer.get("map_size") or [])
    facts = [f"{layer['units']} units", f"map {map_size}" if map_size else "",
             f"top {(atlas.get('settings') or {}).get('top', '?')} per unit",
             f"{silent} never active" if silent else "every unit active"]
    cells = "".join(cell(layer, unit, href=f"#unit-{unit}") for unit in range(layer["units"]))
    body = (f'<div id=grid-view><div class=toolbar><p class=quiet>'
            f'{text(" · ".join(fact for fact in facts if fact))}</p><span class=spacer></span>'
            f'<span class=quiet>Sort:</span><button type=button data-sort=id aria-pressed=true>'
            f'by id</button><button type=button data-sort=top aria-pressed=false>by top value'
            f'</button></div>{sprite_scope(layer, "grid", cells, " id=grid")}</div>'
            f'{_unit_view(layer)}')
    dependence = layer.get("image_dependence")
    if dependence:
        kind = "warning" if dependence["independent"] else "quiet"
        body = (f'<p class="{kind} dependence">{text(dependence["rule"])} projections of '
                f'{text(name)} {text(dependence["verdict"])}</p>' + body)
    heading = text(name) + ("" if keras == name else f" <small>{text(keras)}</small>")
    crumbs = f' › <a href="{url(layer["page"])}">{text(name)}</a>'
    return shell(f"{name}: unit atlas", heading, body, layer_data(atlas, layer), assets,
                 crumbs)
