"""The live explorer's latency and behaviour under load (issue 16), side by side in one process:
the library call `net.project` against the HTTP request `GET /api/project` of the same
projection to a real uvicorn server (in a thread of this process, on 127.0.0.1); a layer's map
grid; then many clients at once for a while, with this process's resident memory sampled.

    python benchmarks/serve.py --out benchmarks/serve.json       # about 4 minutes on 2 cores
    python benchmarks/serve.py --parts load --seconds 120 --out benchmarks/serve_load.json
    python benchmarks/serve.py --parts workers --seconds 30 --out benchmarks/serve_workers.json
    python benchmarks/serve.py --quick                            # tiny, a minute

VGG19 with seeded random weights at 224x224 (the work does not depend on the weights' values).
Each request and call is warmed up first (graphs built and traced); rounds alternate the
library call and the request, rotating their order.
"""
import argparse
import http.client
import json
import os
import random
import socket
import sys
import threading
import time
import urllib.parse

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

import numpy as np  # noqa: E402

import deconv  # noqa: E402
from bench import side_by_side  # noqa: E402
from deconv.core import layers as deconv_layers  # noqa: E402
from deconv.explorer import app as app_lib  # noqa: E402
from deconv.explorer import live  # noqa: E402

LAYERS = ("conv1_2", "conv3_4", "conv4_4", "conv5_4")


def _serve(explorer, workers):
    """Starts a uvicorn server of `explorer` in a thread; returns `(port, server)`."""
    import uvicorn
    app = app_lib.build_app(explorer, options=app_lib.ServerOptions(workers=workers))
    # IPPROTO_TCP: asyncio then sets TCP_NODELAY on each connection (else delayed ACKs add
    # 40 ms to every answer written in two parts)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return sock.getsockname()[1], server


class Client:
    """One HTTP/1.1 connection, kept open (as a browser keeps one)."""

    def __init__(self, port):
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)

    def request(self, method, path, body=None, **params):
        url = path + ("?" + urllib.parse.urlencode(params) if params else "")
        self.connection.request(method, url, body=body)
        answer = self.connection.getresponse()
        return answer.status, answer.read()

    def get_json(self, path, **params):
        status, body = self.request("GET", path, **params)
        assert status == 200, (status, body[:300])
        return json.loads(body)


def _percentiles(times):
    return float(np.percentile(times, 50)), float(np.percentile(times, 95))


def latency(net, client, pixels, key, rounds, layers):
    """Per layer: the library call and the requests (JSON as the page asks, PNG), p50/p95."""
    rows = []
    for layer in layers:
        query = {"image": key, "layer": layer, "unit": 0}
        calls = {"library": lambda: net.project(pixels[None], layer, 0),
                 "http_json": lambda: json.loads(client.request("GET", "/api/project",
                                                                **query)[1]),
                 "http_png": lambda: client.request("GET", "/api/project", format="png",
                                                    **query)}
        times = side_by_side(calls, rounds)
        library = _percentiles(times["library"])
        row = {"layer": layer, "rounds": rounds, "library_p50": library[0],
               "library_p95": library[1]}
        for name in ("http_json", "http_png"):
            p50, p95 = _percentiles(times[name])
            row.update({f"{name}_p50": p50, f"{name}_p95": p95,
                        f"{name}_p50_ratio": p50 / library[0],
                        f"{name}_p95_ratio": p95 / library[1],
                        f"{name}_median_round_ratio": float(np.median(
                            np.array(times[name]) / np.array(times["library"])))})
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def grid(net, client, pixels, rounds, layer="conv5_4"):
    """A layer's grid (`/api/maps` and `/api/maps.png`): for an image whose activations are
    cached, and for a new one (every layer's forward pass first), against the forward pass
    to `layer` alone (`net.activations`)."""
    new_images = iter(range(1, 10 ** 6))

    def fresh():
        shifted = np.roll(pixels, next(new_images), axis=1)
        status, body = client.request("POST", "/api/images", body=live.png(shifted, 6))
        key = json.loads(body)["image"]
        started = time.perf_counter()
        client.get_json("/api/maps", image=key, layer=layer)
        client.request("GET", "/api/maps.png", image=key, layer=layer)
        return time.perf_counter() - started

    status, body = client.request("POST", "/api/images", body=live.png(pixels, 6))
    key = json.loads(body)["image"]
    fresh_times = []
    calls = {"forward": lambda: net.activations(pixels[None], layer),
             "grid_cached": lambda: (client.get_json("/api/maps", image=key, layer=layer),
                                     client.request("GET", "/api/maps.png", image=key,
                                                    layer=layer)),
             "grid_new_image": lambda: fresh_times.append(fresh())}
    times = side_by_side(calls, rounds)
    times["grid_new_image"] = fresh_times[-rounds:]  # the request alone, not the upload
    forward = float(np.median(times["forward"]))
    row = {"layer": layer, "forward_p50": forward}
    for name in ("grid_cached", "grid_new_image"):
        p50, p95 = _percentiles(times[name])
        row.update({f"{name}_p50": p50, f"{name}_p95": p95,
                    f"{name}_p50_vs_forward": p50 / forward})
    print(json.dumps(row), flush=True)
    return row


