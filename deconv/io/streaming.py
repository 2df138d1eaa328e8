"""Image folders as a `tf.data` stream: parallel decoding with Pillow, batching, prefetching; and
the one loop every pass over a folder runs (`stream`): a compiled function per batch, unreadable
files skipped, logged and counted, progress reported."""
import dataclasses
import os

from absl import logging
import numpy as np
import tensorflow as tf

from deconv import limits
from deconv.errors import DeconvError
from deconv.io import images as image_files


@dataclasses.dataclass(frozen=True)
class Reading:
    """How a folder's images are read: resized to `size` x `size` (`aspect`: `"stretch"` or
    `"crop"`, see `deconv.io.images.read_image`) and forwarded `batch_size` at a time.

    Raises:
      DeconvError: a size or batch size outside its range (`deconv.limits`), or an unknown
        aspect.
    """
    size: int = 224
    aspect: str = "stretch"
    batch_size: int = 16

    def __post_init__(self):
        limits.check("size", self.size)
        limits.check("batch_size", self.batch_size)
        if self.aspect not in image_files.ASPECTS:
            raise DeconvError(f"Unknown aspect {self.aspect!r}. Valid: "
                              f"{', '.join(image_files.ASPECTS)}.")

    def for_count(self, count):
        """This reading for `count` images: a batch larger than the data is capped to it.

        Raises:
          DeconvError: a (capped) batch too large to forward at once (`deconv.limits`).
        """
        batch = max(1, min(self.batch_size, count))
        limits.check_batch_pixels(batch, self.size)
        return dataclasses.replace(self, batch_size=batch)


def image_dataset(paths, size, aspect="stretch", batch_size=16, start=0):
    """Streams `paths[start:]` as batches of `(numbers, pixels, reasons)`.

    Files are decoded in parallel and in order. A file that cannot be read yields black pixels
    and a non-empty reason (why it was skipped), so the caller can count it and go on.

    Args:
      paths: image file paths.
      size: the side of the square images (see `deconv.io.images.read_image`).
      aspect: `"stretch"` or `"crop"`.
      batch_size: images per batch.
      start: index of the first path to stream (to resume a sweep).

    Returns:
      A `tf.data.Dataset` of `(numbers int64 (n,), pixels uint8 (n, size, size, 3),
      reasons string (n,))`; `numbers` index `paths`.
    """

    def load(path):
        pixels, _, reason = image_files.read_image(os.fsdecode(path), size, aspect)
        if reason is not None:
            return np.zeros((size, size, 3), np.uint8), reason.encode()
        return pixels, b""

    def decode(number, path):
        pixels, reason = tf.numpy_function(load, [path], [tf.uint8, tf.string], stateful=False)
        pixels.set_shape((size, size, 3))
        reason.set_shape(())
        return number, pixels, reason

    numbers = np.arange(start, len(paths), dtype=np.int64)
    encoded = np.array([os.fsencode(path) for path in paths[start:]], dtype=object)
    stream = tf.data.Dataset.from_tensor_slices((numbers, encoded))
    workers = max(2, os.cpu_count() or 2)
    stream = stream.map(decode, num_parallel_calls=workers, deterministic=True)
    # Fixed parallelism, no autotuning: with autotuning on, ending the iteration sometimes
    # stalled for as long again as the whole pass had taken (measured: 200 images, 21 s of
    # forward passes, then 20 s more in the last `next()`).
    options = tf.data.Options()
    options.autotune.enabled = False
    return stream.batch(batch_size).prefetch(2).with_options(options)


@dataclasses.dataclass
class Batch:
    """One batch of a `stream`.

    Attributes:
      numbers: `(n,)` indices into the paths streamed.
      good: `(n,)` bool: whether each file was read (the outputs of the others are meaningless).
      skipped: `[(path, reason)]` of the files that could not be read.
      outputs: what the compiled function returned for the batch's pixels, as NumPy (a tuple or
        list of arrays stays one).
    """
    numbers: np.ndarray
    good: np.ndarray
    skipped: list
    outputs: object


def _numpy(outputs):
    if isinstance(outputs, (list, tuple)):
        return type(outputs)(_numpy(output) for output in outputs)
    return outputs.numpy()


def stream(paths, compute, reading, start=0, progress=None):
    """Streams `paths[start:]` once and applies `compute` (uint8 pixels `(n, size, size, 3)` ->
    tensors) to each batch; unreadable files are logged, skipped and reported.

    Args:
      paths: image file paths.
      compute: a compiled function of a batch of pixels.
      reading: a `Reading`.
      start: index of the first path (to resume).
      progress: called as `progress(done, total)` after each batch, in files of `paths`.

    Yields:
      A `Batch` per batch.
    """
    reading = reading.for_count(len(paths) - start)
    for numbers, pixels, reasons in image_dataset(paths, reading.size, reading.aspect,
                                                  reading.batch_size, start):
        numbers = numbers.numpy()
        reasons = [reason.decode() for reason in reasons.numpy()]
        skipped = [(paths[number], reason) for number, reason in zip(numbers, reasons) if reason]
        for path, reason in skipped:
            logging.warning("Skipping %s: %s", path, reason)
        yield Batch(numbers, np.array([not reason for reason in reasons], bool), skipped,
                    _numpy(compute(pixels)))
        if progress is not None:
            progress(int(numbers[-1]) + 1, len(paths))
