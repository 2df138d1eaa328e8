"""python -m deconv.pretrained: converting a vgg19.npy-style dict."""
import deconv
from tests.conftest import last_error, run_command
from tests.models.test_weights import assert_same_weights


def test_convert_cli_writes_loadable_keras_file(tmp_path, npy_file, vgg16_arrays):
    result = run_command("pretrained", "--convert", str(npy_file), "--out", str(tmp_path / "w"))
    assert result.returncode == 0, result.stderr
    out = tmp_path / "w" / "vgg16.weights.h5"  # --out is a folder
    assert result.stdout.startswith(f"wrote {out} (vgg16)")
    assert_same_weights(deconv.load_model("vgg16", weights=str(out)), vgg16_arrays)
    assert sorted(p.name for p in (tmp_path / "w").iterdir()) == ["vgg16.weights.h5"]
    bad = run_command("pretrained", "--convert", str(tmp_path), "--out", str(tmp_path / "x"))
    assert bad.returncode == 2
    assert last_error(bad) == (f"python -m deconv.pretrained: error: --convert '{tmp_path}' is "
                               f"a folder, not a .npy dict of weights.")
