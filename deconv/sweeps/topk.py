"""A running top-k over a stream of candidates, in bounded memory. Pure NumPy.

Candidates come in groups (one group for a feature map, or for all maps together; one group per
map for a sweep of every map). Each group keeps its k best `(value, image, index)` triples in one
total order: the larger value, then the earlier image (its number in the sorted list of paths, so
the earlier path), then the lower index. So the result does not depend on batching, and two
partial states, of any two parts of a dataset, `merge` into the state of one pass over both: the
merge is associative and commutative, what a distributed engine's combiner needs.
"""
import numpy as np


class RunningTopK:
    """The k strongest candidates seen so far in each of `groups` groups.

    Attributes:
      values: `(groups, m)` float32, best first, `m <= k`.
      images: `(groups, m)` int64 image numbers.
      indices: `(groups, m)` int64 flat indices within the image (their meaning is the caller's).
    """

    def __init__(self, groups, k):
        if k < 1:
            raise ValueError(f"k must be at least 1; received {k}.")
        self.k = k
        self.values = np.zeros((groups, 0), np.float32)
        self.images = np.zeros((groups, 0), np.int64)
        self.indices = np.zeros((groups, 0), np.int64)

    def update(self, values, images, indices):
        """Merges candidates, each `(groups, n)`, keeping the k best per group."""
        self.values, self.images, self.indices = _best(
            self.k, (self.values, values.astype(np.float32)),
            (self.images, images.astype(np.int64)), (self.indices, indices.astype(np.int64)))

    def state(self):
        """Returns the state as a dict of arrays (for checkpoints)."""
        return {"k": np.int64(self.k), "values": self.values, "images": self.images,
                "indices": self.indices}

    @classmethod
    def from_state(cls, state):
        topk = cls(state["values"].shape[0], int(state["k"]))
        topk.values, topk.images, topk.indices = (np.asarray(state[key]) for key in
                                                  ("values", "images", "indices"))
        return topk


def _best(k, values, images, indices):
    """The k best of the concatenated `(values, images, indices)` parts, per group (row)."""
    values, images, indices = (np.concatenate(part, axis=1) for part in (values, images, indices))
    order = np.lexsort((indices, images, -values), axis=1)[:, :k]
    return tuple(np.take_along_axis(array, order, axis=1) for array in (values, images, indices))


def merge(a, b):
    """The top-k of two partial states (`RunningTopK`s of disjoint parts of one dataset, with
    image numbers into one list of paths): equal to the state of one pass over both parts, for
    any split and in any order of merging. Neither argument is changed.

    Raises:
      ValueError: the states keep different k or different numbers of groups.
    """
    if a.k != b.k or a.values.shape[0] != b.values.shape[0]:
        raise ValueError(f"Cannot merge a top-{a.k} of {a.values.shape[0]} groups with a "
                         f"top-{b.k} of {b.values.shape[0]} groups.")
    merged = RunningTopK(a.values.shape[0], a.k)
    merged.values, merged.images, merged.indices = _best(
        a.k, (a.values, b.values), (a.images, b.images), (a.indices, b.indices))
    return merged
