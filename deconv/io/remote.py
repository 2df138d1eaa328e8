"""Image folders on any file system TensorFlow reads (`tf.io.gfile`): a path with a scheme,
`gs://bucket/images` (Google Cloud Storage), `ram://...`; local paths never come here. Listing
and reading only: outputs are written to local folders."""
from absl import logging

from deconv.errors import DeconvError
from deconv.io.outputs import MARKER


def is_url(path):
    """Whether `path` names its file system by a scheme (`gs://...`): read with `tf.io.gfile`."""
    return "://" in str(path)


def _gfile():
    import tensorflow as tf  # here: only a folder given by URL needs TensorFlow's file systems
    return tf.io.gfile, tf.errors


def scan(root, extensions):
    """`deconv.io.images.scan_folder` for a URL: `(sorted paths with one of extensions,
    {extension: count} of the files left out)`; folders holding deconv's `MARKER` (its own
    outputs) are skipped and counted as `"(deconv's outputs)"`.

    Raises:
      DeconvError: `root` is missing, a file, unreadable, or holds no file of `extensions`.
    """
    gfile, errors = _gfile()
    try:
        if not gfile.exists(root):
            raise DeconvError(f"Image folder not found: {root!r}.")
        if not gfile.isdir(root):
            raise DeconvError(f"{root!r} is a file, not a folder: --images takes a folder of "
                              f"images.")
        walked = list(gfile.walk(root))
    except errors.OpError as error:
        raise DeconvError(f"Image folder {root!r} cannot be read: {error.message}") from None
    outputs = sorted(folder.rstrip("/") + "/" for folder, _, files in walked if MARKER in files)
    found, others = [], {}
    for folder, _, files in walked:
        inside = folder.rstrip("/") + "/"
        if any(inside.startswith(output) for output in outputs):
            continue
        for name in files:
            ext = "." + name.rsplit(".", 1)[1].lower() if "." in name else ""
            if ext in extensions:
                found.append(inside + name)
            else:
                others[ext or "(none)"] = others.get(ext or "(none)", 0) + 1
    for output in outputs:
        logging.warning("Skipped %s: deconv's own outputs are never read as input.", output)
    if outputs:
        others["(deconv's outputs)"] = len(outputs)
    if not found:
        seen = ", ".join(f"{ext} ({count})" for ext, count in sorted(others.items()))
        raise DeconvError(f"No image files in {root!r}" + (f"; it has: {seen}." if seen else
                                                           ": it is empty."))
    return sorted(found), dict(sorted(others.items()))


def read_bytes(path):
    """`(bytes, None)` of the file at a URL, or `(None, why it cannot be read)`."""
    gfile, errors = _gfile()
    try:
        if gfile.isdir(path):
            return None, "a folder, not an image file"
        if not gfile.exists(path):
            return None, "file not found"
        with gfile.GFile(path, "rb") as stream:
            data = stream.read()
    except errors.PermissionDeniedError:
        return None, "permission denied"
    except errors.OpError as error:
        return None, f"cannot be read ({' '.join(error.message.split())})"
    return (data, None) if data else (None, "zero-byte file")
