"""Run configurations: a TOML file, or the runner's flags, turned into explicit arguments.

A configuration names the datasets, the model and weights, the output folder, and a list of
sweeps. Every key is checked: an unknown key or a wrong type is reported with the file and line.
Relative paths in a file are taken from the current working directory, like the flags.
"""
import dataclasses
import os
import re

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from deconv import limits
from deconv.core import preprocessing
from deconv.core import selection
from deconv.core.rules.base import RELU_RULES
from deconv.errors import DeconvError
from deconv.io import images as image_files
from deconv.io import render
from deconv.io import tiles


@dataclasses.dataclass
class DatasetConfig:
    """One image folder and how its images are read."""
    name: str
    images: str
    imtype: str = None
    size: int = 224
    aspect: str = "stretch"
    where_keys: dict = dataclasses.field(default_factory=dict)  # key -> "file:line: "


@dataclasses.dataclass
class SweepConfig:
    """One sweep entry: a layer; a map, a list of maps, `"all"` (every map) or None (all maps
    together); how many activations; and which datasets (None: every one)."""
    layer: str
    features: object = None
    top: int = 9
    per_image: int = 1
    mode: str = "activation"
    datasets: list = None
    where: str = ""  # "file:line: " of the entry, to prefix errors found later
    where_keys: dict = dataclasses.field(default_factory=dict)  # key -> "file:line: "

    def at(self, key):
        """"file:line: " of `key` in the file, else of the entry (or "" for flags)."""
        return self.where_keys.get(key, self.where)


@dataclasses.dataclass
class RunConfig:
    """Everything a run needs; `python -m deconv.run` builds one from a file and/or flags."""
    datasets: list
    sweeps: list
    out: str = "results"
    model: str = "vgg19"
    weights: str = "imagenet"
    seed: int = 0
    batch_size: int = 16
    normalize: str = "symmetric"
    min_tile: int = 64
    crop: str = "auto"
    rule: str = "deconvnet"
    preprocessing: str = "auto"
    include_top: bool = False
    tensorboard: str = None
    checkpoint_every: int = 10
    source: str = None
    dataset_defaults: dict = dataclasses.field(default_factory=dict)


_STR, _INT, _BOOL = (str,), (int,), (bool,)
_CHOICES = {
    "aspect": image_files.ASPECTS, "mode": selection.MODES, "normalize": render.NORMALISATIONS,
    "crop": tiles.CROPS,
    "rule": RELU_RULES, "preprocessing": ("auto", *preprocessing.SCHEMES),
}
_RUN_KEYS = {"out": _STR, "model": _STR, "weights": _STR, "seed": _INT, "batch_size": _INT,
             "normalize": _STR, "min_tile": _INT, "crop": _STR, "rule": _STR, "preprocessing": _STR,
             "include_top": _BOOL, "tensorboard": _STR, "checkpoint_every": _INT}
_DATASET_KEYS = {"name": _STR, "images": _STR, "imtype": _STR, "size": _INT, "aspect": _STR}
_SWEEP_KEYS = {"layer": _STR, "features": None, "top": _INT, "per_image": _INT, "mode": _STR,
               "datasets": None}
# Top-level defaults for every dataset / sweep that does not set its own.
_DEFAULT_KEYS = {"images": _STR, "imtype": _STR, "size": _INT, "aspect": _STR, "top": _INT,
                 "per_image": _INT, "mode": _STR}


def recorded(entry):
    """A dataset's or sweep's settings as a manifest records them (without file lines)."""
    return {key: value for key, value in dataclasses.asdict(entry).items()
            if not key.startswith("where")}


def _value_problem(key, value):
    """What is wrong with a well-typed value (not among the choices, outside its range), or
    None."""
    if key in _CHOICES and value not in _CHOICES[key]:
        return f"must be one of {', '.join(_CHOICES[key])}; received {value!r}."
    if key in limits.RANGES:
        return limits.problem(value, *limits.RANGES[key])
    if key == "name" and (not value.strip() or value in (".", "..") or "/" in value
                          or "\\" in value or "\0" in value):
        return (f"must be a plain folder name (the dataset's results go to <out>/<name>): no "
                f"'/', '\\', '.' or '..'; received {value!r}.")
    return None


def _key_lines(text):
    """Returns `{(table, index, key): line}` for `key = ...` lines, and table header lines."""
    lines, table, counts = {}, "", {}
    for number, line in enumerate(text.splitlines(), 1):
        header = re.match(r"^\s*\[\[?\s*([A-Za-z0-9_.-]+)\s*\]\]?", line)
        if header:
            table = header.group(1)
            counts[table] = counts.get(table, -1) + 1
            lines[(table, counts[table], None)] = number
            continue
        key = re.match(r"^\s*[\"']?([A-Za-z0-9_-]+)[\"']?\s*=", line)
        if key:
            lines.setdefault((table, counts.get(table, 0), key.group(1)), number)
    return lines


