"""Writing output files atomically: a temporary file in the same folder, then a rename.

An interrupted run never leaves a half-written PNG or JSON under its final name, and a full disk
(or any other failure to write) is one error naming the file, with nothing half-written left.
Every output folder is marked (`MARKER`), so that no deconv command reads it as input.
"""
import contextlib
import json
import os
import shutil
import tempfile

from PIL import Image

from deconv.errors import DeconvError

MARKER = ".deconv-output"  # in every folder deconv writes its outputs to
_MARKER_TEXT = ("deconv wrote its outputs in this folder; deconv commands never read it as "
                "input (delete this file if that is wrong).\n")


def is_output_folder(path):
    """Whether `path` is a folder deconv wrote its outputs to (it holds `MARKER`)."""
    return os.path.isfile(os.path.join(path, MARKER))


def write_error(path, error):
    """The one-line `DeconvError` for an `OSError` raised while writing `path`."""
    if error.strerror is None:  # NumPy's "120000 requested and 3968 written"
        return DeconvError(f"Cannot write {path}: only part of it could be written ({error}): "
                           f"is the disk full?")
    return DeconvError(f"Cannot write {path}: {error.strerror}"
                       f"{' (the disk is full)' if error.errno == 28 else ''}.")


def _image_extensions():
    return {ext for ext, kind in Image.registered_extensions().items() if kind in Image.OPEN}


def first_image(folder):
    """The first image file (by extension) in `folder` or below, outside folders deconv wrote
    to; None if there is none. Stops at the first one found."""
    extensions = _image_extensions()
    for here, subfolders, files in os.walk(folder):
        subfolders[:] = sorted(name for name in subfolders
                               if not is_output_folder(os.path.join(here, name)))
        for name in sorted(files):
            if os.path.splitext(name)[1].lower() in extensions:
                return os.path.join(here, name)
    return None


def check_folder(path):
    """Raises DeconvError if `path` cannot become an output folder without hiding the user's
    images: marked (`MARKER`), a folder is never read as input again, so an existing folder
    deconv did not write must hold no image file (in it or below)."""
    if not os.path.isdir(path) or is_output_folder(path):
        return
    found = first_image(path)
    if found is not None:
        raise DeconvError(f"Output folder {path!r} holds images of yours (e.g. {found}): deconv "
                          f"marks its output folders and never reads them as input, nor writes "
                          f"over your files. Give a new or empty folder, or one deconv wrote to.")


@contextlib.contextmanager
def new_folders(paths):
    """Makes `paths` output folders (`ensure_folder`) for the block; if it fails (an error, an
    interrupt), removes those it created that hold nothing but the mark, so a failed run leaves
    no empty output folder behind."""
    created = [path for path in paths if not os.path.exists(path)]
    for path in paths:
        ensure_folder(path)
    try:
        yield
    except BaseException:
        for path in sorted(created, key=len, reverse=True):  # inner folders first
            with contextlib.suppress(OSError):
                if os.listdir(path) == [MARKER]:
                    os.remove(os.path.join(path, MARKER))
                    os.rmdir(path)
        raise


def check_targets(paths, inputs=(), named=False):
    """Raises DeconvError, before any work, if a file about to be written is a folder, is one
    of the command's `inputs`, or would replace a file deconv did not write (one in a folder
    without `MARKER`; with `named`, the user named these files, so an existing one is replaced),
    or if a target's folder holds the user's images (`check_folder`)."""
    given = {os.path.realpath(path): path for path in inputs}
    for path in paths:
        if os.path.isdir(path):
            raise DeconvError(f"Cannot write {path}: a folder of that name is in the way.")
        if os.path.realpath(path) in given:
            raise DeconvError(f"Cannot write {path}: it is this command's input "
                              f"{given[os.path.realpath(path)]}, which deconv never writes "
                              f"over; give another --out.")
        folder = os.path.dirname(path) or os.curdir
        if not named and os.path.exists(path) and not is_output_folder(folder):
            raise DeconvError(f"Cannot write {path}: a file that deconv did not write is there "
                              f"({folder} has no {MARKER} mark); give another --out, or move "
                              f"the file.")
    if not named:
        for folder in sorted({os.path.dirname(path) or os.curdir for path in paths}):
            check_folder(folder)


