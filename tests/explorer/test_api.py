"""The live explorer's JSON API through FastAPI's test client: answers equal the library's
calls, bad input is a 4xx with one line, uploads are limited, only the atlas folder's own files
are served, occlusion jobs report progress, and no CORS header is ever sent."""
import os
import time

import numpy as np
import pytest

import deconv
from deconv.explorer import app as app_lib
from deconv.explorer import atlas_folder
from deconv.io import tiles
from tests.explorer.conftest import SIZE, decode, png_bytes


@pytest.fixture(scope="module")
def client(explorer, fake_atlas, examples):
    from fastapi.testclient import TestClient
    app = app_lib.build_app(explorer, atlas=atlas_folder.AtlasFolder(fake_atlas[0]),
                            examples=examples, about={"model": "vgg16", "weights": "random"})
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def key(client, photo):
    answer = client.post("/api/images", content=png_bytes(photo))
    assert answer.status_code == 200, answer.text
    return answer.json()["image"]


def _error(answer, status):
    assert answer.status_code == status, answer.text
    message = answer.json()["error"]
    assert "\n" not in message
    return message


def test_info_describes_the_model_and_what_is_offered(client, net16):
    info = client.get("/api/info").json()
    assert info["about"] == {"model": "vgg16", "weights": "random"} and info["size"] == SIZE
    assert [layer["keras"] for layer in info["layers"]] == [
        name for name in net16.layer_names if len(net16.step(name).shape) == 4]
    conv3_1 = next(layer for layer in info["layers"] if layer["name"] == "conv3_1")
    dependence = net16.image_dependence("conv3_1")
    assert conv3_1 == {"name": "conv3_1", "keras": "block3_conv1", "units": 256,
                       "map_size": [8, 8], "deconvnet": {"independent": False,
                                                         "verdict": dependence.verdict}}
    conv1_1 = next(layer for layer in info["layers"] if layer["name"] == "conv1_1")
    assert conv1_1["deconvnet"]["independent"]  # no max-pool below it
    assert info["atlas"] == {"layers": ["conv3_1"], "rule": "deconvnet"}
    assert info["examples"] == ["astronaut.png", "more/noise.png"]
    assert info["rules"] == ["deconvnet", "guided"] and info["occluder"] == {"size": 7,
                                                                            "stride": 2}


def test_images_maps_and_projections_equal_the_library(client, key, explorer, net16, photo):
    np.testing.assert_array_equal(decode(client.get(f"/api/images/{key}.png").content), photo)
    described = client.get("/api/maps", params={"image": key, "layer": "block3_conv1"}).json()
    grid = explorer.map_grid(key, "conv3_1")
    assert described["cell"] == [8, 8] and described["columns"] == 32
    maps = net16.activations(photo[None], "conv3_1")[0]
    np.testing.assert_allclose(described["strength"], maps.max(axis=(0, 1)), rtol=1e-5)
    assert described["argmax"] == grid.argmax.tolist()
    picture = client.get("/api/maps.png", params={"image": key, "layer": "conv3_1"})
    assert picture.headers["content-type"] == "image/png"
    np.testing.assert_array_equal(decode(picture.content), grid.picture)
    one = client.get("/api/map.png", params={"image": key, "layer": "conv3_1", "unit": 9,
                                             "normalize": "map"})
    np.testing.assert_array_equal(decode(one.content), explorer.one_map(key, "conv3_1", 9, "map"))
    guided = explorer.nets["guided"]  # built on net16's model (checked in test_live)
    for params, net, position, mode in [
            ({}, net16, None, "activation"), ({"y": 3, "x": 6}, net16, [(3, 6)], "activation"),
            ({"rule": "guided"}, guided, None, "activation"),
            ({"mode": "maps", "rule": "guided"}, guided, None, "maps")]:
        query = {"image": key, "layer": "conv3_1", "unit": 12, **params}
        found = client.get("/api/project", params=query).json()
        oracle = net.project_details(photo[None], "conv3_1", 12, position, mode)
        shown = deconv.to_uint8(oracle.reconstructions[0])
        np.testing.assert_array_equal(decode(found["image"]), shown)
        assert found["value"] == pytest.approx(float(oracle.values[0]), rel=1e-5)
        assert found["position"] == oracle.positions[0].tolist()
        assert found["box"] == (None if mode == "maps" else list(deconv.receptive_field(
            net16, "conv3_1", found["position"], (SIZE, SIZE))))
        effective = tiles.effective_box(oracle.reconstructions[0])
        assert found["box_effective"] == (None if effective is None else list(effective))
        raw = client.get("/api/project", params={**query, "format": "png"})
        np.testing.assert_array_equal(decode(raw.content), shown)
        floats = client.get("/api/project", params={**query, "format": "npy"})
        np.testing.assert_allclose(np.load(__import__("io").BytesIO(floats.content)),
                                   oracle.reconstructions[0], rtol=1e-5, atol=1e-6)


