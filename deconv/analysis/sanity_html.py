"""A sanity check's folder: `report.json`, the figures, and `report.html`, which shows the
verdicts, the table of numbers, the figures and each image's maps at each randomisation step."""
import html
import os
import time

from deconv.analysis import sanity_figures
from deconv.analysis import sanity_report
from deconv.core import names as names_lib
from deconv.io import outputs

FIGURES = {"cascading": "similarity_cascading.png", "independent": "similarity_independent.png",
           "curves": "deletion_insertion.png"}
METRIC_HEADS = (("spearman_abs", "Spearman |map|"), ("spearman", "Spearman signed"),
                ("ssim", "SSIM"), ("hog", "HOG"))
STYLE = """body{font-family:sans-serif;margin:1.5em;max-width:1400px;color:#222}
table{border-collapse:collapse;font-size:0.9em}td,th{border:1px solid #ccc;padding:3px 7px;
text-align:right}th{background:#f3f3f3}td:first-child,.words{text-align:left}
img{max-width:100%;border:1px solid #ddd;margin:4px 0}.note{color:#555;font-size:0.9em}"""


def map_file(number, image_name):
    """The file of image `number`'s grid of maps."""
    stem = os.path.splitext(os.path.basename(image_name))[0]
    return f"maps_{number:03d}_{''.join(c if c.isalnum() or c in '-_' else '_' for c in stem)}.png"


def files(out, image_names, cascading=True, independent=True):
    """Every path `write` writes in `out`."""
    kinds = ["curves"] + ["cascading"] * cascading + ["independent"] * independent
    return [os.path.join(out, name) for name in (
        "report.json", "report.html", *(FIGURES[kind] for kind in kinds),
        *(map_file(number, name) for number, name in enumerate(image_names)))]


def _rows(content):
    table = content["table"]
    lines = []
    for method, row in table.items():
        cells = [f"{row[metric]['mean']:.2f} ± {row[metric]['std']:.2f}"
                 if metric in row and row[metric]["mean"] is not None else "—"
                 for metric, _ in METRIC_HEADS]
        cells += [f"{row[kind]:.3f} <span class=note>(random {row[kind + '_random']:.3f})</span>"
                  for kind in ("deletion", "insertion")]
        lines.append(f"<tr><td>{html.escape(sanity_report.DESCRIBED.get(method, method))}</td>"
                     + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>")
    heads = "".join(f"<th>{head}</th>" for _, head in METRIC_HEADS)
    return (f"<table><tr><th>method</th>{heads}<th>deletion area ↓</th>"
            f"<th>insertion area ↑</th></tr>{''.join(lines)}</table>")


def _dependence(content):
    found = content["image_dependence"]
    rows = "".join(
        f"<tr><td>{html.escape(relu_rule)}</td><td>{_number(one['between_images'])}</td>"
        f"<td>{_number(one['to_blank'])}</td><td>{len(one['units'])}</td>"
        f"<td class=words>{html.escape(one.get('derived', {}).get('verdict', '—'))}</td></tr>"
        for relu_rule, one in found.items())
    unmeasured = ("" if any(one["units"] for one in found.values()) else
                  "<p class=note>Not measured (it needs two images or more).</p>")
    return (f"{unmeasured}<table><tr><th>rule</th><th>between images</th>"
            f"<th>to a blank image</th><th>units</th><th class=words>what the graph allows "
            f"(<code>Deconvnet.image_dependence</code>)</th></tr>{rows}</table>")


def _number(value):
    return "—" if value is None else f"{value:.3f}"


def page(content, image_names):
    """The HTML of `report.html` from the `summary` `content`."""
    title = (f"Sanity checks: {os.path.basename(str(content.get('model', 'model')))}, "
             f"{content['layer']} ({content['unit']})")
    described = ", ".join(f"{key} {html.escape(str(content[key]))}"
                          for key in ("model", "weights") if key in content)
    figures = "".join(f"<h3>{html.escape(head)}</h3><img src='{FIGURES[kind]}' alt='{kind}'>"
                      for kind, head in (("cascading", "Cascading randomisation, top block down"),
                                         ("independent", "Each block randomised alone"),
                                         ("curves", "Deletion and insertion"))
                      if kind == "curves" or content[kind] is not None)
    grids = "".join(f"<h3>{html.escape(os.path.basename(name))}</h3>"
                    f"<img src='{map_file(number, name)}' alt='maps of {html.escape(name)}'>"
                    for number, name in enumerate(image_names))
    verdicts = "".join(f"<li>{html.escape(text)}</li>" for text in content["verdicts"].values())
    return f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>
<h1>{html.escape(title)}</h1>
<p class=note>{described}; {len(image_names)} images; blocks from {content['block_scheme']};
randomisation {content['settings']['randomisation']}, seed {content['settings']['seed']};
the checks took {content['seconds']['total']:.0f} s. Every number is in
<a href="report.json">report.json</a>.</p>
<h2>Verdicts</h2><ul>{verdicts}</ul>
<h2>After randomising every block, and deletion and insertion</h2>{_rows(content)}
<p class=note>Similarity to the original maps: mean ± standard deviation over the images
(Adebayo et al., NeurIPS 2018). Areas under the {content['perturbation']['score']} curves
(Petsiuk et al., BMVC 2018): a good order deletes what matters first (small area) and inserts it
first (large area).</p>
<h2>Image dependence (deconvnet and guided projections)</h2>{_dependence(content)}
<p class=note>Measured: the mean correlation of one unit's projections between images, and
with a blank image's; near 1, the picture does not depend on the image. Derived: the max-pool
switches and the layers reversed by their gradient between the layer and the pixels, the only
things that can tie a deconvnet projection to the image.</p>
<h2>Figures</h2>{figures}
<h2>Each image's maps, as the blocks are randomised</h2>{grids}
</body></html>
"""


def write(out, images, report, image_names, described, class_names=None):
    """Writes `report.json`, the figures, a grid of maps per image and `report.html` in `out`,
    each atomically; returns the summary written."""
    outputs.ensure_folder(out)
    began = time.perf_counter()
    content = sanity_report.summary(report, image_names, class_names, **described)
    title = (f"{os.path.basename(str(described.get('model', '')))} "
             f"({os.path.basename(str(described.get('weights', '')))}), "
             f"{names_lib.short(report.target.layer)}")
    for kind in ("cascading", "independent"):
        if getattr(report, kind) is not None:
            sanity_figures.similarity(os.path.join(out, FIGURES[kind]), getattr(report, kind),
                                      f"{title}: {kind} randomisation")
    sanity_figures.curves(os.path.join(out, FIGURES["curves"]), report.curves, title)
    for number, (image, name) in enumerate(zip(images, image_names)):
        sanity_figures.map_grid(os.path.join(out, map_file(number, name)), image, report, number,
                                f"{os.path.basename(name)}: {title}")
    content["seconds"]["figures"] = round(time.perf_counter() - began, 2)
    content["files"] = [os.path.basename(path) for path in files(
        out, image_names, report.cascading is not None, report.independent is not None)]
    outputs.write_json(os.path.join(out, "report.json"), content)
    outputs.write_bytes(os.path.join(out, "report.html"), page(content, image_names).encode())
    return content
