"""PyTorch checkpoints read without torch and without running pickled code.

A `.pth` state dict is a pickle whose tensors point into separately stored arrays ("storages").
Two layouts exist: the legacy one (PyTorch < 1.6: a run of pickles, then each storage as an
8-byte element count and its bytes) and the zip one (`archive/data.pkl` with one file per
storage under `archive/data/`). `read_state_dict` reads both into `{name: numpy array}`.

The unpickler knows only what a state dict of tensors needs: `collections.OrderedDict`,
PyTorch's tensor rebuild functions (answered by our own NumPy code, never torch's) and the
float, integer and bool storage types. Any other global (`os.system`, a module's class, ...)
is refused with one line naming the file and what it met, before anything is called, so a
crafted file cannot run code. Every tensor's size, stride and offset is checked against its
storage before a single element is read.
"""
import collections
import dataclasses
import io
import os
import pickle
import struct
import zipfile

import numpy as np

from deconv.errors import DeconvError

# PyTorch's storage types and the NumPy type of their elements (bfloat16 is widened below).
_STORAGE_DTYPES = {
    "DoubleStorage": "float64", "FloatStorage": "float32", "HalfStorage": "float16",
    "BFloat16Storage": "bfloat16", "LongStorage": "int64", "IntStorage": "int32",
    "ShortStorage": "int16", "CharStorage": "int8", "ByteStorage": "uint8",
    "BoolStorage": "bool",
}
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001


@dataclasses.dataclass(frozen=True)
class _StorageType:
    """A storage class named in the pickle (`torch.FloatStorage`), by its element type."""
    dtype: str

    @property
    def itemsize(self):
        return 2 if self.dtype == "bfloat16" else np.dtype(self.dtype).itemsize


@dataclasses.dataclass(frozen=True)
class _StorageRef:
    """A storage a tensor points into: its key in the file and its element count."""
    kind: _StorageType
    key: str
    numel: int
    view_offset: int = 0  # legacy views into a larger root storage


@dataclasses.dataclass(frozen=True)
class _PendingTensor:
    """A tensor whose storage is read after the pickle: where its elements lie."""
    storage: _StorageRef
    offset: int
    size: tuple
    stride: tuple


class _Refused(Exception):
    """Something in the pickle that a state dict of tensors never holds."""


def _ints(value, what):
    if not isinstance(value, tuple) or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value):
        raise _Refused(f"a tensor {what} that is not a tuple of non-negative integers: {value!r}")
    return value


def _rebuild_tensor(storage, offset, size, stride, *unused):
    """PyTorch's `_rebuild_tensor(_v2)`: a tensor as a strided view of a storage."""
    if not isinstance(storage, _StorageRef) or not isinstance(offset, int) or offset < 0:
        raise _Refused("a tensor rebuilt from something other than a storage")
    size, stride = _ints(size, "size"), _ints(stride, "stride")
    if len(size) != len(stride):
        raise _Refused(f"a tensor with size {size} and stride {stride} of different lengths")
    last = offset + sum((n - 1) * s for n, s in zip(size, stride)) if all(size) else offset - 1
    if last >= storage.numel:
        raise _Refused(f"a tensor reaching element {last} of a storage of {storage.numel}")
    return _PendingTensor(storage, offset, size, stride)


def _rebuild_parameter(data, requires_grad, *unused):
    """PyTorch's `_rebuild_parameter`: a parameter is its tensor here."""
    if not isinstance(data, _PendingTensor):
        raise _Refused("a parameter rebuilt from something other than a tensor")
    return data


_GLOBALS = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    **{("torch", name): _StorageType(dtype) for name, dtype in _STORAGE_DTYPES.items()},
}


class _StateDictUnpickler(pickle.Unpickler):
    """Builds dicts, tuples, numbers, strings and our tensor placeholders; nothing else."""

    def __init__(self, stream, legacy):
        super().__init__(stream, encoding="latin1")
        self.legacy = legacy
        self.storages = {}

    def find_class(self, module, name):
        if (module, name) not in _GLOBALS:
            raise _Refused(f"it holds the global {module}.{name}, which a state dict of tensors "
                           f"never needs; refused (such a pickle could run code)")
        return _GLOBALS[(module, name)]

    def persistent_load(self, pid):
        if not isinstance(pid, tuple) or not pid or pid[0] != "storage" or len(pid) < 5:
            raise _Refused(f"it holds a persistent object {pid!r} that is not a storage")
        kind, key, numel = pid[1], str(pid[2]), pid[4]
        if not isinstance(kind, _StorageType) or not isinstance(numel, int) or numel < 0:
            raise _Refused(f"it holds a malformed storage reference {pid!r}")
        root = self.storages.setdefault(key, _StorageRef(kind, key, numel))
        if root.kind != kind or root.numel != numel:
            raise _Refused(f"storage {key} is declared twice with different types or sizes")
        view = pid[5] if len(pid) > 5 else None
        if self.legacy and view is not None:  # (view key, offset, size) into the root
            _, view_offset, view_numel = view
            if view_offset + view_numel > numel:
                raise _Refused(f"a view past the end of storage {key}")
            return _StorageRef(kind, key, view_numel, view_offset)
        return root


