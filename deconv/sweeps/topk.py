"""A running top-k over a stream of candidates, in bounded memory. Pure NumPy.

Candidates come in groups (one group for a feature map, or for all maps together; one group per
map for a sweep of every map). Each group keeps its k best `(value, image, index)` triples; ties
go to the earlier image, then the lower index, so the result does not depend on batching.
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
        values = np.concatenate([self.values, values.astype(np.float32)], axis=1)
        images = np.concatenate([self.images, images.astype(np.int64)], axis=1)
        indices = np.concatenate([self.indices, indices.astype(np.int64)], axis=1)
        order = np.lexsort((indices, images, -values), axis=1)[:, :self.k]
        self.values = np.take_along_axis(values, order, axis=1)
        self.images = np.take_along_axis(images, order, axis=1)
        self.indices = np.take_along_axis(indices, order, axis=1)

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