def _rss_mib():
    with open("/proc/self/status") as stream:
        for line in stream:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _mix(keys, layers, units, rng):
    """One request of the load: mostly projections (either rule, a maximum or a position,
    sometimes the whole map), sometimes a layer's grid or one map. `layers`: `{name: map
    size}`."""
    key, layer = rng.choice(keys), rng.choice(list(layers))
    kind = rng.random()
    if kind < 0.15:
        return "/api/maps", {"image": key, "layer": layer}
    if kind < 0.25:
        return "/api/map.png", {"image": key, "layer": layer, "unit": rng.randrange(units)}
    query = {"image": key, "layer": layer, "unit": rng.randrange(units),
             "rule": rng.choice(deconv_layers.RELU_RULES)}
    if kind < 0.35:
        query["mode"] = "maps"
    elif kind < 0.6:
        query.update(y=rng.randrange(layers[layer][0]), x=rng.randrange(layers[layer][1]))
    return "/api/project", query


def load(port, keys, clients, seconds, layers, units=64):
    """`clients` threads, each sending one request after another for `seconds`: counts,
    statuses, latencies, and this process's resident memory every half second."""
    stop = time.monotonic() + seconds
    results, lock = [], threading.Lock()

    def client_loop(number):
        rng, client = random.Random(number), Client(port)
        while time.monotonic() < stop:
            path, query = _mix(keys, layers, units, rng)
            started = time.perf_counter()
            try:
                status, _ = client.request("GET", path, **query)
            except OSError as error:
                status = f"{type(error).__name__}"
                client = Client(port)
            with lock:
                results.append((status, time.perf_counter() - started))

    threads = [threading.Thread(target=client_loop, args=(n,)) for n in range(clients)]
    memory, started = [], time.monotonic()
    for thread in threads:
        thread.start()
    while any(thread.is_alive() for thread in threads):
        memory.append((round(time.monotonic() - started, 1), round(_rss_mib(), 1)))
        time.sleep(0.5)
    statuses = {}
    for status, _ in results:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    latencies = [seconds for status, seconds in results if status == 200]
    rss = [value for _, value in memory]
    half = len(rss) // 2
    row = {"clients": clients, "seconds": seconds, "requests": len(results),
           "statuses": statuses, "errors": len(results) - len(latencies),
           "per_second": len(results) / seconds,
           "latency_p50": _percentiles(latencies)[0], "latency_p95": _percentiles(latencies)[1],
           "rss_start_MiB": rss[0], "rss_end_MiB": rss[-1], "rss_max_MiB": max(rss),
           "rss_first_half_max_MiB": max(rss[:half] or rss),
           "rss_second_half_max_MiB": max(rss[half:]), "rss_samples": memory}
    print(json.dumps({k: v for k, v in row.items() if k != "rss_samples"}), flush=True)
    return row


def workers_side_by_side(explorer, keys, clients, seconds, sizes, rounds=3):
    """The load on two servers of one explorer, one model thread and two, in alternating
    windows of `seconds`: requests per second of each, and their ratio."""
    ports = {workers: _serve(explorer, workers)[0] for workers in (1, 2)}
    counts = {1: [], 2: []}
    for round_number in range(rounds):
        for workers in ((1, 2) if round_number % 2 == 0 else (2, 1)):
            found = load(ports[workers], keys, clients, seconds, sizes)
            assert found["errors"] == 0, found["statuses"]
            counts[workers].append(found["per_second"])
    row = {"rounds": rounds, "seconds": seconds, "per_second_1": counts[1],
           "per_second_2": counts[2],
           "ratio_2_to_1": float(np.median(np.array(counts[2]) / np.array(counts[1])))}
    print(json.dumps(row), flush=True)
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--parts", default="latency,grid,load",
                        help="Which parts to run, of latency, grid, load, workers (the "
                        "load with 1 and 2 model threads, alternating).")
    parser.add_argument("--quick", action="store_true", help="32 px, few rounds, 3 s of load")
    parser.add_argument("--out", default=None, help="Write the results as JSON here.")
    args = parser.parse_args()
    size = 32 if args.quick else 224
    rounds, seconds = (3, 3.0) if args.quick else (args.rounds, args.seconds)
    net = deconv.Deconvnet(deconv.load_model("vgg19", weights=None, seed=0))
    explorer = live.Explorer(net, live.Options(size=size))
    port, server = _serve(explorer, args.workers)
    client = Client(port)
    photo = os.path.join(os.path.dirname(HERE), "examples", "images", "chelsea.jpg")
    with open(photo, "rb") as stream:
        status, body = client.request("POST", "/api/images", body=stream.read())
    key = json.loads(body)["image"]
    pixels = explorer.image(key)
    parts = args.parts.split(",")
    results = {"size": size, "workers": args.workers, "cpus": os.cpu_count()}
    if "latency" in parts:
        results["latency"] = latency(net, client, pixels, key, rounds, LAYERS)
    if "grid" in parts:
        results["grid"] = grid(net, client, pixels, rounds)
    keys = [key] + [json.loads(client.request("POST", "/api/images", body=live.png(
        np.roll(pixels, shift, axis=0), 6))[1])["image"] for shift in (5, 9)]
    layers = ["conv2_2", "conv3_4", "conv4_4", "conv5_4"]
    explorer.warm_up(layers)
    for layer in layers:
        for _ in range(2):
            for relu_rule in deconv_layers.RELU_RULES:
                explorer.project(key, layer, 0, relu_rule=relu_rule, mode="maps")
    sizes = {layer: net.map_size(layer, (size, size)) for layer in layers}
    if "load" in parts:
        results["load"] = load(port, keys, args.clients, seconds, sizes)
    if "workers" in parts:
        results["workers"] = workers_side_by_side(explorer, keys, args.clients, seconds / 3,
                                                  sizes)
    server.should_exit = True
    if args.out:
        with open(args.out, "w", encoding="utf-8") as stream:
            json.dump(results, stream, indent=1)


if __name__ == "__main__":
    main()