def ensure_folder(path, mark=True):
    """Creates `path` if needed, checks that files can be written there, and (with `mark`)
    marks it as an output folder (`check_folder`: never one holding the user's images).

    Raises:
      DeconvError: if it is not a folder, cannot be written to, or holds the user's images.
    """
    if os.path.exists(path) and not os.path.isdir(path):
        raise DeconvError(f"Output folder {path!r} is a file: give a folder (new or "
                          f"existing) for the outputs.")
    if mark:
        check_folder(path)
    try:
        os.makedirs(path, exist_ok=True)
        handle, probe = tempfile.mkstemp(prefix=".deconv-probe-", dir=path)
        os.close(handle)
        os.remove(probe)
    except OSError as error:
        raise DeconvError(f"Cannot write to output folder {path!r}: "
                          f"{error.strerror or error}.") from None
    if mark and not is_output_folder(path):
        write_bytes(os.path.join(path, MARKER), _MARKER_TEXT.encode())


@contextlib.contextmanager
def atomic_path(path):
    """Yields a temporary path beside `path`; renames it to `path` only if the block succeeds.

    Raises:
      DeconvError: writing failed (a full disk, no permission); nothing is left behind.
    """
    folder = os.path.dirname(os.path.abspath(path))
    temporary = None
    try:
        os.makedirs(folder, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.",
                                             suffix=".part", dir=folder)
        os.close(handle)
        yield temporary
        os.chmod(temporary, 0o644)  # mkstemp's 0600 would hide results from other users
        os.replace(temporary, path)
    except OSError as error:
        raise write_error(path, error) from None
    finally:
        if temporary is not None and os.path.exists(temporary):
            os.remove(temporary)


@contextlib.contextmanager
def staged(path):
    """Yields `path`'s name inside a new hidden folder beside it, for writers that need the
    final name (a SavedModel folder, Keras's `.weights.h5`); moves the result to `path` (which
    must be missing, or an empty folder) if the block succeeds, and removes the hidden folder
    in any case.

    Raises:
      DeconvError: writing or moving failed (a full disk, no permission), naming `path`.
    """
    parent = os.path.dirname(os.path.abspath(path))
    folder = None
    try:
        folder = tempfile.mkdtemp(prefix=f".{os.path.basename(os.path.abspath(path))}.",
                                  suffix=".part", dir=parent)
        inside = os.path.join(folder, os.path.basename(os.path.abspath(path)))
        yield inside
        os.chmod(inside, 0o755 if os.path.isdir(inside) else 0o644)
        if os.path.isdir(path):
            with contextlib.suppress(FileNotFoundError):
                os.remove(os.path.join(path, MARKER))
        os.replace(inside, path)
    except OSError as error:
        raise write_error(path, error) from None
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def staged_into(folder):
    """Yields a new folder named like `folder`, inside a hidden folder beside it, for a run
    whose outputs must appear whole or not at all; if the block succeeds, moves every file
    written there into `folder` (each by a rename, keeping sub-folders), and removes the hidden
    folder in any case: a failed run leaves nothing in `folder`.

    Raises:
      DeconvError: creating or moving failed (a full disk, no permission), naming `folder`.
    """
    parent = os.path.dirname(os.path.abspath(folder))
    name = os.path.basename(os.path.abspath(folder))
    hidden = None
    try:
        os.makedirs(parent, exist_ok=True)
        hidden = tempfile.mkdtemp(prefix=f".{name}.", suffix=".part", dir=parent)
        inside = os.path.join(hidden, name)
        os.mkdir(inside)
        yield inside
        for here, _, names in os.walk(inside):
            target = os.path.join(folder, os.path.relpath(here, inside))
            os.makedirs(target, exist_ok=True)
            for file_name in names:
                os.replace(os.path.join(here, file_name), os.path.join(target, file_name))
    except OSError as error:
        raise write_error(folder, error) from None
    finally:
        if hidden is not None:
            shutil.rmtree(hidden, ignore_errors=True)


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
