"""A unit atlas folder (`python -m deconv.atlas`) served read-only beside the live explorer:
a unit's dataset top-k from its `atlas.json`, and the folder's files, never one outside it.

A file is served only if its path, every link resolved, lies inside the folder: `..`, absolute
paths, hidden files (the atlas's own state) and links that lead out are refused.
"""
import json
import os

from deconv.core import names
from deconv.errors import DeconvError
from deconv.unit_atlas import files as atlas_files
from deconv.unit_atlas import records


class Refused(DeconvError):
    """A path that leads outside the atlas folder, or to a file it does not serve."""


def _model(name, described):
    return f"{name!r}" + (" with its classifier" if described.get("include_top") else "")


class AtlasFolder:
    """The atlas in folder `root`.

    Raises:
      DeconvError: `root` is not a folder holding an `atlas.json` of deconv's atlas format.
    """

    def __init__(self, root):
        if not os.path.isdir(root):
            raise DeconvError(f"--atlas {root!r} is not a folder (make an atlas with python -m "
                              f"deconv.atlas --out FOLDER).")
        self.root = os.path.realpath(root)
        path = os.path.join(self.root, atlas_files.ATLAS_JSON)
        try:
            with open(path, encoding="utf-8") as stream:
                atlas = json.load(stream)
        except FileNotFoundError:
            raise DeconvError(f"--atlas {root!r} holds no {atlas_files.ATLAS_JSON}: is it the "
                              f"--out folder of python -m deconv.atlas?") from None
        except (OSError, ValueError) as error:
            raise DeconvError(f"Cannot read {path}: {error}.") from None
        if not isinstance(atlas, dict) or atlas.get("format") != records.FORMAT:
            raise DeconvError(f"{path} is not a deconv atlas (its format is not "
                              f"{records.FORMAT!r}).")
        self.atlas = atlas
        self._layers = {}
        for layer in atlas.get("layers", []):
            self._layers[layer["keras_layer"]] = self._layers[layer["name"]] = layer

    @property
    def layer_names(self):
        """The atlas's layers, paper style where they have such a name."""
        return [layer["name"] for layer in self.atlas.get("layers", [])]

    def unit(self, layer, unit):
        """What the atlas holds of map `unit` of `layer` (a Keras or paper-style name), as
        JSON-ready values, or None if the atlas lacks the layer.

        Returns:
          `{"layer", "unit", "strip", "maximized", "maximization", "tile", "rule", "entries"}`:
          the unit's strip (`k` projections over `k` image patches, `tile` pixels each) and
          feature visualization as paths inside the folder (or None), how that was made and
          its activation's ratio to the top-1 (`param`, `steps`, `ratio`; or None), and its
          ranked `entries`
          (`image`, `source`, `position`, `value`, `box`, `box_original`).
        """
        record = self._layers.get(layer) or self._layers.get(names.short(layer))
        if record is None:
            return None
        if not 0 <= unit < record["units"]:
            raise DeconvError(f"Unit {unit} is out of range for the atlas's layer "
                              f"{record['name']!r}, which has {record['units']} units.")
        maximized = record.get("maximized")
        made = record.get("maximization")
        return {"layer": record["name"], "unit": unit,
                "strip": record["strips"].format(unit=unit),
                "maximized": maximized.format(unit=unit) if maximized else None,
                "maximization": None if not made else {
                    "param": made["param"], "steps": made["steps"],
                    "ratio": made["ratio"][unit]},
                "tile": self.atlas.get("settings", {}).get("tile"),
                "rule": self.atlas.get("model", {}).get("rule"),
                "entries": record["top"][unit]}

    def file(self, relative):
        """The path of the folder's file `relative` (`/`-separated).

        Raises:
          Refused: the path leads outside the folder (`..`, absolute, a link out) or names a
            hidden file; FileNotFoundError: no such file inside it.
        """
        parts = relative.split("/")
        if ("\x00" in relative or "\\" in relative or relative.startswith("/")
                or any(part in ("", ".", "..") or part.startswith(".") for part in parts)):
            raise Refused(f"Refused path {relative!r}: only the atlas folder's own files are "
                          f"served.")
        full = os.path.realpath(os.path.join(self.root, *parts))
        if os.path.commonpath([self.root, full]) != self.root:
            raise Refused(f"Refused path {relative!r}: it leads outside the atlas folder.")
        if not os.path.isfile(full):
            raise FileNotFoundError(relative)
        return full

    def mismatch(self, record, size=None, preprocessing=None, same_model=None):
        """Why the atlas may not show the served network (another model, classifier,
        preprocessing, weights or image size), in words, or None.

        Args:
          record: what `deconv._net.load_net`'s loader returned.
          size, preprocessing: the served image size and the name of its preprocessing, if known.
          same_model: whether two model names are one model (any spelling); default: equal.
        """
        model = self.atlas.get("model", {})
        weights = self.atlas.get("weights", {})
        same = same_model or (lambda a, b: a == b)
        if not same(model.get("name"), record.get("model")) or bool(
                model.get("include_top")) != bool(record.get("include_top")):
            return (f"the atlas was made with model {_model(model.get('name'), model)}, the "
                    f"server runs {_model(record.get('model'), record)}")
        if preprocessing and model.get("preprocessing") not in (None, preprocessing):
            return (f"the atlas was made with preprocessing {model['preprocessing']!r}, the "
                    f"server uses {preprocessing!r}")
        held_file = (weights.get("model_file") or {}).get("sha256")
        served_file = (record.get("model_file") or {}).get("sha256")
        if held_file and served_file and held_file != served_file:
            return (f"the atlas was made from another model file (SHA-256 {held_file[:12]}...), "
                    f"the server runs {served_file[:12]}...")
        made_at = self.atlas.get("settings", {}).get("size")
        if size and made_at and made_at != size:
            return f"the atlas was made at --size {made_at}, the server runs at --size {size}"
        held = weights.get("sha256")
        served = (record.get("weights_file") or {}).get("sha256")
        if held and served and held != served:
            return (f"the atlas was made with other weights (SHA-256 {held[:12]}...), the "
                    f"server runs {served[:12]}...")
        if "seed" in weights and weights.get("seed") != record.get("seed"):
            return (f"the atlas was made with random weights of seed {weights['seed']}, the "
                    f"server runs {record.get('weights')} (seed {record.get('seed')})")
        return None