def test_bad_requests_get_one_line_errors(client, key):
    base = {"image": key, "layer": "conv3_1", "unit": 1}
    for params, status, expected in [
            ({"unit": "abc"}, 400, "unit: Input should be a valid integer"),
            ({"unit": 300}, 400, "which has 256 maps: 0 to 255"),
            ({"layer": "fc9"}, 400, "Unknown layer 'fc9'"),
            ({"y": 2}, 400, "Give both y and x"),
            ({"y": 2, "x": 99}, 400, "outside"),
            ({"format": "gif"}, 400, "Valid: json, png, npy"),
            ({"rule": "lrp"}, 400, "Valid: deconvnet, guided"),
            ({"image": "feedfacefeedface"}, 404, "Unknown image 'feedfacefeedface'")]:
        assert expected in _error(client.get("/api/project", params={**base, **params}),
                                  status), params
    assert "image: Field required" in _error(client.get("/api/maps?layer=conv3_1"), 400)


def test_uploads_are_limited_and_checked(client, explorer):
    limit = explorer.options.max_bytes
    too_big = b"\xff" * (limit + 1)
    assert "more than the" in _error(client.post("/api/images", content=too_big), 413)
    chunks = (b"\xff" * (1 << 20) for _ in range(limit // (1 << 20) + 2))  # no Content-Length
    assert "more than the" in _error(client.post("/api/images", content=chunks), 413)
    assert _error(client.post("/api/images", content=b"%PDF-1.4 not an image"), 400) == (
        "Not a usable image: not an image Pillow can identify.")
    form = client.post("/api/images", files={"file": ("a.png", b"x", "image/png")})
    assert "not as a form" in _error(form, 400)


def test_examples_load_like_uploads_and_only_listed_ones(client):
    answer = client.post("/api/examples/more/noise.png").json()
    assert answer["original"] == [20, 30] and answer["size"] == [SIZE, SIZE]
    assert client.get("/api/examples/astronaut.png").headers["content-type"] == "image/png"
    for name in ("../conftest.py", "%2e%2e/%2e%2e/setup.py", "nothere.png"):
        assert client.post(f"/api/examples/{name}").status_code == 404, name


def test_atlas_units_and_files(client, fake_atlas):
    folder, atlas = fake_atlas
    unit = client.get("/api/atlas/unit", params={"layer": "block3_conv1", "unit": 250}).json()
    assert unit["entries"] == atlas["layers"][0]["top"][250]
    assert unit["strip"] == "units/conv3_1/250.jpg" and unit["tile"] == 16
    assert unit["maximized"] == "maximized/conv3_1/250.png"
    assert unit["maximization"] == {"param": "fourier", "steps": 512, "ratio": 3.5}
    served = client.get(f"/atlas/{unit['strip']}")
    with open(os.path.join(folder, "units", "conv3_1", "250.jpg"), "rb") as stream:
        assert served.status_code == 200 and served.content == stream.read()
    assert "The atlas has no layer 'conv2_1'; it has conv3_1." in _error(client.get("/api/atlas/unit", params={
        "layer": "conv2_1", "unit": 0}), 404)
    assert "256 units" in _error(client.get("/api/atlas/unit", params={
        "layer": "conv3_1", "unit": 256}), 400)


def test_folders_that_are_not_atlases_are_refused_in_one_line(tmp_path, fake_atlas):
    with pytest.raises(deconv.DeconvError, match=r"holds no atlas.json: is it the --out folder"):
        atlas_folder.AtlasFolder(str(tmp_path))
    with pytest.raises(deconv.DeconvError, match=r"is not a folder"):
        atlas_folder.AtlasFolder(str(tmp_path / "missing"))
    (tmp_path / "atlas.json").write_text('{"format": "something else"}')
    with pytest.raises(deconv.DeconvError, match=r"is not a deconv atlas"):
        atlas_folder.AtlasFolder(str(tmp_path))
    (tmp_path / "atlas.json").write_text('{"format": ')
    with pytest.raises(deconv.DeconvError, match=r"Cannot read .*atlas.json"):
        atlas_folder.AtlasFolder(str(tmp_path))
    atlas = atlas_folder.AtlasFolder(fake_atlas[0])  # vgg16, a weights file's SHA-256
    assert atlas.mismatch({"model": "vgg19", "weights": "random", "seed": 0}).startswith(
        "the atlas was made with model 'vgg16'")
    assert "other weights" in atlas.mismatch({"model": "vgg16", "weights": "w.h5",
                                              "weights_file": {"sha256": "ab" * 32}})
    assert atlas.mismatch({"model": "vgg16", "weights": "w.h5", "weights_file": {
        "sha256": fake_atlas[1]["weights"]["sha256"]}}) is None


def test_only_files_inside_the_atlas_folder_are_served(client, fake_atlas, tmp_path):
    folder, _ = fake_atlas
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET 42")
    link = os.path.join(folder, "units", "escape.txt")
    if not os.path.lexists(link):
        os.symlink(secret, link)
    for path in ("..%2F..%2Fsecret.txt", "%2e%2e/%2e%2e/etc/passwd", "units/..%2F..%2Fsecret.txt",
                 "%2Fetc%2Fpasswd", "units/escape.txt", ".deconv_atlas.json",
                 "units/%2e%2e/atlas.json", "units%5C..%5Catlas.json"):
        answer = client.get(f"/atlas/{path}")  # encoded: the client cannot normalise them
        assert answer.status_code == 403, (path, answer.status_code)
        assert answer.json()["error"].startswith("Refused path")
        assert b"TOP SECRET" not in answer.content and b"root:" not in answer.content
    assert client.get("/atlas/atlas.json").status_code == 200
    assert client.get("/atlas/units/conv3_1/9999.jpg").status_code == 404


def test_occlusion_runs_as_a_job_and_equals_the_library(client, key, net16, photo):
    query = {"image": key, "layer": "conv3_1", "unit": 4, "size": 12, "stride": 4}
    started = client.post("/api/occlusion", params=query)
    assert started.status_code == 202 and started.json()["total"] == 36
    assert client.post("/api/occlusion", params=query).json()["job"] == started.json()["job"]
    job = started.json()["job"]
    seen = set()
    deadline = time.monotonic() + 60
    while (status := client.get(f"/api/occlusion/{job}").json())["state"] != "done":
        assert status["state"] in ("queued", "running") and time.monotonic() < deadline, status
        seen.add(status["done"])
        time.sleep(0.05)
    oracle = deconv.occlude(net16, "conv3_1", photo, feature=4,
                            occluder=deconv.Occluder(12, 4))
    assert status["done"] == 36 and status["baseline"] == pytest.approx(
        oracle.feature_baseline, rel=1e-5)
    assert (status["low"], status["high"]) == pytest.approx(
        (oracle.feature_total.min(), oracle.feature_total.max()), rel=1e-5)
    picture = decode(client.get(f"/api/occlusion/{job}.png").content)
    assert picture.shape[0] > SIZE and picture.shape[1] > SIZE  # the image, a bar, a title
    assert "larger than the image" in _error(client.post("/api/occlusion", params={
        **query, "size": 40}), 400)
    assert "Unknown occlusion job" in _error(client.get("/api/occlusion/999"), 404)


def test_security_headers_no_cors_and_no_third_party_pages(client):
    page = client.get("/", headers={"Origin": "https://evil.example"})
    assert page.status_code == 200 and "explorer.js" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    assert not [name for name in page.headers if name.startswith("access-control-")]
    preflight = client.options("/api/info", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "GET"})
    assert not [name for name in preflight.headers if name.startswith("access-control-")]
    assert client.get("/docs").status_code == 404  # Swagger UI would load from a CDN
    for name in ("explorer.js", "explorer.css"):
        text = client.get(f"/static/{name}").text
        assert "http://" not in text and "https://" not in text, name


def test_a_loopback_server_refuses_other_host_names(explorer):
    from fastapi.testclient import TestClient
    app = app_lib.build_app(explorer, options=app_lib.ServerOptions(
        allowed_hosts=app_lib.LOOPBACK))
    with TestClient(app, base_url="http://127.0.0.1:8000") as local:
        assert local.get("/api/info").status_code == 200
        assert local.get("/api/info", headers={"Host": "localhost:8000"}).status_code == 200
        assert local.get("/api/info", headers={"Host": "rebound.example"}).status_code == 400
    assert [app_lib.host_warning(host) for host in ("127.0.0.1", "localhost", "::1")] == [
        None] * 3
    assert app_lib.host_warning("0.0.0.0") == (
        "--host 0.0.0.0: the explorer is reachable from other machines, and it has no "
        "authentication.")


def test_too_much_waiting_work_is_refused_at_once(explorer, key):
    from fastapi.testclient import TestClient
    app = app_lib.build_app(explorer, options=app_lib.ServerOptions(max_pending=0))
    with TestClient(app) as busy:
        answer = busy.get("/api/project", params={"image": key, "layer": "conv3_1", "unit": 1})
        assert "waiting for the model" in _error(answer, 503)


def test_concurrent_clients_of_a_real_server_get_their_own_answers(served, explorer, photo):
    """12 clients at once over HTTP (uvicorn, 2 model threads), each a different unit, rule or
    position: every answer is its own request's projection."""
    import concurrent.futures
    import json
    import urllib.parse
    import urllib.request

    with urllib.request.urlopen(urllib.request.Request(
            served + "/api/images", data=png_bytes(photo), method="POST")) as answer:
        key = json.load(answer)["image"]
    requests = [(unit, relu_rule, (unit % 8, 7 - unit % 8) if unit % 3 else None)
                for unit in range(6) for relu_rule in ("deconvnet", "guided")]

    def fetch(request):
        unit, relu_rule, position = request
        query = {"image": key, "layer": "conv2_2", "unit": unit, "rule": relu_rule, "format": "png"}
        if position:
            query.update(y=position[0], x=position[1])
        with urllib.request.urlopen(f"{served}/api/project?{urllib.parse.urlencode(query)}",
                                    timeout=60) as answer:
            return decode(answer.read())

    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        shown = list(pool.map(fetch, requests))
    for (unit, relu_rule, position), pixels in zip(requests, shown):
        oracle = explorer.nets[relu_rule].project(photo[None], "conv2_2", unit,
                                             None if position is None else [position])
        np.testing.assert_array_equal(pixels, deconv.to_uint8(oracle)[0])
