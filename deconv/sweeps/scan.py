"""Pass 1 of a sweep: the images streamed once through a plain forward model (Keras's own
max-pooling, no switches) that outputs every layer the sweeps need, keeping a running top-k per
sweep in bounded memory.

Reference: Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks", ECCV 2014
(arXiv 1311.2901), section 4: the top 9 activations of a feature map across a dataset.
"""
import dataclasses

import numpy as np
import tensorflow as tf

from deconv.core import compiled
from deconv.core import selection
from deconv.errors import DeconvError
from deconv.io import streaming
from deconv.sweeps.sweep import EACH_MAP
from deconv.sweeps.sweep import groups
from deconv.sweeps.topk import RunningTopK
from deconv.sweeps.topk import merge

@dataclasses.dataclass
class ScanState:
    """Pass 1's progress: enough to resume a sweep where it stopped.

    Attributes:
      topks: one `RunningTopK` per sweep.
      cursor: how many paths have been consumed.
      read: how many of them were read.
      skipped: `(path, reason)` of each file that could not be read.
    """
    topks: list
    cursor: int = 0
    read: int = 0
    skipped: list = dataclasses.field(default_factory=list)

    @classmethod
    def fresh(cls, net, sweeps):
        return cls([RunningTopK(groups(net, sweep), sweep.top) for sweep in sweeps])

    def check_read(self, count):
        """Raises the one error of a pass 1 over `count` files that read none of them (the
        first three files named, with why); does nothing if any was read."""
        if self.read == 0:
            reasons = "; ".join(f"{path}: {reason}" for path, reason in self.skipped[:3])
            raise DeconvError(f"None of the {count} image files could be read ({reasons}).")


def merge_scans(a, b):
    """The `ScanState` of two disjoint parts of one sorted list of paths scanned apart (a
    distributed pass 1): each sweep's top-k merged (`deconv.sweeps.topk.merge`), the counts
    added, the skipped files in the order of their paths (the list's order), the cursor the
    furthest. Equal to the state of one pass over both parts, in any order of merging."""
    return ScanState([merge(x, y) for x, y in zip(a.topks, b.topks)], max(a.cursor, b.cursor),
                     a.read + b.read, sorted(a.skipped + b.skipped))


class _Candidates:
    """uint8 images -> per sweep, each image's best `(values, indices)`; see `candidates_fn`.

    A callable object, not a closure: see `deconv.core.compiled` on retracing warnings.
    """

    def __init__(self, model, sweeps):
        self.model, self.sweeps = model, sweeps

    def __call__(self, images):
        activations = self.model(tf.cast(images, tf.float32), training=False)
        out = []
        for sweep in self.sweeps:
            acts = selection.as_maps(activations[sweep.layer])  # logits: 1x1 maps
            n = tf.shape(acts)[0]
            if sweep.feature == EACH_MAP:
                flat = tf.reshape(tf.transpose(acts, [3, 0, 1, 2]), [tf.shape(acts)[3], n, -1])
            elif sweep.feature is None:
                flat = tf.reshape(acts, [1, n, -1])
            else:
                flat = tf.reshape(acts[..., sweep.feature], [1, n, -1])
            values, indices = tf.math.top_k(flat, k=tf.minimum(sweep.per_image,
                                                               tf.shape(flat)[2]))
            out.append((tf.reshape(values, [tf.shape(flat)[0], -1]),
                        tf.reshape(indices, [tf.shape(flat)[0], -1])))
        return out


def candidates_fn(net, sweeps):
    """Returns a compiled function: uint8 images -> per sweep, each image's best candidates.

    One forward model outputs every layer the sweeps need, so one forward pass serves them all.
    For each sweep the result is `(values, indices)`, both `(groups, n * p)` with `p =
    per_image` (or fewer if the maps are smaller), image-major. Indices are flat positions
    `y * w + x` in the map, or `(y * w + x) * C + c` over all maps together. Compiled once per
    net and sweeps: a later pass (a resumed or grown atlas, evolution's checkpoints) reuses it.
    """
    def compile_candidates():
        model = net.activations_model(sorted({sweep.layer for sweep in sweeps}))
        return tf.function(_Candidates(model, sweeps), input_signature=[compiled.PIXELS])

    return net.cached(("candidates", tuple(sweeps)), compile_candidates)


def scan(net, paths, sweeps, state, reading, run=None, first=0):
    """Pass 1: streams `paths[state.cursor - first:]` and updates `state` batch by batch.

    A generator: it yields `state` after each batch, so the caller can show progress and save
    checkpoints; unreadable files are logged and recorded in `state.skipped`.

    Args:
      net: the `Deconvnet`.
      paths: image files.
      sweeps: checked `Sweep`s.
      state: the `ScanState` to update.
      reading: a `deconv.io.streaming.Reading`.
      run: `candidates_fn(net, sweeps)`, if the caller has it already (one compiled function
        for many calls).
      first: the image number of `paths[0]`: a part of a longer list (one shard of a
        distributed pass 1) keeps the numbers of the whole list; `state.cursor` counts in them.
    """
    if state.cursor - first >= len(paths):
        return
    run = run or candidates_fn(net, sweeps)
    for batch in streaming.stream(paths, run, reading, state.cursor - first):
        state.skipped.extend(batch.skipped)
        numbers = batch.numbers + first
        for topk, (values, indices) in zip(state.topks, batch.outputs):
            per_image = values.shape[1] // len(numbers)
            keep = np.repeat(batch.good, per_image)
            image_numbers = np.broadcast_to(np.repeat(numbers, per_image), values.shape)
            topk.update(values[:, keep], image_numbers[:, keep], indices[:, keep])
        state.cursor = int(numbers[-1]) + 1
        state.read += int(batch.good.sum())
        yield state
