"""Writing output files atomically: a temporary file in the same folder, then a rename.

An interrupted run never leaves a half-written PNG or JSON under its final name.
"""
import contextlib
import json
import os
import re
import tempfile

from PIL import Image


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


_NUMBER_LIST = re.compile(r"\[\s+(-?[\d.e+-]+(?:,\s+-?[\d.e+-]+)*)\s+\]")


def to_json(content):
    """Returns indented JSON with short lists of numbers (positions, boxes) on one line."""
    text = json.dumps(content, indent=2)
    return _NUMBER_LIST.sub(lambda m: "[" + ", ".join(m.group(1).split(",\n")).replace(
        " ", "").replace(",", ", ") + "]", text)


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
