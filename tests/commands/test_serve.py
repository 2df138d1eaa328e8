"""python -m deconv.serve: it serves the page and the API on 127.0.0.1, refuses a port in use
in one line, and stops on Ctrl-C in one line (a bad --atlas: tests/explorer/test_api.py)."""
import json
import signal
import subprocess
import sys
import urllib.request

from tests.conftest import assert_plain_warnings, last_error, run_command
from tests.explorer.conftest import fake_atlas, photo, png_bytes  # noqa: F401 (fixtures)


def test_the_server_runs_and_refuses_a_port_in_use(fake_atlas, photo):
    process = subprocess.Popen(
        [sys.executable, "-m", "deconv.serve", "--model", "vgg16", "--weights", "random",
         "--size", "32", "--port", "0", "--atlas", fake_atlas[0]],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        assert line.startswith("The live explorer of vgg16 is at http://127.0.0.1:"), (
            line, process.stderr.read() if process.poll() is not None else "")
        url = line.split(" is at ")[1].split()[0]
        port = url.rstrip("/").rsplit(":", 1)[1]
        busy = run_command("serve", "--weights", "random", "--port", port)  # while it runs
        assert busy.returncode == 2 and last_error(busy).startswith(
            f"python -m deconv.serve: error: Cannot listen on 127.0.0.1 port {port}: "), (
            busy.stderr[-2000:])
        with urllib.request.urlopen(url + "api/info", timeout=30) as answer:
            info = json.load(answer)
        assert info["about"] == {"model": "vgg16", "weights": "random", "seed": 0}
        assert info["atlas"]["layers"] == ["conv3_1"] and info["size"] == 32
        with urllib.request.urlopen(urllib.request.Request(
                url + "api/images", data=png_bytes(photo), method="POST")) as answer:
            key = json.load(answer)["image"]
        with urllib.request.urlopen(f"{url}api/project?image={key}&layer=conv2_1&unit=3"
                                    f"&format=png", timeout=60) as answer:
            assert answer.headers["content-type"] == "image/png"
        with urllib.request.urlopen(url, timeout=30) as answer:
            assert "explorer.js" in answer.read().decode()
    finally:
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr[-2000:]
    assert stderr.strip().splitlines()[-1].startswith("python -m deconv.serve: interrupted")
    assert_plain_warnings(stderr, random=True)
