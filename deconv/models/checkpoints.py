"""Checkpoint files of a model in training: finding them (a folder's in natural order, or a list)
and loading their weights into a model, every layer's shapes checked first. Feature evolution
(`deconv.analysis.evolution`) reads one per column.
"""
import os
import re
import tempfile
import zipfile

from deconv.errors import DeconvError
from deconv.models import weights as weight_files

# Checkpoint files read, longest suffix first: Keras weights files, whole `.keras` models (their
# weights only), and `vgg19.npy`-style dicts.
CHECKPOINT_TYPES = (".weights.h5", ".h5", ".hdf5", ".keras", ".npy")


def _natural_key(path):
    return [int(part) if part.isdigit() else part.lower()
            for part in re.split(r"(\d+)", os.path.basename(path))]


def checkpoint_name(path):
    """The column label of a checkpoint file: its name without folder and type."""
    name = os.path.basename(os.fspath(path))
    for suffix in CHECKPOINT_TYPES:
        if name.lower().endswith(suffix):
            return name[:-len(suffix)]
    return name


def checkpoint_files(checkpoints):
    """Returns the checkpoint paths: a folder's files of `CHECKPOINT_TYPES` in natural order
    (`epoch_2` before `epoch_10`), or the given paths (a list, or one comma-separated string)
    in their order.

    Raises:
      DeconvError: an empty list, a missing file, or a folder without checkpoints.
    """
    if isinstance(checkpoints, (str, os.PathLike)) and os.path.isdir(checkpoints):
        folder = os.fspath(checkpoints)
        found = sorted((os.path.join(folder, name) for name in os.listdir(folder)
                        if name.lower().endswith(CHECKPOINT_TYPES)), key=_natural_key)
        if not found:
            raise DeconvError(f"No checkpoints in folder {folder!r}: it needs files ending in "
                              f"{', '.join(CHECKPOINT_TYPES)}.")
        return found
    if isinstance(checkpoints, str):
        checkpoints = [part.strip() for part in checkpoints.split(",") if part.strip()]
    paths = [os.fspath(path) for path in checkpoints or []]
    if not paths:
        raise DeconvError("No checkpoints given: pass weight files (a list, or comma-separated) "
                          "or a folder of them.")
    for path in paths:
        if not os.path.isfile(path):
            raise DeconvError(f"Checkpoint not found: {path!r}.")
    return paths


def read_checkpoint(model, path):
    """Returns `{layer name: arrays}` of a checkpoint for `model`; a `.keras` file gives the
    weights it holds (`model.weights.h5` inside), never its code or configuration."""
    if not path.lower().endswith(".keras"):
        return weight_files.read_weights(path, model)
    try:
        with zipfile.ZipFile(path) as archive, tempfile.TemporaryDirectory() as folder:
            archive.extract("model.weights.h5", folder)
            return weight_files.read_weights(os.path.join(folder, "model.weights.h5"), model)
    except (zipfile.BadZipFile, KeyError, OSError) as error:
        raise DeconvError(f"Cannot read checkpoint {path}: not a Keras 3 .keras file with "
                          f"model.weights.h5 inside ({error}).") from None


def load_checkpoint(model, path):
    """Loads a checkpoint into `model`, every layer's shapes checked first (see
    `deconv.models.weights.assign`: weights of layers the model lacks, e.g. a classifier's head,
    are ignored)."""
    weight_files.assign(model, read_checkpoint(model, path), path)
