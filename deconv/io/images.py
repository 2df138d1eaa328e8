"""Image files: finding them in folders, and reading any of them as RGB of a fixed size.

Reading never raises for a bad file: it returns the reason, so a sweep can skip the file, count
it and go on.
"""
import fractions
import io
import math
import os

from absl import logging
import numpy as np
from PIL import Image
from PIL import ImageOps
from PIL import UnidentifiedImageError

from deconv.errors import DeconvError
from deconv.io import outputs
from deconv.io import remote

ASPECTS = ("stretch", "crop")
# Pseudo-extensions of `scan_folder`'s left-out counts: folders, not files.
UNREADABLE_FOLDER = "(unreadable folder)"
# The reason, before its details, of a file with more pixels than may be decoded.
TOO_LARGE = "too large"
OUTPUT_FOLDER = "(deconv's outputs)"


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


def _deconv_outputs(root, exclude):
    """Raises if `root` itself is a folder deconv writes to; returns a test for sub-folders."""
    excluded = {os.path.realpath(path) for path in exclude}

    def written_by_deconv(folder):
        return outputs.is_output_folder(folder) or os.path.realpath(folder) in excluded

    if written_by_deconv(root):
        raise DeconvError(f"{root!r} is a folder deconv writes its outputs to: deconv never "
                          f"reads its own outputs as input. Give the folder of your images (and "
                          f"another output folder), or delete {outputs.MARKER} from {root!r} if "
                          f"it holds images of yours.")
    return written_by_deconv


def scan_folder(root, extensions, exclude=()):
    """Returns `(paths, others)`: the sorted paths under `root` (searched recursively, following
    links to folders, each real folder once) with one of `extensions`, and `{extension: count}`
    of the files left out. Sub-folders that cannot be read, and those deconv wrote its outputs
    to (`deconv.io.outputs.MARKER`) or will write to (`exclude`), are logged and counted there
    as `UNREADABLE_FOLDER` and `OUTPUT_FOLDER`: deconv never reads its own outputs.

    Raises:
      DeconvError: if `root` is missing, not a folder, unreadable or deconv's output folder,
        holds no files, or none of `extensions`; the message says which, with the extensions
        it did find.
    """
    if remote.is_url(root):
        return remote.scan(root, extensions)
    if not os.path.exists(root):
        raise DeconvError(f"Image folder not found: {root!r}.")
    if not os.path.isdir(root):
        raise DeconvError(f"{root!r} is a file, not a folder: --images takes a folder of images.")
    if not os.access(root, os.R_OK | os.X_OK):
        raise DeconvError(f"Image folder {root!r} cannot be read (permission denied).")
    written_by_deconv = _deconv_outputs(root, exclude)
    found, others, unreadable = [], {}, []
    visited = set()
    for folder, subfolders, files in os.walk(root, onerror=unreadable.append, followlinks=True):
        real = os.path.realpath(folder)
        if real in visited:  # a link back up the tree, or a second way to one folder
            subfolders[:] = []
            continue
        visited.add(real)
        for name in [name for name in subfolders if written_by_deconv(os.path.join(folder, name))]:
            logging.warning("Skipped %s: deconv's own outputs are never read as input.",
                            os.path.join(folder, name))
            others[OUTPUT_FOLDER] = others.get(OUTPUT_FOLDER, 0) + 1
            subfolders.remove(name)
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
        others[UNREADABLE_FOLDER] = len(unreadable)
    if not found:
        if not others:
            raise DeconvError(f"Image folder {root!r} is empty.")
        seen = ", ".join(f"{ext} ({count})" for ext, count in sorted(others.items()))
        wanted = ", ".join(sorted(extensions)) if len(extensions) < 8 else "image types"
        raise DeconvError(f"No files of {wanted} in {root!r}; it has: {seen}.")
    return sorted(found), dict(sorted(others.items()))


def find_images(root, extensions, exclude=()):
    """Returns the sorted image paths of `scan_folder`."""
    return scan_folder(root, extensions, exclude)[0]


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


