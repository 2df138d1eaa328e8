"""python -m deconv.pretrained: converting a vgg19.npy-style dict."""
import deconv
from tests.conftest import last_error, run_command
from tests.models.test_weights import assert_same_weights


def test_convert_cli_writes_loadable_keras_file(tmp_path, npy_file, vgg16_arrays):
    out = tmp_path / "converted.weights.h5"
    result = run_command("pretrained", "--convert", str(npy_file), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "vgg16" in result.stdout
    assert_same_weights(deconv.load_model("vgg16", weights=str(out)), vgg16_arrays)
    bad = run_command("pretrained", "--convert", str(npy_file), "--out", str(tmp_path / "x.h5"))
    assert bad.returncode == 2
    assert last_error(bad).endswith("must end with .weights.h5; received "
                                                        f"'{tmp_path / 'x.h5'}'.")