class _Checker:
    """Checks one file's tables, naming file and line in every error."""

    def __init__(self, path, text):
        self.path = path
        self.lines = _key_lines(text)

    def where(self, table, index, key=None):
        line = self.lines.get((table, index, key)) or self.lines.get((table, index, None))
        return f"{self.path}:{line}: " if line else f"{self.path}: "

    def check(self, values, allowed, table, index):
        label = f"[[{table}]] #{index + 1}" if table else "the top level"
        for key, value in values.items():
            if key not in allowed:
                raise DeconvError(f"{self.where(table, index, key)}unknown key {key!r} in {label}; "
                                  f"valid keys: {', '.join(sorted(allowed))}.")
            types = allowed[key]
            wrong_bool = isinstance(value, bool) and types != _BOOL
            if types is not None and (wrong_bool or not isinstance(value, types)):
                kind = {_INT: "an integer", _BOOL: "true or false"}.get(types, "a string")
                raise DeconvError(f"{self.where(table, index, key)}{key!r} must be {kind}; "
                                  f"received {type(value).__name__} {value!r}.")
            problem = _value_problem(key, value)
            if problem:
                raise DeconvError(f"{self.where(table, index, key)}{key!r} {problem}")

    def features(self, value, index):
        if value is None or value == "all":
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return [value]
        if isinstance(value, list) and value and all(
                isinstance(v, int) and not isinstance(v, bool) for v in value):
            return value
        raise DeconvError(f"{self.where('sweeps', index, 'features')}'features' must be a map id, "
                          f"a list of map ids or \"all\"; received {value!r}.")


def load(path):
    """Reads a TOML run configuration.

    Raises:
      DeconvError: unreadable file, invalid TOML, unknown keys, wrong types or values; the
        message names the file and the line.
    """
    try:
        with open(path, "rb") as stream:
            raw = stream.read()
        content = tomllib.loads(raw.decode("utf-8"))
    except OSError as error:
        raise DeconvError(f"Cannot read config {path!r}: {error.strerror}.") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise DeconvError(f"{path}: invalid TOML: {error}.") from None
    checker = _Checker(path, raw.decode("utf-8"))
    top = {k: v for k, v in content.items() if k not in ("datasets", "sweeps")}
    checker.check(top, {**_RUN_KEYS, **_DEFAULT_KEYS}, "", 0)
    defaults = {k: v for k, v in top.items() if k in _DEFAULT_KEYS}
    for table in ("datasets", "sweeps"):
        entries = content.get(table, [])
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise DeconvError(f"{checker.where(table, 0)}{table!r} must be an array of tables, "
                              f"written [[{table}]].")
    datasets = _datasets(checker, content.get("datasets", []), defaults)
    names = [dataset.name for dataset in datasets]
    if len(set(names)) != len(names):
        raise DeconvError(f"{path}: dataset names must differ; received {names}.")
    sweeps = _sweeps(checker, content.get("sweeps", []), defaults, names)
    return RunConfig(datasets, sweeps, source=path,
                     dataset_defaults={k: v for k, v in defaults.items()
                                       if k in _DATASET_KEYS and k != "images"},
                     **{k: v for k, v in top.items() if k in _RUN_KEYS})


def _lines(checker, table, index, entry, defaults, keys):
    """`{key: "file:line: "}` of the `keys` an entry sets, or inherits from the top level."""
    return {**{key: checker.where("", 0, key) for key in defaults if key in keys},
            **{key: checker.where(table, index, key) for key in entry}}


def _datasets(checker, entries, defaults):
    datasets = []
    for index, entry in enumerate(entries):
        checker.check(entry, _DATASET_KEYS, "datasets", index)
        values = {k: v for k, v in defaults.items() if k in _DATASET_KEYS} | entry
        if "images" not in values:
            raise DeconvError(f"{checker.where('datasets', index)}[[datasets]] #{index + 1} needs "
                              f"an 'images' folder.")
        values.setdefault("name", default_name(values["images"]))
        datasets.append(DatasetConfig(**values, where_keys=_lines(
            checker, "datasets", index, entry, defaults, _DATASET_KEYS)))
    if not entries and "images" in defaults:
        datasets.append(DatasetConfig(
            default_name(defaults["images"]),
            **{k: v for k, v in defaults.items() if k in _DATASET_KEYS},
            where_keys=_lines(checker, "", 0, {}, defaults, _DATASET_KEYS)))
    return datasets


