"""Where each of an atlas's files lives inside its folder: one place for every name, shared by
the pipeline that writes them and the site that links to them (see /tmp contract in README)."""
import os

ATLAS_JSON = "atlas.json"
IDENTITY = ".deconv_atlas.json"  # what this folder's atlas is of (model, weights, dataset, ...)
STATE = ".deconv_state.npz"  # pass 1's saved state while it runs
# The folders and files of an atlas, removed by `--restart` (and nothing else).
OWNED = ("layers", "units", "sprites", "sources", "maximized", "site", ATLAS_JSON, IDENTITY,
         STATE, "index.html")


def layer_record(layer):
    """The record of a finished layer (its ranked entries and files), relative."""
    return f"layers/{layer}.json"


def layer_scan(layer):
    """Pass 1's result for a layer (its running top-k), kept until its pass 2 is done."""
    return f"layers/{layer}.topk.npz"


def strip_pattern(layer):
    """A unit's strip of k projections over k patches: the pattern with `{unit}`."""
    return f"units/{layer}/{{unit}}.jpg"


def sprite(layer, sheet):
    """Thumbnail sheet `sheet` of a layer."""
    return f"sprites/{layer}_{sheet}.jpg"


def source(number):
    """Image `number` of the dataset (its index in the sorted file list), as the net saw it."""
    return f"sources/{number}.jpg"


def maximized_pattern(layer):
    """A unit's activation-maximization image: the pattern with `{unit}`."""
    return f"maximized/{layer}/{{unit}}.png"


def page(layer):
    """The layer's page of the site."""
    return f"{layer}.html"


def inside(out_dir, relative):
    """The path of `relative` (one of the names above) in the atlas folder `out_dir`."""
    return os.path.join(out_dir, *relative.split("/"))
