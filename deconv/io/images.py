"""Image files: finding them in folders, and reading any of them as RGB of a fixed size.

Reading never raises for a bad file: it returns the reason, so a sweep can skip the file, count
it and go on.
"""
import os

from absl import logging
import numpy as np
from PIL import Image
from PIL import ImageOps
from PIL import UnidentifiedImageError

from deconv.errors import DeconvError

ASPECTS = ("stretch", "crop")


def readable_extensions():
    """Returns the lower-case file extensions (with the dot) of every format Pillow can open."""
    return sorted(ext for ext, fmt in Image.registered_extensions().items() if fmt in Image.OPEN)


def parse_extensions(imtype):
    """Returns the set of extensions to accept for `--imtype`-style input.

    Args:
      imtype: None for every readable type, or a comma-separated list such as `".jpg"`,
        `"jpg,png"`. `.jpg` and `.jpeg` (and `.tif`/`.tiff`) stand for each other.
    """
    if not imtype:
        return set(readable_extensions())
    extensions = set()
    for ext in imtype.split(","):
        ext = ext.strip().lower()
        if not ext:
            continue
        ext = ext if ext.startswith(".") else f".{ext}"
        extensions.add(ext)
        for pair in ((".jpg", ".jpeg"), (".tif", ".tiff")):
            if ext in pair:
                extensions.update(pair)
    if not extensions:
        raise DeconvError(f"--imtype {imtype!r} names no extension; e.g. '.jpg' or 'jpg,png'.")
    return extensions


def scan_folder(root, extensions):
    """Returns `(paths, others)`: the sorted paths under `root` (searched recursively, following
    links to folders, each real folder once) with one of `extensions`, and `{extension: count}`
    of the files left out; sub-folders that cannot be read are logged and counted there as
    `"(unreadable folder)"`.

    Raises:
      DeconvError: if `root` is missing, not a folder or unreadable, holds no files, or none of
        `extensions`; the message says which, with the extensions it did find.
    """
    if not os.path.exists(root):
        raise DeconvError(f"Image folder not found: {root!r}.")
    if not os.path.isdir(root):
        raise DeconvError(f"{root!r} is a file, not a folder: --images takes a folder of images.")
    if not os.access(root, os.R_OK | os.X_OK):
        raise DeconvError(f"Image folder {root!r} cannot be read (permission denied).")
    found, others, unreadable = [], {}, []
    visited = set()
    for folder, subfolders, files in os.walk(root, onerror=unreadable.append, followlinks=True):
        real = os.path.realpath(folder)
        if real in visited:  # a link back up the tree, or a second way to one folder
            subfolders[:] = []
            continue
        visited.add(real)
        subfolders.sort()
        for name in files:
            ext = os.path.splitext(name)[1].lower()
            if ext in extensions:
                found.append(os.path.join(folder, name))
            else:
                others[ext or "(none)"] = others.get(ext or "(none)", 0) + 1
    if unreadable and not found:
        raise DeconvError(f"Image folder {root!r} cannot be read: {unreadable[0]}.")
    for error in unreadable:
        logging.warning("Skipped a folder that cannot be read: %s", error)
    if unreadable:
        others["(unreadable folder)"] = len(unreadable)
    if not found:
        if not others:
            raise DeconvError(f"Image folder {root!r} is empty.")
        seen = ", ".join(f"{ext} ({count})" for ext, count in sorted(others.items()))
        wanted = ", ".join(sorted(extensions)) if len(extensions) < 8 else "image types"
        raise DeconvError(f"No files of {wanted} in {root!r}; it has: {seen}.")
    return sorted(found), dict(sorted(others.items()))


def find_images(root, extensions):
    """Returns the sorted image paths of `scan_folder`."""
    return scan_folder(root, extensions)[0]


def _to_rgb(image):
    """Converts any Pillow mode to 8-bit RGB: 16/32-bit and float scaled, alpha over white."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        values = np.asarray(image, np.float64)
        if image.mode.startswith("I;16") or values.max() > 255:
            values = values / 257.0 if values.max() <= 65535 else values * 255.0 / values.max()
        image = Image.fromarray(np.clip(np.round(values), 0, 255).astype(np.uint8), "L")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        image = image.convert("RGBA")
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, image)
    return image.convert("RGB")


def _fit(image, size, aspect):
    if aspect == "crop":
        scale = size / min(image.size)
        width = max(size, round(image.width * scale))
        height = max(size, round(image.height * scale))
        image = image.resize((width, height), Image.Resampling.BILINEAR)
        left, top = (width - size) // 2, (height - size) // 2
        return image.crop((left, top, left + size, top + size))
    return image.resize((size, size), Image.Resampling.BILINEAR)


def read_image(path, size=None, aspect="stretch"):
    """Reads an image file as RGB uint8, EXIF orientation applied, optionally resized.

    Args:
      path: the file.
      size: None to keep the size; else the side of the square output.
      aspect: how a non-square image becomes `size` x `size`: `"stretch"` resizes both sides
        (what the TF1 deconvnet and featuremap-InSights do); `"crop"` resizes the shorter side
        to `size` and cuts the centre square.

    Returns:
      `(pixels, original_size, reason)`: `(H, W, 3)` uint8 (None if unreadable), `(height,
      width)` of the upright original, and None or why the file was skipped.
    """
    if not os.path.exists(path):
        return None, None, "file not found"
    try:
        if os.path.getsize(path) == 0:
            return None, None, "zero-byte file"
        with Image.open(path) as opened:
            opened.load()
            image = _to_rgb(ImageOps.exif_transpose(opened))
    except UnidentifiedImageError:
        return None, None, "not an image Pillow can identify"
    except PermissionError:
        return None, None, "permission denied"
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        return None, None, f"truncated or corrupt ({' '.join(str(error).split())})"
    original = (image.height, image.width)
    if size is not None:
        image = _fit(image, size, aspect)
    return np.asarray(image, np.uint8), original, None


def to_original(box, original_size, size, aspect):
    """Maps a `(top, left, bottom, right)` box from the resized square back to the original."""
    height, width = original_size
    top, left, bottom, right = box
    if aspect == "crop":
        scale = min(height, width) / size
        off_y = (max(size, round(height / scale)) - size) // 2 * scale
        off_x = (max(size, round(width / scale)) - size) // 2 * scale
        return [round(off_y + top * scale), round(off_x + left * scale),
                round(off_y + bottom * scale), round(off_x + right * scale)]
    sy, sx = height / size, width / size
    return [round(top * sy), round(left * sx), round(bottom * sy), round(right * sx)]
