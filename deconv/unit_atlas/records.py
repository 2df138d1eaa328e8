"""What an atlas folder holds and whether this run may add to it: the atlas's identity (model,
weights, dataset, settings), the record of each finished layer, and `atlas.json` assembled
from them.

One folder holds one atlas: another model, other weights, other images or other settings are
refused (not mixed) unless the run restarts it. Layers may be added later: each finished layer
has its own record, and `atlas.json` lists every layer recorded in the folder.
"""
import hashlib
import json
import os
import shutil

import numpy as np

from deconv.errors import DeconvError
from deconv.io import outputs
from deconv.sweeps import checkpoint
from deconv.unit_atlas import files

FORMAT, VERSION = "deconv-atlas", 1
# The settings that decide an atlas's content; the others (batch sizes, progress) do not.
DECIDING = ("top", "per_image", "size", "aspect", "normalize", "tile", "thumb", "crop")


def identity(record, net, settings, root, paths):
    """The atlas's identity: a JSON-ready dict of everything that decides its content."""
    return {
        "model": {"name": record["model"], "include_top": bool(record.get("include_top")),
                  "preprocessing": net.preprocessing.name, "rule": net.relu_rule},
        "weights": _weights_of(record),
        "dataset": {"root": os.path.abspath(root), "files": len(paths),
                    "fingerprint": checkpoint.fingerprint({}, paths)},
        "settings": {key: getattr(settings, key) for key in DECIDING},
    }


def in_memory(model):
    """The record of a model given as an object: its name, and a SHA-256 of its weights' values
    (so an atlas of other weights is still told apart)."""
    digest = hashlib.sha256()
    for weight in model.weights:
        digest.update(np.ascontiguousarray(weight.numpy()).tobytes())
    return {"model": model.name, "weights": "in memory",
            "weights_file": {"path": None, "bytes": None, "sha256": digest.hexdigest()}}


def _weights_of(record):
    """The weights as `atlas.json` names them: as given (`imagenet`, a file, `random`), and the
    file used (`file`, `bytes`, `sha256`) or the seed; a `.keras` model's own file too."""
    found = {"weights": record["weights"]}
    if "weights_file" in record:
        file = record["weights_file"]
        found.update({key: file[name] for key, name in (("file", "path"), ("bytes", "bytes"),
                                                        ("sha256", "sha256")) if file[name]})
    if "model_file" in record:
        found["model_file"] = record["model_file"]
    if "seed" in record:
        found["seed"] = record["seed"]
    return found


def _read_json(path):
    try:
        with open(path, encoding="utf-8") as stream:
            return json.load(stream)
    except (OSError, ValueError) as error:
        raise DeconvError(f"Cannot read {path}: {error}. Start afresh with --restart.") from None


def _difference(held, wanted):
    """The first difference between two identities, in words."""
    if held["model"] != wanted["model"] or held["weights"] != wanted["weights"]:
        return (f"the model {held['model']['name']} (weights {_weights(held)}), not "
                f"{wanted['model']['name']} (weights {_weights(wanted)})")
    if held["dataset"] != wanted["dataset"]:
        return (f"the {held['dataset']['files']} image files of {held['dataset']['root']} as "
                f"they were then; now {wanted['dataset']['files']} files of "
                f"{wanted['dataset']['root']}")
    changed = [f"{key} {held['settings'].get(key)!r} (now {wanted['settings'][key]!r})"
               for key in DECIDING if held["settings"].get(key) != wanted["settings"][key]]
    return "other settings: " + ", ".join(changed)


def _weights(held):
    weights = held["weights"]
    if weights.get("sha256"):
        return f"{weights['weights']}, sha256 {weights['sha256'][:12]}"
    return f"{weights['weights']}" + (f", seed {weights['seed']}" if "seed" in weights else "")


def check_claim(out_dir, wanted, restart=False, loaded=True):
    """`claim`'s checks. Before the weights load (`loaded` False), `wanted` may know them only
    as given (`weights`, `seed`, a `.keras` model's file): the files loaded are compared later.

    Returns:
      Whether `out_dir` holds this atlas already.

    Raises:
      DeconvError: as `claim`.
    """
    path = files.inside(out_dir, files.IDENTITY)
    if restart:
        return False
    if os.path.exists(path):
        held = _read_json(path)
        known = held if loaded else {**held, "weights": {
            key: value for key, value in held["weights"].items() if key in wanted["weights"]}}
        if known != wanted:
            raise DeconvError(
                f"{out_dir} holds an atlas of {_difference(known, wanted)}: it is not mixed "
                f"with this one. Choose another --out, or pass --restart to discard it.")
        return True
    _check_empty(out_dir)
    outputs.check_folder(out_dir)
    return False


