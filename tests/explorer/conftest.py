"""The live explorer's shared fixtures: a 32 px photo as a PNG file, a fake atlas of VGG16's
conv3_1, an `Explorer` of the session's VGG16 (seeded random weights), and that explorer served
by a real uvicorn server in a background thread on a free port of 127.0.0.1."""
import io
import socket
import threading
import time

import numpy as np
from PIL import Image
import pytest

from deconv.explorer import live
from tests.conftest import photos
from tests.helpers.fake_atlas import make_fake_atlas

SIZE = 32
ATLAS_LAYERS = (("conv3_1", 256),)


def png_bytes(pixels):
    stream = io.BytesIO()
    Image.fromarray(pixels).save(stream, format="PNG")
    return stream.getvalue()


def decode(data):
    """PNG bytes (or a `data:` URL of them) as an array."""
    if isinstance(data, str):
        import base64
        assert data.startswith("data:image/png;base64,"), data[:40]
        data = base64.b64decode(data.split(",", 1)[1])
    return np.asarray(Image.open(io.BytesIO(data)))


@pytest.fixture(scope="session")
def photo():
    """A real photo at the explorer's size (so the server's resize keeps its pixels)."""
    return photos((SIZE, SIZE), ("astronaut",))[0]


@pytest.fixture(scope="session")
def photo_file(photo, tmp_path_factory):
    path = tmp_path_factory.mktemp("upload") / "astronaut.png"
    path.write_bytes(png_bytes(photo))
    return str(path)


@pytest.fixture(scope="session")
def fake_atlas(tmp_path_factory):
    """`(folder, atlas record)`: a synthetic atlas of conv3_1 (`tests.helpers.fake_atlas`)."""
    folder = tmp_path_factory.mktemp("live_atlas")
    return str(folder), make_fake_atlas(str(folder), layers=ATLAS_LAYERS, sources=3,
                                        maximize=True)


@pytest.fixture(scope="session")
def explorer(net16):
    return live.Explorer(net16, live.Options(size=SIZE, images=8, activations=2))


@pytest.fixture(scope="session")
def examples(tmp_path_factory, photo):
    """A folder of example images: the photo, and one in a subfolder."""
    folder = tmp_path_factory.mktemp("examples")
    (folder / "astronaut.png").write_bytes(png_bytes(photo))
    (folder / "more").mkdir()
    (folder / "more" / "noise.png").write_bytes(png_bytes(
        np.random.default_rng(1).integers(0, 256, (20, 30, 3), np.uint8)))
    return str(folder)


@pytest.fixture(scope="session")
def served(explorer, fake_atlas, examples):
    """The base URL of a real server of `explorer` (with the fake atlas and the examples)."""
    import uvicorn

    from deconv.explorer import app as app_lib
    from deconv.explorer import atlas_folder

    app = app_lib.build_app(explorer, atlas=atlas_folder.AtlasFolder(fake_atlas[0]),
                            examples=examples, about={"model": "vgg16", "weights": "random"},
                            options=app_lib.ServerOptions(workers=2))
    # IPPROTO_TCP: asyncio then sets TCP_NODELAY on each connection (else 40 ms per answer)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(timeout=15)
    sock.close()
