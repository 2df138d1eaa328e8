"""SavedModel export: loaded where deconv cannot be imported, its signatures equal the library."""
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import deconv
from deconv.errors import DeconvError
from deconv.saved_models import saved_model
from tests.conftest import ROOT, build_custom_cnn, photos

# Runs in a fresh interpreter in which `import deconv` fails: only TensorFlow is used.
_LOADER = textwrap.dedent("""
    import sys
    sys.modules["deconv"] = None
    try:
        import deconv
        raise SystemExit("deconv must not be importable here")
    except ImportError:
        pass
    import numpy as np
    import tensorflow as tf

    inputs = np.load(sys.argv[2])
    results = {}
    model = tf.saved_model.load(sys.argv[1])
    results["signatures"] = np.array(sorted(model.signatures))
    prefix = sys.argv[3]
    images = tf.constant(inputs["images"])
    for key, value in model.signatures[prefix + "project"](
            images=images, feature=tf.constant(inputs["feature"]),
            position=tf.constant(inputs["position"])).items():
        results["project_" + key] = value.numpy()
    results["activations"] = model.signatures[prefix + "activations"](
        images=images)["activations"].numpy()
    for key, value in model.signatures[prefix + "top_k"](images=images,
                                                          k=tf.constant(5)).items():
        results["top_k_" + key] = value.numpy()
    try:
        model.signatures[prefix + "project"](
            images=images, feature=tf.constant(inputs["feature"] + 100000),
            position=tf.constant(inputs["position"]))
    except tf.errors.InvalidArgumentError as error:
        results["error"] = np.array(" ".join(error.message.split()))
    # Bad input fails with the export's own message every time, never a kernel's first.
    messages = []
    for _ in range(6):
        for name, arguments in (("top_k", dict(images=images, k=tf.constant(10 ** 8))),
                                ("activations", dict(images=images[:, :2, :2]))):
            try:
                model.signatures[prefix + name](**arguments)
                messages.append("no error")
            except tf.errors.InvalidArgumentError as error:
                messages.append(" ".join(error.message.split()))
    results["bad_input_errors"] = np.array(messages)
    # An empty batch gives empty outputs, with every other dimension as for a full one.
    empty = images[:0]
    shapes = []
    for name, arguments in (
            ("project", dict(images=empty, feature=tf.zeros([0], tf.int32),
                             position=tf.zeros([0, 2], tf.int32))),
            ("activations", dict(images=empty)), ("top_k", dict(images=empty, k=tf.constant(5)))):
        for key, value in sorted(model.signatures[prefix + name](**arguments).items()):
            shapes.append(f"{name}_{key}: {list(value.shape)}")
    results["empty_batch_shapes"] = np.array(shapes)
    np.savez(sys.argv[4], **results)
""")


