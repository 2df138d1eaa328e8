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

from deconv import outputs
from deconv import weights
from deconv.errors import DeconvError
from deconv.sweep import ScanState
from deconv.topk import RunningTopK

FILE_NAME = ".deconv_state.npz"


def fingerprint(described, paths):
    """Returns a hex digest of the run's description (a JSON-ready dict) and its image files."""
    digest = hashlib.sha256(json.dumps(described, sort_keys=True, default=str).encode())
    for path in paths:
        try:
            digest.update(json.dumps(weights.file_identity(path)).encode())
        except OSError:
            digest.update(f"{path} missing".encode())
    return digest.hexdigest()


def save(path, state, print_):
    """Writes `state` (a `ScanState`) and its fingerprint to `path`, atomically."""
    arrays = {"meta": np.array(json.dumps({
        "fingerprint": print_, "cursor": state.cursor, "read": state.read,
        "skipped": state.skipped, "sweeps": len(state.topks)}))}
    for number, topk in enumerate(state.topks):
        for key, value in topk.state().items():
            arrays[f"topk{number}_{key}"] = value
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    outputs.write_bytes(path, buffer.getvalue())


def load(path):
    """Returns `(fingerprint, ScanState)` saved at `path`, or None if there is no file.

    Raises:
      DeconvError: if the file exists but cannot be read.
    """
    if not os.path.exists(path):
        return None
    try:
        with np.load(path, allow_pickle=False) as saved:
            meta = json.loads(str(saved["meta"]))
            topks = [RunningTopK.from_state({key: saved[f"topk{number}_{key}"]
                                             for key in ("k", "values", "images", "indices")})
                     for number in range(meta["sweeps"])]
    except (OSError, ValueError, KeyError) as error:
        raise DeconvError(f"Cannot read the saved state {path}: {error}. Start afresh with "
                          f"--restart.") from None
    state = ScanState(topks, meta["cursor"], meta["read"], [tuple(s) for s in meta["skipped"]])
    return meta["fingerprint"], state


def resume_or_start(path, print_, fresh, restart):
    """Returns the state to start pass 1 from: the saved one, or `fresh` (a new `ScanState`).

    Raises:
      DeconvError: if a saved state of a different run is there and `restart` is False.
    """
    if restart and os.path.exists(path):
        os.remove(path)
    saved = load(path)
    if saved is None:
        return fresh
    saved_print, state = saved
    if saved_print != print_:
        raise DeconvError(
            f"{os.path.dirname(path) or '.'} holds an unfinished run with a different config, "
            f"model, weights or image list, which cannot be resumed by this one. Pass --restart "
            f"to discard it and start afresh, or choose another --out.")
    return state
