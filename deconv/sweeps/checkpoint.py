"""Resumable sweeps: pass 1's running state saved atomically, guarded by a fingerprint.

The state (each sweep's running top-k, how far the image list has been read, what was skipped)
is written to `<out>/.deconv_state.npz` every few batches, by a temporary file and a rename, so a
process killed at any moment (even by SIGKILL) leaves the last complete state. The fingerprint
covers everything that decides pass 1's result: the sweeps, the model and its weights, the
preprocessing, the image list (paths, sizes, modification times), image size, aspect and batch
size. A run whose fingerprint differs refuses to resume.
"""
import hashlib
import io
import json
import os

import numpy as np

from deconv.errors import DeconvError
from deconv.io import outputs
from deconv.models import weights
from deconv.sweeps.scan import ScanState
from deconv.sweeps.topk import RunningTopK

FILE_NAME = ".deconv_state.npz"
DONE_NAME = ".deconv_done.json"


def fingerprint(described, paths):
    """Returns a hex digest of the run's description (a JSON-ready dict) and its image files."""
    digest = hashlib.sha256(json.dumps(described, sort_keys=True, default=str).encode())
    for path in paths:
        try:
            digest.update(json.dumps(weights.file_identity(path)).encode())
        except OSError:
            digest.update(f"{path} missing".encode())
    return digest.hexdigest()


def save(path, state, run_fingerprint):
    """Writes `state` (a `ScanState`) and its fingerprint to `path`, atomically."""
    outputs.write_bytes(path, state_bytes(state, run_fingerprint))


def state_bytes(state, run_fingerprint):
    """`state` (a `ScanState`) and its fingerprint as the bytes of an `.npz` file."""
    arrays = {"meta": np.array(json.dumps({
        "fingerprint": run_fingerprint, "cursor": state.cursor, "read": state.read,
        "skipped": state.skipped, "sweeps": len(state.topks)}))}
    for number, topk in enumerate(state.topks):
        for key, value in topk.state().items():
            arrays[f"topk{number}_{key}"] = value
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def load(path):
    """Returns `(fingerprint, ScanState)` saved at `path`, or None if there is no file.

    Raises:
      DeconvError: if the file exists but cannot be read.
    """
    if not os.path.exists(path):
        return None
    return state_from_bytes(path, path)


def state_from_bytes(source, name):
    """`(fingerprint, ScanState)` of `state_bytes`'s output; `source`: a path or a file object.

    Raises:
      DeconvError: `source` (called `name`) is not such a state.
    """
    try:
        with np.load(source, allow_pickle=False) as saved:
            meta = json.loads(str(saved["meta"]))
            topks = [RunningTopK.from_state({key: saved[f"topk{number}_{key}"]
                                             for key in ("k", "values", "images", "indices")})
                     for number in range(meta["sweeps"])]
    except Exception as error:  # a damaged file raises zipfile, EOF, key or value errors
        raise DeconvError(f"Cannot read the saved state {name}: {error or type(error).__name__}."
                          f" Start afresh with --restart.") from None
    state = ScanState(topks, meta["cursor"], meta["read"], [tuple(s) for s in meta["skipped"]])
    return meta["fingerprint"], state


def resume_or_start(path, run_fingerprint, fresh):
    """Returns the state to start pass 1 from: the saved one, or `fresh` (a new `ScanState`).

    Raises:
      DeconvError: if a saved state of a different run is there.
    """
    saved = load(path)
    if saved is None:
        return fresh
    saved_fingerprint, state = saved
    if saved_fingerprint != run_fingerprint:
        raise _refusal(os.path.dirname(path))
    return state


def _refusal(folder):
    return DeconvError(
        f"{folder or '.'} holds an unfinished run with a different config, model, weights or "
        f"image list, which cannot be resumed by this one. Pass --restart to discard it and "
        f"start afresh, or choose another --out.")


def save_done(folder, run_fingerprint, record):
    """Records that a dataset's run is complete (its outcome, JSON-ready), atomically."""
    outputs.write_json(os.path.join(folder, DONE_NAME), {"fingerprint": run_fingerprint, **record})


def load_done(folder, run_fingerprint):
    """Returns the record of a completed run in `folder` with this fingerprint, or None.

    Raises:
      DeconvError: if the record belongs to a different run.
    """
    path = os.path.join(folder, DONE_NAME)
    if not os.path.exists(path):
        return None
    try:
        with open(path, encoding="utf-8") as stream:
            record = json.load(stream)
    except (OSError, ValueError) as error:
        raise DeconvError(f"Cannot read {path}: {error}. Start afresh with --restart.") from None
    if record.get("fingerprint") != run_fingerprint:
        raise _refusal(folder)
    return record


def clear(folder):
    """Removes a run's saved state and completion record from `folder`."""
    for name in (FILE_NAME, DONE_NAME):
        if os.path.exists(os.path.join(folder, name)):
            os.remove(os.path.join(folder, name))


def remove_partial_files(folder):
    """Removes temporary files that a killed process left (`.NAME.*.part`, see outputs)."""
    if os.path.isdir(folder):
        for name in os.listdir(folder):
            if name.startswith(".") and name.endswith(".part"):
                os.remove(os.path.join(folder, name))