def _load_elsewhere(path, images, feature, position, tmp_path, prefix=""):
    np.savez(tmp_path / "inputs.npz", images=images, feature=feature, position=position)
    script = tmp_path / "load.py"
    script.write_text(_LOADER)
    result = subprocess.run([sys.executable, str(script), str(path), str(tmp_path / "inputs.npz"),
                             prefix, str(tmp_path / "results.npz")], capture_output=True,
                            text=True, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return dict(np.load(tmp_path / "results.npz"))


def _assert_matches_library(net, layer, results, images, feature, position, tiny_fails=True):
    size = images.shape[1:3]
    projection = net.project_details(images, layer, feature, position)
    np.testing.assert_allclose(results["project_reconstruction"], projection.reconstructions,
                               rtol=1e-5, atol=1e-5 * np.abs(projection.reconstructions).max())
    np.testing.assert_allclose(results["project_value"], projection.values, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(results["project_position"], projection.positions)
    np.testing.assert_array_equal(results["project_box"], [
        deconv.receptive_field(net, layer, p, size) for p in projection.positions])
    activations = net.activations(images, layer)
    np.testing.assert_allclose(results["activations"], activations, rtol=1e-5, atol=1e-6)
    count = activations.shape[-1]
    for i, flat in enumerate(activations.reshape(len(images), -1)):
        top = np.argsort(-flat, kind="stable")[:5]
        np.testing.assert_allclose(results["top_k_value"][i], flat[top], rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(results["top_k_map"][i], top % count)
        positions = np.stack(np.divmod(top // count, activations.shape[2]), axis=1)
        np.testing.assert_array_equal(results["top_k_position"][i], positions)
        np.testing.assert_array_equal(results["top_k_box"][i], [
            deconv.receptive_field(net, layer, p, size) for p in positions])
    assert "feature out of range" in str(results["error"]) and str(count) in str(results["error"])
    messages = list(results["bad_input_errors"])
    assert all("k is larger than the number of activations" in m for m in messages[::2]), messages
    if tiny_fails:  # a layer that any image reaches has nothing to say here
        assert all("images are too small for layer" in m for m in messages[1::2]), messages
    height, width = activations.shape[1:3]
    assert list(results["empty_batch_shapes"]) == [
        "project_box: [0, 4]", "project_position: [0, 2]",
        f"project_reconstruction: [0, {size[0]}, {size[1]}, 3]", "project_value: [0]",
        f"activations_activations: [0, {height}, {width}, {count}]",
        "top_k_box: [0, 5, 4]", "top_k_map: [0, 5]", "top_k_position: [0, 5, 2]",
        "top_k_value: [0, 5]"]


def _stored_parameters(path):
    """How many numbers the SavedModel's variables hold, all variables together."""
    import tensorflow as tf
    return sum(int(np.prod(shape)) for name, shape in
               tf.train.list_variables(str(path / "variables" / "variables"))
               if not name.startswith("_CHECKPOINTABLE_OBJECT_GRAPH"))


def _parameters_up_to(model, layer):
    """The parameters of `model`'s layers from the input to `layer`, each once."""
    names = [item.name for item in model.layers]
    return sum(weight.numpy().size for item in model.layers[:names.index(layer) + 1]
               for weight in item.weights)


def test_exported_layer_equals_library_without_deconv(vgg16, tmp_path):
    net = deconv.Deconvnet(vgg16)
    path = tmp_path / "vgg16_conv3_3"
    assert saved_model.export_saved_model(net, ["conv3_3"], str(path), "vgg16 test") == [
        "project", "activations", "top_k"]
    assert "model.signatures[\"project\"]" in (path / "README.txt").read_text()
    images = photos((67, 45))  # odd size, dynamic in the graph
    activations = net.activations(images, "conv3_3")
    feature = np.array([activations[0].max(axis=(0, 1)).argmax(), 7], np.int32)
    position = np.array([[-1, -1], [3, 2]], np.int32)
    results = _load_elsewhere(path, images, feature, position, tmp_path)
    assert list(results["signatures"]) == ["activations", "project", "serving_default", "top_k"]
    _assert_matches_library(net, "conv3_3", results, images, feature, position)
    # Only what conv3_3's signatures read, once: not conv4 and conv5, not two copies.
    assert _stored_parameters(path) == _parameters_up_to(vgg16, "block3_conv3")


def test_all_layers_of_a_custom_cnn(tmp_path):
    net = deconv.Deconvnet(build_custom_cnn())
    path = tmp_path / "custom_all"
    signatures = saved_model.export_saved_model(net, net.conv_layers, str(path))
    assert signatures == [f"{layer}_{kind}" for layer in ("c1", "c2", "c3")
                          for kind in ("project", "activations", "top_k")]
    images = photos((61, 50))
    feature = np.array([1, 4], np.int32)
    position = np.array([[-1, -1], [-1, -1]], np.int32)
    results = _load_elsewhere(path, images, feature, position, tmp_path, prefix="c2_")
    _assert_matches_library(net, "c2", results, images, feature, position)
    assert _stored_parameters(path) == _parameters_up_to(net.model, "c3")


def test_a_graph_model_exports_and_loads_without_deconv(tmp_path):
    """Residual branches merged by an add: values, positions and boxes computed in the graph
    equal the library's (past the gate's global pool, boxes are the whole image: library
    tests)."""
    from tests.helpers.graph_model import build_graph_cnn
    net = deconv.Deconvnet(build_graph_cnn())
    path = tmp_path / "graph"
    assert saved_model.export_saved_model(net, ["sum", "excite"], str(path))[0] == "sum_project"
    images = photos((29, 26))
    feature = np.array([1, 4], np.int32)
    position = np.array([[-1, -1], [2, 3]], np.int32)
    results = _load_elsewhere(path, images, feature, position, tmp_path, prefix="sum_")
    _assert_matches_library(net, "sum", results, images, feature, position, False)


def test_saved_model_cli_lists_the_signatures(vgg16, tmp_path):
    path = tmp_path / "exported"
    saved_model.export_saved_model(deconv.Deconvnet(vgg16), ["conv1_2"], str(path))
    tool = shutil.which("saved_model_cli") or os.path.join(os.path.dirname(sys.executable),
                                                            "saved_model_cli")
    shown = subprocess.run([tool, "show", "--all", "--dir", str(path)], capture_output=True,
                           text=True, timeout=300).stdout
    for text in ("signature_def['project']", "signature_def['activations']",
                 "signature_def['top_k']", "inputs['position']", "outputs['reconstruction']",
                 "outputs['box']", "inputs['k']"):
        assert text in shown, text


def test_export_refuses_to_overwrite(vgg16, tmp_path):
    net = deconv.Deconvnet(vgg16)
    saved_model.export_saved_model(net, ["conv1_1"], str(tmp_path / "m"))
    with pytest.raises(DeconvError, match="already holds a SavedModel"):
        saved_model.export_saved_model(net, ["conv1_1"], str(tmp_path / "m"))




_EXPORT = textwrap.dedent("""
    import sys
    import deconv
    from deconv.saved_models import saved_model
    import keras
    keras.utils.set_random_seed(0)
    net = deconv.Deconvnet(keras.applications.VGG16(weights=None, include_top=False,
                                                    input_shape=(None, None, 3)))
    saved_model.export_saved_model(net, ["conv2_2"], sys.argv[1])
""")


def _without_uuid(path):
    """A SavedModel's fingerprint without the random `uuid` TensorFlow writes in each save."""
    from tensorflow.core.protobuf import fingerprint_pb2
    fingerprint = fingerprint_pb2.FingerprintDef.FromString(path.read_bytes())
    fingerprint.ClearField("uuid")
    return fingerprint.SerializeToString(deterministic=True)


def test_two_exports_are_byte_identical(tmp_path):
    """Exported twice (fresh interpreters), every file has the same bytes: the variables are
    written in the order of their names, not in the order a trace met them. Only the uuid
    TensorFlow draws for each save differs, in fingerprint.pb."""
    folders = [tmp_path / "first", tmp_path / "second"]
    for folder in folders:
        subprocess.run([sys.executable, "-c", _EXPORT, str(folder)], check=True, cwd=ROOT,
                       capture_output=True, env={**os.environ, "PYTHONPATH": ROOT})
    files = sorted(path.relative_to(folders[0]) for path in folders[0].rglob("*")
                   if path.is_file())
    assert {str(name) for name in files} >= {"saved_model.pb", "fingerprint.pb",
                                             "variables/variables.index"}
    for name in files:
        read = _without_uuid if name.name == "fingerprint.pb" else lambda path: path.read_bytes()
        assert read(folders[0] / name) == read(folders[1] / name), name
