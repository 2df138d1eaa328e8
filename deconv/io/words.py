"""Counts in words: plurals, and the one-line account of a folder's files that every command
reading a folder prints."""
from deconv.io import images as image_files

_PLURALS = {"class": "classes", "was": "were", "is": "are", "this": "these"}


def plural(count, noun):
    """`1 round`, `2 rounds`, `1 class`, `0 classes`."""
    return f"{count} {noun if count == 1 else _PLURALS.get(noun, noun + 's')}"


def reason_counts(skipped):
    """`{reason: count}` of `(path, reason)` pairs, by the reason's kind (before any detail in
    parentheses), sorted."""
    counts = {}
    for _, reason in skipped:
        kind = reason.split(" (")[0]
        counts[kind] = counts.get(kind, 0) + 1
    return dict(sorted(counts.items()))


def skip_summary(read, skipped, ignored=None, outside=0):
    """What a pass over a folder read and did not, in one line: `read 6 images, skipped 2 (1
    not an image Pillow can identify, 1 truncated or corrupt); left out 3 files of other types
    (.jpg: 2, .txt: 1) and 1 folder of deconv's outputs`.

    Args:
      read: how many images were read.
      skipped: `(path, reason)` of the files that could not be read.
      ignored: `{extension: count}` of the files not looked at (`scan_folder`'s, with its
        folder counts).
      outside: images left out because they lie in no class folder.
    """
    kinds = reason_counts(skipped)
    line = f"read {plural(read, 'image')}, skipped {len(skipped)}" + (
        " (" + ", ".join(f"{count} {kind}" for kind, count in kinds.items()) + ")"
        if kinds else "")
    ignored = dict(ignored or {})
    folders = {key: ignored.pop(key) for key in (image_files.UNREADABLE_FOLDER,
                                                 image_files.OUTPUT_FOLDER) if key in ignored}
    left = []
    if ignored:
        left.append(f"{plural(sum(ignored.values()), 'file')} of other types ("
                    + ", ".join(f"{ext}: {count}" for ext, count in ignored.items()) + ")")
    if outside:
        left.append(f"{plural(outside, 'image')} in no class folder")
    if image_files.UNREADABLE_FOLDER in folders:
        left.append(f"{plural(folders[image_files.UNREADABLE_FOLDER], 'folder')} that cannot "
                    f"be read")
    if image_files.OUTPUT_FOLDER in folders:
        left.append(f"{plural(folders[image_files.OUTPUT_FOLDER], 'folder')} of deconv's "
                    f"outputs")
    if left:
        line += "; left out " + (", ".join(left[:-1]) + " and " + left[-1] if len(left) > 1
                                 else left[0])
    return line