def _source(path):
    """`(what Pillow opens, None)` for a file, or `(None, why it cannot be read)`: a local path,
    or the bytes of a URL (`deconv.io.remote`)."""
    if remote.is_url(path):
        data, reason = remote.read_bytes(path)
        return (None, reason) if reason else (io.BytesIO(data), None)
    if os.path.isdir(path):
        return None, "a folder, not an image file"
    if not os.path.exists(path):
        return None, "file not found"
    try:
        if os.path.getsize(path) == 0:
            return None, "zero-byte file"
    except PermissionError:
        return None, "permission denied"
    except OSError as error:
        return None, f"truncated or corrupt ({' '.join(str(error).split())})"
    return path, None


def read_image(path, size=None, aspect="stretch"):
    """Reads an image file as RGB uint8, EXIF orientation applied, optionally resized.

    Args:
      path: the file: a local path, or a URL of a file system TensorFlow reads (`gs://...`).
      size: None to keep the size; else the side of the square output.
      aspect: how a non-square image becomes `size` x `size`: `"stretch"` resizes both sides
        (what the TF1 deconvnet and featuremap-InSights do); `"crop"` resizes the shorter side
        to `size` and cuts the centre square.

    Returns:
      `(pixels, original_size, reason)`: `(H, W, 3)` uint8 (None if unreadable), `(height,
      width)` of the upright original, and None or why the file was skipped.
    """
    source, reason = _source(path)
    if reason is not None:
        return None, None, reason
    return _decode(source, size, aspect)


def decode_image(data, size=None, aspect="stretch", max_pixels=None):
    """Decodes an image file's bytes (an upload) as `read_image` reads a file.

    Args:
      data: the file's bytes.
      size, aspect: as in `read_image`.
      max_pixels: None, or the most pixels the image may have; a larger one is refused from
        its header, before its pixels are decoded.

    Returns:
      `(pixels, original_size, reason)`, as `read_image`.
    """
    if not data:
        return None, None, "an empty file"
    return _decode(io.BytesIO(data), size, aspect, max_pixels)


def _decode(source, size, aspect, max_pixels=None):
    """`read_image`'s reading of a path or a binary stream."""
    try:
        with Image.open(source) as opened:
            width, height = opened.size
            if max_pixels is not None and width * height > max_pixels:
                return None, (height, width), (
                    f"{TOO_LARGE} ({width}x{height} is {width * height:,} pixels, more than "
                    f"the {max_pixels:,} allowed)")
            opened.load()
            image = _to_rgb(ImageOps.exif_transpose(opened))
    except UnidentifiedImageError:
        return None, None, "not an image Pillow can identify"
    except PermissionError:
        return None, None, "permission denied"
    except Image.DecompressionBombError as error:  # more pixels than Pillow decodes
        return None, None, f"{TOO_LARGE} ({' '.join(str(error).split())})"
    except (OSError, SyntaxError, ValueError) as error:
        return None, None, f"truncated or corrupt ({' '.join(str(error).split())})"
    original = (image.height, image.width)
    if size is not None:
        image = _fit(image, size, aspect)
    return np.asarray(image, np.uint8), original, None


def to_original(box, original_size, size, aspect):
    """Maps a `(top, left, bottom, right)` box from the resized square back to the original.

    The box in original pixels covers every original pixel that any pixel of the box comes
    from: the start is rounded down, the end up (never an empty box), clipped to the image.
    """
    height, width = original_size
    top, left, bottom, right = box
    if aspect == "crop":  # the shorter side resized to `size` (as `_fit` does), centre kept
        scale = size / min(height, width)
        resized = [max(size, round(side * scale)) for side in (height, width)]
    else:
        resized = [size, size]
    scales = [fractions.Fraction(side, length) for side, length in zip((height, width), resized)]
    offsets = [(length - size) // 2 for length in resized]
    starts = [math.floor((offset + start) * scale) for offset, start, scale in
              zip(offsets, (top, left), scales)]
    ends = [math.ceil((offset + end) * scale) for offset, end, scale in
            zip(offsets, (bottom, right), scales)]
    starts = [min(max(start, 0), side - 1) for start, side in zip(starts, (height, width))]
    ends = [min(max(end, start + 1), side) for end, start, side in
            zip(ends, starts, (height, width))]
    return [starts[0], starts[1], ends[0], ends[1]]
