"""The running top-k and its merge: any split of the candidates, merged in any order (random
partitions, random merge trees), equals one pass, and both equal a plain sort (the oracle).
Values are drawn from a few integers, so ties are everywhere."""
import numpy as np
import pytest

from deconv.sweeps.topk import RunningTopK
from deconv.sweeps.topk import merge


def _candidates(rng, groups, count):
    """`count` candidates per group: (values, images, indices), each `(groups, count)`; every
    (image, index) pair once, values with many ties."""
    pairs = rng.permutation(count * 3)[:count]
    images, indices = np.divmod(pairs, 3)
    values = rng.integers(-2, 4, (groups, count)).astype(np.float32)
    return values, np.tile(images, (groups, 1)), np.tile(indices, (groups, 1))


def _sorted_oracle(values, images, indices, k):
    """Each group's k best by a Python sort: larger value, earlier image, lower index."""
    best = []
    for v, i, x in zip(values, images, indices):
        best.append(sorted(zip(-v.astype(np.float64), i.tolist(), x.tolist()))[:k])
    return best


def _as_triples(topk):
    return [list(zip(-v.astype(np.float64), i.tolist(), x.tolist()))
            for v, i, x in zip(topk.values, topk.images, topk.indices)]


def _same(a, b):
    return a.k == b.k and all(np.array_equal(getattr(a, key), getattr(b, key))
                              for key in ("values", "images", "indices"))


def _state_of(k, values, images, indices, batch):
    topk = RunningTopK(values.shape[0], k)
    for start in range(0, values.shape[1], batch):
        part = slice(start, start + batch)
        topk.update(values[:, part], images[:, part], indices[:, part])
    return topk


def _random_tree(rng, states):
    """Merges `states` in a random order and shape (a random binary tree)."""
    states = list(states)
    while len(states) > 1:
        i, j = sorted(rng.choice(len(states), 2, replace=False))
        second, first = states.pop(j), states.pop(i)
        pair = (first, second) if rng.random() < 0.5 else (second, first)
        states.append(merge(*pair))
    return states[0]


@pytest.mark.parametrize("seed", range(12))
def test_any_split_merged_in_any_order_equals_one_pass(seed):
    rng = np.random.default_rng(seed)
    groups, count, k = int(rng.integers(1, 4)), int(rng.integers(1, 60)), int(rng.integers(1, 12))
    values, images, indices = _candidates(rng, groups, count)
    one_pass = _state_of(k, values, images, indices, batch=int(rng.integers(1, 9)))
    assert _as_triples(one_pass) == _sorted_oracle(values, images, indices, k)
    for _ in range(5):
        # A random partition into parts (some empty), each scanned in its own batches.
        owner = rng.integers(0, int(rng.integers(1, 7)), count)
        parts = [_state_of(k, values[:, owner == p], images[:, owner == p],
                           indices[:, owner == p], batch=int(rng.integers(1, 6)))
                 for p in range(owner.max() + 1)]
        assert _same(_random_tree(rng, parts), one_pass)


def test_merge_is_commutative_and_associative_and_leaves_its_inputs():
    rng = np.random.default_rng(7)
    values, images, indices = _candidates(rng, 2, 45)
    a, b, c = (_state_of(5, values[:, s], images[:, s], indices[:, s], 4)
               for s in (slice(0, 15), slice(15, 30), slice(30, 45)))
    kept = a.values.copy()
    assert _same(merge(a, b), merge(b, a))
    assert _same(merge(merge(a, b), c), merge(a, merge(b, c)))
    assert _same(merge(a, RunningTopK(2, 5)), a)  # an empty part changes nothing
    np.testing.assert_array_equal(a.values, kept)


def test_ties_go_to_the_earlier_image_then_the_lower_index():
    one, two = RunningTopK(1, 3), RunningTopK(1, 3)
    one.update(np.array([[1.0, 1.0]]), np.array([[5, 2]]), np.array([[0, 9]]))
    two.update(np.array([[1.0, 1.0]]), np.array([[2, 0]]), np.array([[3, 9]]))
    merged = merge(one, two)
    assert merged.images.tolist() == [[0, 2, 2]] and merged.indices.tolist() == [[9, 3, 9]]


def test_states_of_different_shapes_are_refused():
    with pytest.raises(ValueError, match="top-3 of 1 groups with a top-4 of 1"):
        merge(RunningTopK(1, 3), RunningTopK(1, 4))
    with pytest.raises(ValueError, match="of 2 groups"):
        merge(RunningTopK(1, 3), RunningTopK(2, 3))