def _check_empty(out_dir):
    """Raises DeconvError unless `out_dir` is missing or holds nothing but the mark."""
    others = sorted(set(os.listdir(out_dir)) - {outputs.MARKER}) if os.path.isdir(out_dir) else []
    if others:
        raise DeconvError(f"{out_dir} is not empty and holds no atlas ({', '.join(others[:3])}"
                          f"{', ...' if len(others) > 3 else ''}): an atlas needs a new or empty "
                          f"folder; choose another --out.")


def claim(out_dir, wanted, restart=False):
    """Makes `out_dir` the folder of the atlas `wanted` (an `identity`).

    Raises:
      DeconvError: `out_dir` holds an atlas of another model, weights, dataset or settings, and
        `restart` is False (the message says what differs); or it holds other files.
    """
    if check_claim(out_dir, wanted, restart):
        return
    path = files.inside(out_dir, files.IDENTITY)
    if restart:
        remove(out_dir)
    _check_empty(out_dir)
    outputs.ensure_folder(out_dir)
    outputs.write_json(path, wanted)


def remove(out_dir):
    """Removes an atlas's own files and folders from `out_dir` (`files.OWNED`, the layer
    pages), and nothing else."""
    if not os.path.isdir(out_dir):
        return
    layers = os.path.join(out_dir, "layers")
    pages = ([files.page(name[:-len(".json")]) for name in os.listdir(layers)
              if name.endswith(".json")] if os.path.isdir(layers) else [])
    for name in (*files.OWNED, *pages):
        path = os.path.join(out_dir, name)
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.exists(path):
            os.remove(path)


def fingerprint_of(wanted):
    """A short fingerprint of an identity, stamped on each layer's record."""
    return checkpoint.fingerprint(wanted, [])


def save_layer(out_dir, record):
    """Writes a finished layer's record (atomically: a layer is done once this file exists)."""
    outputs.write_json(files.inside(out_dir, files.layer_record(record["name"])), record)


def load_layer(out_dir, layer, fingerprint):
    """The record of `layer` finished by this atlas, or None."""
    path = files.inside(out_dir, files.layer_record(layer))
    if not os.path.exists(path):
        return None
    record = _read_json(path)
    return record if record.get("fingerprint") == fingerprint else None


def recorded_layers(out_dir, fingerprint, order):
    """Every layer finished in `out_dir`, as records in the order of `order` (model order)."""
    folder = os.path.join(out_dir, "layers")
    names = ([name[:-len(".json")] for name in os.listdir(folder) if name.endswith(".json")]
             if os.path.isdir(folder) else [])
    position = {name: number for number, name in enumerate(order)}
    records = [load_layer(out_dir, name, fingerprint) for name in names]
    return sorted((r for r in records if r is not None),
                  key=lambda r: position.get(r["keras_layer"], len(order)))


LAYER_KEYS = ("name", "keras_layer", "units", "map_size", "page", "strips", "maximized",
              "sprites", "top", "image_dependence")  # the last absent from older atlases


def assemble(wanted, records, dataset, sources):
    """Returns `atlas.json`'s content: the identity, the dataset's counts (`dataset`: `read`,
    `skipped` as `[{path, reason}]`, `ignored_by_extension`), the source images
    (`{number: relative path}`) and every recorded layer."""
    return {
        "format": FORMAT, "version": VERSION,
        "model": wanted["model"], "weights": wanted["weights"],
        "dataset": {"root": wanted["dataset"]["root"], "files": wanted["dataset"]["files"],
                    **dataset},
        "settings": {**wanted["settings"],
                     "maximize": any(r["maximized"] for r in records)},
        "sources": sources,
        "layers": [{**{key: record[key] for key in LAYER_KEYS if key in record},
                    **({"maximization": record["maximization"]}
                       if record.get("maximization") else {})} for record in records],
    }