def _storage_array(raw, kind, numel, little_endian, key):
    if len(raw) != numel * kind.itemsize:
        raise _Refused(f"storage {key} holds {len(raw)} bytes, not the {numel * kind.itemsize} "
                       f"its {numel} elements need")
    order = "<" if little_endian else ">"
    if kind.dtype == "bfloat16":  # the upper half of a float32
        halves = np.frombuffer(raw, f"{order}u2").astype(np.uint32)
        return (halves << 16).view(np.float32)
    return np.frombuffer(raw, np.dtype(kind.dtype).newbyteorder(order)).astype(kind.dtype)


def _materialise(tensor, arrays):
    base = arrays[tensor.storage.key][tensor.storage.view_offset:]
    element = base.itemsize
    view = np.lib.stride_tricks.as_strided(
        base[tensor.offset:], shape=tensor.size,
        strides=tuple(s * element for s in tensor.stride), writeable=False)
    return np.array(view)


def _read_legacy(stream):
    if pickle.load(stream) != _LEGACY_MAGIC:
        raise _Refused("it is not a PyTorch checkpoint (no legacy magic number, and not a zip)")
    if pickle.load(stream) != _LEGACY_PROTOCOL:
        raise _Refused("its legacy protocol version is not 1001")
    info = _StateDictUnpickler(stream, legacy=True).load()  # the writer's system: plain data
    little_endian = not isinstance(info, dict) or info.get("little_endian", True)
    unpickler = _StateDictUnpickler(stream, legacy=True)
    result = unpickler.load()
    keys = _StateDictUnpickler(stream, legacy=True).load()
    if not isinstance(keys, list) or set(map(str, keys)) != set(unpickler.storages):
        raise _Refused("its list of storages does not match the tensors that use them")
    arrays = {}
    for key in map(str, keys):
        ref = unpickler.storages[key]
        (count,) = struct.unpack("<q" if little_endian else ">q", stream.read(8))
        if count != ref.numel:
            raise _Refused(f"storage {key} holds {count} elements, not the {ref.numel} declared")
        raw = stream.read(count * ref.kind.itemsize)
        arrays[key] = _storage_array(raw, ref.kind, count, little_endian, key)
    return result, arrays


def _read_zip(path):
    with zipfile.ZipFile(path) as archive:
        pickles = [name for name in archive.namelist() if name.endswith("data.pkl")]
        if len(pickles) != 1:
            raise _Refused(f"it is a zip with {len(pickles)} data.pkl files, not one")
        prefix = pickles[0][:-len("data.pkl")]
        names = set(archive.namelist())
        order = (archive.read(prefix + "byteorder").decode().strip()
                 if prefix + "byteorder" in names else "little")
        unpickler = _StateDictUnpickler(io.BytesIO(archive.read(pickles[0])), legacy=False)
        result = unpickler.load()
        arrays = {}
        for key, ref in unpickler.storages.items():
            if f"{prefix}data/{key}" not in names:
                raise _Refused(f"storage {key} is missing from the archive")
            raw = archive.read(f"{prefix}data/{key}")
            arrays[key] = _storage_array(raw, ref.kind, ref.numel, order == "little", key)
    return result, arrays


def _state_dict(result):
    """The `{name: tensor}` dict inside what the file holds (directly, or under a usual key)."""
    for key in ("state_dict", "model_state_dict", "model"):
        if isinstance(result, dict) and isinstance(result.get(key), dict):
            result = result[key]
            break
    if not isinstance(result, dict) or not result:
        raise _Refused(f"it holds a {type(result).__name__}, not a state dict of tensors")
    return result


def read_state_dict(path):
    """Returns the tensors of a PyTorch checkpoint as `{name: numpy array}`, in file order.

    Entries that are not tensors (a step count, a version) are left out.

    Raises:
      DeconvError: the file is missing, unreadable, not a PyTorch checkpoint, or holds anything
        beyond a state dict of tensors; one line naming the file and what was met.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DeconvError(f"PyTorch checkpoint not found: {path!r}.")
    try:
        if zipfile.is_zipfile(path):
            result, arrays = _read_zip(path)
        else:
            with open(path, "rb") as stream:
                result, arrays = _read_legacy(stream)
        tensors = _state_dict(result)
        return {str(name): _materialise(value, arrays) for name, value in tensors.items()
                if isinstance(value, _PendingTensor)}
    except _Refused as refused:
        raise DeconvError(f"Cannot read PyTorch checkpoint {path}: {refused}.") from None
    except Exception as error:  # a truncated or malformed pickle raises many types
        reason = " ".join(str(error).split()) or type(error).__name__
        raise DeconvError(f"Cannot read PyTorch checkpoint {path}: {reason} (not a PyTorch "
                          f"state dict, or a damaged file).") from None
