"""Pass 2 grouped by image: the winners of one layer that share an image are projected together,
one forward pass with switches per image, instead of one per winner, and the winners of several
images share one call (`Deconvnet.project_groups`: the images' forward passes in one batch, one
batched reverse) when each has fewer than a call holds and the reverse runs over whole maps
below its windows. An atlas of every map has many winners per image; a sweep's top k, a few.
"""
import numpy as np

from deconv.errors import DeconvError
from deconv.io import images as image_files


def group_by_image(found):
    """Returns `{path: [index into found, ...]}` in order of first appearance."""
    groups = {}
    for number, winner in enumerate(found):
        groups.setdefault(winner.path, []).append(number)
    return groups


def _calls(groups, batch_size, share=True):
    """Cuts `[(path, numbers)]` into calls of at most `batch_size` winners: several images'
    winners share a call (if `share`), an image with more winners than that spans several calls.

    Yields:
      `[(path, numbers)]` per call, each image's part of the call in order.
    """
    call, filled = [], 0
    for path, numbers in groups:
        for start in range(0, len(numbers), batch_size):
            part = numbers[start:start + batch_size]
            if call and (filled + len(part) > batch_size or not share):
                yield call
                call, filled = [], 0
            call.append((path, part))
            filled += len(part)
    if call:
        yield call


def project_image_groups(net, layer, found, size, aspect, batch_size):
    """Projects `Winner`s of one layer image by image, in bounded memory.

    Each image is read once. Up to `batch_size` winners are projected per call
    (`Deconvnet.project_groups`: one forward pass with switches of the call's images, one
    batched reverse), several images' winners sharing a call when each has fewer and the
    reverse leaves the receptive-field windows for whole maps. Sets each winner's
    `original_size`.

    Args:
      net: the `Deconvnet`.
      layer: the layer's name.
      found: `Winner`s (any order, any sweeps of `layer`).
      size, aspect: how the images were read in pass 1.
      batch_size: the most projections in one reverse.

    Yields:
      `(numbers, reconstructions, values, image)` per image and chunk: indices into `found`,
      `(n, size, size, 3)` float32, `(n,)` float32 (the recomputed activations) and the image,
      `(size, size, 3)` uint8.

    Raises:
      DeconvError: an image that was read in pass 1 cannot be read now.
    """
    groups = group_by_image(found)
    # Images share calls where the reverse leaves the windows for whole maps, which a batch
    # amortises; windows all the way to the pixels ran slower shared, measured on ResNet50's
    # conv2_block3_out (0.32 G per projection shared, 0.12 one image a call; BENCHMARKS.md).
    share = not net.window_reaches_pixels(layer, (size, size))
    images = {}
    for call in _calls(groups.items(), batch_size, share):
        paths = list(dict.fromkeys(path for path, _ in call))
        images = {path: images[path] if path in images
                  else _read(path, size, aspect, found, groups[path]) for path in paths}
        numbers = [n for _, part in call for n in part]
        projection = net.project_groups(
            np.stack([images[path] for path in paths]), layer,
            [paths.index(path) for path, part in call for _ in part],
            [found[n].feature for n in numbers], np.array([found[n].position for n in numbers]))
        start = 0
        for path, part in call:
            end = start + len(part)
            yield (part, projection.reconstructions[start:end], projection.values[start:end],
                   images[path])
            start = end


def _read(path, size, aspect, found, numbers):
    """`path`'s image as pass 1 read it; sets its winners' `original_size`."""
    image, original_size, reason = image_files.read_image(path, size, aspect)
    if reason is not None:
        raise DeconvError(f"{path} could be read in pass 1 but not now: {reason}.")
    for number in numbers:
        found[number].original_size = original_size
    return image


def project_by_image(net, layer, found, size, aspect, batch_size):
    """`project_image_groups` collected: `(reconstructions, values, pixels)` in the order of
    `found`, `(n, size, size, 3)` float32, `(n,)` float32 and `(n, size, size, 3)` uint8."""
    shape = (len(found), size, size, 3)
    reconstructions = np.zeros(shape, np.float32)
    values = np.zeros(len(found), np.float32)
    pixels = np.zeros(shape, np.uint8)
    for chunk, chunk_reconstructions, chunk_values, image in project_image_groups(
            net, layer, found, size, aspect, batch_size):
        reconstructions[chunk] = chunk_reconstructions
        values[chunk] = chunk_values
        pixels[chunk] = image
    return reconstructions, values, pixels
