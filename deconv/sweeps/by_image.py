"""Pass 2 grouped by image: the winners of one layer that share an image are projected together,
one forward pass with switches and one batched reverse per image (`Deconvnet.project_each`),
instead of one forward pass per winner. An atlas of every map has many winners per image.
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


def project_image_groups(net, layer, found, size, aspect, batch_size):
    """Projects `Winner`s of one layer image by image, in bounded memory.

    Each image is read once; its winners are projected `batch_size` at a time from one forward
    pass with switches. Sets each winner's `original_size`.

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
    for path, numbers in group_by_image(found).items():
        image, original_size, reason = image_files.read_image(path, size, aspect)
        if reason is not None:
            raise DeconvError(f"{path} could be read in pass 1 but not now: {reason}.")
        for number in numbers:
            found[number].original_size = original_size
        for start in range(0, len(numbers), batch_size):
            chunk = numbers[start:start + batch_size]
            projection = net.project_each(
                image, layer, [found[n].feature for n in chunk],
                np.array([found[n].position for n in chunk]))
            yield chunk, projection.reconstructions, projection.values, image


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
