"""PyTorch checkpoints read without torch: both of PyTorch's formats give exactly the tensors
PyTorch saved (fixtures written by torch itself, `reference/make_fixtures.py`), and a crafted
pickle is refused in one line without running anything."""
import os
import pickle
import zipfile

import numpy as np
import pytest

from deconv.errors import DeconvError
from deconv.models import torch_checkpoint

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "reference")


@pytest.mark.parametrize("name", ["tiny_legacy.pth", "tiny_zip.pth"])
def test_both_formats_give_the_tensors_torch_saved(name):
    expected = np.load(os.path.join(HERE, "tiny_expected.npz"))
    found = torch_checkpoint.read_state_dict(os.path.join(HERE, name))
    assert list(found) == list(expected.keys())  # in file order; the int "epoch" left out
    for key in expected:
        assert found[key].dtype == expected[key].dtype, key
        assert found[key].shape == expected[key].shape, key
        np.testing.assert_array_equal(found[key], expected[key], err_msg=key)
    # the transposed view keeps its strides' meaning; shared storages stay apart
    assert found["transposed"].shape == (5, 3)
    assert not np.shares_memory(found["first_half"], found["second_half"])


def _legacy_file(path, payload):
    """A legacy-format file whose main pickle is `payload` (raw pickle bytes)."""
    with open(path, "wb") as stream:
        pickle.dump(0x1950A86A20F9469CFC6C, stream, protocol=2)
        pickle.dump(1001, stream, protocol=2)
        pickle.dump({"little_endian": True}, stream, protocol=2)
        stream.write(payload)
        pickle.dump([], stream, protocol=2)


def _zip_file(path, payload):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", payload)
        archive.writestr("archive/version", "3\n")


def _crafted(module, name, marker):
    """A protocol-0 pickle that calls `module.name` to create `marker` when loaded."""
    if name == "eval":
        argument = f"S\"open({str(marker)!r}, 'w')\"\n".encode()
    elif name == "call":
        argument = f"(S'touch'\nS'{marker}'\nl".encode()
    else:
        argument = f"S'touch {marker}'\n".encode()
    return f"c{module}\n{name}\n(".encode() + argument + b"tR."


@pytest.mark.parametrize("write", [_legacy_file, _zip_file])
@pytest.mark.parametrize("module, name", [("os", "system"), ("posix", "system"),
                                          ("builtins", "eval"), ("subprocess", "call")])
def test_a_crafted_pickle_runs_nothing(tmp_path, write, module, name):
    marker = tmp_path / "ran"
    payload = _crafted(module, name, marker)
    path = tmp_path / "evil.pth"
    write(path, payload)
    with pytest.raises(DeconvError) as error:
        torch_checkpoint.read_state_dict(path)
    message = str(error.value)
    assert "\n" not in message and str(path) in message and f"{module}.{name}" in message
    assert not marker.exists()


def test_the_crafted_pickles_do_run_code_when_unpickled_plainly(tmp_path):
    """The payloads above are live: Python's own unpickler runs them."""
    for index, (module, name) in enumerate([("os", "system"), ("builtins", "eval"),
                                            ("subprocess", "call")]):
        marker = tmp_path / f"ran{index}"
        pickle.loads(_crafted(module, name, marker))
        assert marker.exists(), (module, name)


def _storage_pickle(offset, size, stride, numel=4):
    """A zip checkpoint's pickle of one tensor, written opcode by opcode (no torch here)."""
    pid = (b"(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpu"
           + pickle.dumps(numel, protocol=2)[2:-1] + b"tQ")
    ints = b"".join(pickle.dumps(v, protocol=2)[2:-1] for v in size)
    strides = b"".join(pickle.dumps(v, protocol=2)[2:-1] for v in stride)
    tensor = (b"ctorch._utils\n_rebuild_tensor_v2\n(" + pid + pickle.dumps(offset, protocol=2)[2:-1]
              + b"(" + ints + b"t(" + strides + b"t\x89ccollections\nOrderedDict\n)RtR")
    return b"\x80\x02ccollections\nOrderedDict\n)R(X\x01\x00\x00\x00w" + tensor + b"u."


def test_a_hand_written_zip_checkpoint_reads(tmp_path):
    path = tmp_path / "hand.pth"
    _zip_file(path, _storage_pickle(1, (3,), (1,)))
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("archive/data/0", np.arange(4, dtype="<f4").tobytes())
    np.testing.assert_array_equal(torch_checkpoint.read_state_dict(path)["w"], [1, 2, 3])


@pytest.mark.parametrize("offset, size, stride", [(2, (3,), (1,)), (0, (2, 2), (3, 1)),
                                                  (0, (5,), (1,))])
def test_a_tensor_past_its_storage_is_refused_before_reading(tmp_path, offset, size, stride):
    path = tmp_path / "past.pth"
    _zip_file(path, _storage_pickle(offset, size, stride))
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("archive/data/0", np.arange(4, dtype="<f4").tobytes())
    with pytest.raises(DeconvError, match="storage of 4"):
        torch_checkpoint.read_state_dict(path)


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all", b"\x89PNG\r\n\x1a\n"])
def test_other_files_are_one_line(tmp_path, content):
    path = tmp_path / "other.pth"
    path.write_bytes(content)
    with pytest.raises(DeconvError) as error:
        torch_checkpoint.read_state_dict(path)
    assert "\n" not in str(error.value) and str(path) in str(error.value)


def test_a_missing_file_and_a_plain_pickle(tmp_path):
    with pytest.raises(DeconvError, match="not found"):
        torch_checkpoint.read_state_dict(tmp_path / "missing.pth")
    path = tmp_path / "list.pth"
    _legacy_file(path, pickle.dumps([1, 2, 3], protocol=2))
    with pytest.raises(DeconvError, match="holds a list, not a state dict"):
        torch_checkpoint.read_state_dict(path)
    truncated = tmp_path / "truncated.pth"
    data = open(os.path.join(HERE, "tiny_legacy.pth"), "rb").read()
    truncated.write_bytes(data[: len(data) - 40])
    with pytest.raises(DeconvError, match="Cannot read PyTorch checkpoint"):
        torch_checkpoint.read_state_dict(truncated)
