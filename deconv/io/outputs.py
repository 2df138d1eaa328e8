"""Writing output files atomically: a temporary file in the same folder, then a rename.

An interrupted run never leaves a half-written PNG or JSON under its final name.
"""
import contextlib
import json
import os
import tempfile

from PIL import Image

from deconv.errors import DeconvError


def ensure_folder(path):
    """Creates `path` if needed and checks that files can be written there.

    Raises:
      DeconvError: if it is not a folder or cannot be written to.
    """
    try:
        os.makedirs(path, exist_ok=True)
        handle, probe = tempfile.mkstemp(prefix=".deconv-probe-", dir=path)
        os.close(handle)
        os.remove(probe)
    except OSError as error:
        raise DeconvError(f"Cannot write to output folder {path!r}: "
                          f"{error.strerror or error}.") from None


@contextlib.contextmanager
def atomic_path(path):
    """Yields a temporary path beside `path`; renames it to `path` only if the block succeeds."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".part",
                                         dir=folder)
    os.close(handle)
    try:
        yield temporary
        os.chmod(temporary, 0o644)  # mkstemp's 0600 would hide results from other users
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def write_png(path, pixels):
    """Writes a uint8 `(H, W, 3)` array as a PNG, atomically."""
    with atomic_path(path) as temporary:
        Image.fromarray(pixels).save(temporary, format="PNG")


def to_json(content, indent=2, _level=0):
    """Returns indented JSON with lists of plain numbers (positions, boxes) on one line."""
    pad, inner = " " * (indent * _level), " " * (indent * (_level + 1))
    if isinstance(content, dict) and content:
        items = [f"{inner}{json.dumps(str(key))}: {to_json(value, indent, _level + 1)}"
                 for key, value in content.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(content, (list, tuple)) and content:
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in content):
            return "[" + ", ".join(json.dumps(v) for v in content) + "]"
        items = [inner + to_json(value, indent, _level + 1) for value in content]
        return "[\n" + ",\n".join(items) + "\n" + pad + "]"
    return json.dumps(content)


def write_json(path, content):
    """Writes `content` as indented JSON, atomically."""
    with atomic_path(path) as temporary:
        with open(temporary, "w", encoding="utf-8") as stream:
            stream.write(to_json(content))
            stream.write("\n")
            stream.flush()
            os.fsync(stream.fileno())


def write_bytes(path, data):
    """Writes bytes, atomically."""
    with atomic_path(path) as temporary:
        with open(temporary, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())


def write_npy(path, array):
    """Writes a NumPy array (`.npy`, no pickle), atomically."""
    import numpy as np
    with atomic_path(path) as temporary:
        with open(temporary, "wb") as stream:
            np.save(stream, np.asarray(array), allow_pickle=False)


def write_gif(path, frames, duration_ms):
    """Writes uint8 frames as a looping GIF with imageio, atomically."""
    import imageio.v3 as imageio
    with atomic_path(path) as temporary:
        imageio.imwrite(temporary, list(frames), extension=".gif", duration=duration_ms, loop=0)