def _sweeps(checker, entries, defaults, names):
    sweeps = []
    for index, entry in enumerate(entries):
        checker.check(entry, _SWEEP_KEYS, "sweeps", index)
        if "layer" not in entry:
            raise DeconvError(f"{checker.where('sweeps', index)}[[sweeps]] #{index + 1} needs a "
                              f"'layer'.")
        values = {k: v for k, v in defaults.items() if k in _SWEEP_KEYS} | entry
        values["features"] = checker.features(entry.get("features"), index)
        chosen = values.get("datasets")
        if chosen is not None and (not isinstance(chosen, list) or not all(
                isinstance(name, str) for name in chosen) or set(chosen) - set(names)):
            raise DeconvError(f"{checker.where('sweeps', index, 'datasets')}'datasets' must list "
                              f"dataset names among {names}; received {chosen!r}.")
        sweeps.append(SweepConfig(**values, where=checker.where("sweeps", index),
                                  where_keys=_lines(checker, "sweeps", index, entry, defaults,
                                                    _SWEEP_KEYS)))
    if not sweeps:
        raise DeconvError(f"{checker.path}: no [[sweeps]]: add at least one, e.g. [[sweeps]] "
                          f"layer = \"conv4_4\".")
    return sweeps


RUN_KEYS = tuple(_RUN_KEYS)
DATASET_KEYS = ("imtype", "size", "aspect")  # what a flag sets on every dataset
SWEEP_KEYS = ("top", "per_image", "mode")  # what a flag sets on every sweep


def where_images(images, where, error):
    """An error about a configuration's `images` folder, prefixed with its place in the file
    (`where`, "file:line: "; None for a flag), saying how a relative path is read."""
    if not where:
        return str(error)
    relative = "" if os.path.isabs(images) or os.path.exists(images) else (
        f" A relative path is read from the current folder ({os.getcwd()}), not the "
        f"configuration's.")
    return f"{where}images = {images!r}: {error}{relative}"


def default_name(images):
    """A dataset's name when none is given: its folder's."""
    return os.path.basename(os.path.normpath(os.path.abspath(images))) or "images"


def dataset_from(images, **values):
    """A `DatasetConfig` for one folder, named after it."""
    return DatasetConfig(default_name(images), images, **values)


def check(config):
    """Checks a `RunConfig` built from flags as a file would be checked (no line numbers).

    Raises:
      DeconvError: a value out of range or not among the valid choices.
    """
    entries = [(vars(config), _RUN_KEYS, "")] + [
        (vars(d), _DATASET_KEYS, f"dataset {d.name!r}: ") for d in config.datasets] + [
        (vars(s), _SWEEP_KEYS, f"sweep {s.layer!r}: ") for s in config.sweeps]
    for values, allowed, where in entries:
        for key in allowed:
            value = values.get(key)
            if value is None:
                continue
            problem = _value_problem(key, value)
            if problem:
                raise DeconvError(f"{where}--{key} {problem}")


def override(config, **values):
    """Returns `config` with the given run-level values, and dataset/sweep values applied to
    every dataset/sweep (what a flag given on the command line does to a file). A dataset
    whose folder is replaced by `images` is named after the new folder, unless the file named
    it.

    Raises:
      DeconvError: `images` given for a file with several datasets (they would all read it).
    """
    run = {k: v for k, v in values.items() if k in _RUN_KEYS}
    dataset_values = {k: v for k, v in values.items() if k in DATASET_KEYS}
    sweep_values = {k: v for k, v in values.items() if k in SWEEP_KEYS}
    if "images" in values and len(config.datasets) > 1:
        raise DeconvError(f"--images {values['images']} would replace the folders of all "
                          f"{len(config.datasets)} datasets of {config.source}: give --images "
                          f"only with a configuration of one dataset (or none).")
    datasets = []
    for dataset in config.datasets:
        changed = dict(dataset_values)
        if "images" in values:
            changed["images"] = values["images"]
            if "name" not in dataset.where_keys:  # named after its old folder: rename
                changed["name"] = default_name(values["images"])
        where = {k: v for k, v in dataset.where_keys.items() if k not in changed}
        datasets.append(dataclasses.replace(dataset, **changed, where_keys=where))
    sweeps = [dataclasses.replace(s, **sweep_values, where_keys={
        k: v for k, v in s.where_keys.items() if k not in sweep_values}) for s in config.sweeps]
    return dataclasses.replace(config, datasets=datasets, sweeps=sweeps,
                               dataset_defaults={**config.dataset_defaults, **dataset_values},
                               **run)
