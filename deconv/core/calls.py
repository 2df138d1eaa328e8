"""Recorded layer calls: a layer's arguments as the model called it, with each tensor replaced by
a `Ref` to its key among the forward tensors, so the call can be replayed on other tensors."""


class Ref:
    """A placeholder for the forward tensor `key` in a recorded layer call."""

    def __init__(self, key):
        self.key = key

    def __repr__(self):
        return f"Ref({self.key!r})"


def fill(structure, tensors):
    """`structure` (lists, tuples, dicts) with every `Ref` replaced by `tensors[ref.key]`."""
    if isinstance(structure, Ref):
        return tensors[structure.key]
    if isinstance(structure, (list, tuple)):
        return type(structure)(fill(item, tensors) for item in structure)
    if isinstance(structure, dict):
        return {key: fill(value, tensors) for key, value in structure.items()}
    return structure


def refs(structure):
    """The keys of the `Ref`s in `structure`, in order, without repeats."""
    found = []
    if isinstance(structure, Ref):
        found.append(structure.key)
    elif isinstance(structure, (list, tuple)):
        for item in structure:
            found += [key for key in refs(item) if key not in found]
    elif isinstance(structure, dict):
        for value in structure.values():
            found += [key for key in refs(value) if key not in found]
    return found


class Call:
    """A recorded call: positional `args` and keyword `kwargs`, with `Ref`s for tensors."""

    def __init__(self, args, kwargs=None):
        self.args, self.kwargs = tuple(args), dict(kwargs or {})

    @property
    def keys(self):
        """The keys of the tensors the call reads, in order."""
        return refs([list(self.args), self.kwargs])

    def __call__(self, layer, tensors):
        """Calls `layer` as recorded, on `tensors[key]` for each `Ref`."""
        return layer(*fill(list(self.args), tensors), **fill(self.kwargs, tensors))
