"""The live explorer's JSON API (documented in the README, section "The live explorer").

Images are sent as the request body and named afterwards by the id the server answers with
(the hash of their pixels); layers by either spelling (`conv5_4`, `block5_conv4`); errors are
`{"error": "one line"}` with status 400 (bad input), 403 (a path outside the atlas), 404
(unknown image, job or file), 413 (a file too large) or 503 (too much work waiting).
"""
import asyncio
import base64
import dataclasses
import functools
import io
import os
import typing

import fastapi
from fastapi import responses
import numpy as np

from deconv.core.rules.base import RELU_RULES
from deconv.core import names
from deconv.errors import DeconvError
from deconv.explorer import live
from deconv.io import render

STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
FORMATS = ("json", "png", "npy")

router = fastapi.APIRouter()


TooLarge = live.TooLarge  # a request body over the upload limit, as the explorer's own

@dataclasses.dataclass
class State:
    """What the routes share (the app's `state.live`)."""
    explorer: object
    jobs: object
    atlas: object
    examples: dict
    about: dict
    pool: object
    max_pending: int
    pending: int = 0


def _state(request):
    return request.app.state.live


async def _work(state, function, *args):
    """Runs `function(*args)` in the model pool; refuses at once when too much waits."""
    if state.pending >= state.max_pending:
        raise live.Busy(f"{state.pending} requests are waiting for the model; ask again soon.")
    state.pending += 1
    try:
        return await asyncio.get_running_loop().run_in_executor(
            state.pool, functools.partial(function, *args))
    finally:
        state.pending -= 1


def _png(pixels):
    return responses.Response(live.png(pixels), media_type="image/png")


# The page.

@router.get("/", include_in_schema=False)
async def index():
    return responses.FileResponse(os.path.join(STATIC, "index.html"))


def _dependence(found):
    """What the page says of a layer's deconvnet projections (`Deconvnet.image_dependence`)."""
    return {"independent": found.independent, "verdict": found.verdict}


@router.get("/api/info")
async def info(request: fastapi.Request):
    """The model, its layers with feature maps, the options and what else the server offers."""
    state = _state(request)
    explorer = state.explorer
    net = explorer.net
    return {"about": state.about, "size": explorer.options.size,
            "rules": list(RELU_RULES), "modes": ["activation", "maps"],
            "normalize": list(live.NORMALISATIONS),
            "layers": [{"name": names.short(layer), "keras": layer,
                        "units": net.feature_count(layer),
                        "map_size": list(net.map_size(layer, explorer.image_size)),
                        "deconvnet": _dependence(net.image_dependence(layer))}
                       for layer in explorer.layers],
            "atlas": None if state.atlas is None else {
                "layers": state.atlas.layer_names,
                "rule": state.atlas.atlas.get("model", {}).get("rule")},
            "examples": sorted(state.examples),
            "limits": {"max_bytes": explorer.options.max_bytes,
                       "max_pixels": explorer.options.max_pixels},
            "occluder": dict(zip(("size", "stride"), state.jobs.default_occluder()))}


# Images.

async def _body(request, limit):
    """The request's body, refused past `limit` bytes (before it is all read)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"The file has {int(declared):,} bytes, more than the {limit:,} "
                       f"allowed.")
    chunks, total = [], 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise TooLarge(f"The file has more than the {limit:,} bytes allowed.")
        chunks.append(chunk)
    return b"".join(chunks)


async def _added(state, data):
    key, original = await _work(state, state.explorer.add_image, data)
    return {"image": key, "size": list(state.explorer.image_size), "original": list(original)}


@router.post("/api/images")
async def upload(request: fastapi.Request):
    """An image file as the request body (not a form): `{"image": id, "size", "original"}`."""
    state = _state(request)
    if request.headers.get("content-type", "").startswith("multipart/"):
        raise DeconvError("Send the image file's bytes as the request body (curl --data-binary "
                          "@photo.jpg), not as a form.")
    return await _added(state, await _body(request, state.explorer.options.max_bytes))


def _example(state, name):
    if name not in state.examples:
        raise FileNotFoundError(f"example {name!r}")
    return state.examples[name]


@router.get("/api/examples/{name:path}")
async def example_file(request: fastapi.Request, name: str):
    """An example image's file."""
    return responses.FileResponse(_example(_state(request), name))


@router.post("/api/examples/{name:path}")
async def add_example(request: fastapi.Request, name: str):
    """Loads an example image, as an upload of its file."""
    state = _state(request)
    with open(_example(state, name), "rb") as stream:
        data = stream.read()
    return await _added(state, data)


@router.get("/api/images/{key}.png")
async def image(request: fastapi.Request, key: str):
    """The image as the network sees it (resized)."""
    return _png(_state(request).explorer.image(key))


# Maps.

def _grid(explorer, key, layer, normalize):
    grid = explorer.map_grid(key, layer, normalize)
    name = explorer.layer(layer)
    return grid, {"layer": names.short(name), "keras_layer": name, "units": len(grid.strength),
                  "map_size": list(explorer.net.map_size(name, explorer.image_size)),
                  "cell": list(grid.cell), "columns": grid.columns,
                  "strength": [float(v) for v in grid.strength],
                  "argmax": grid.argmax.tolist()}


@router.get("/api/maps")
async def maps(request: fastapi.Request, image: str, layer: str, normalize: str = "layer"):
    """A layer's maps for an image: each map's strongest activation and where it is, and the
    layout of `/api/maps.png` (map `u` in cell `divmod(u, columns)` of `cell` pixels)."""
    state = _state(request)
    _, described = await _work(state, _grid, state.explorer, image, layer, normalize)
    return described


@router.get("/api/maps.png")
async def maps_png(request: fastapi.Request, image: str, layer: str, normalize: str = "layer"):
    """A layer's maps for an image as one grayscale picture (0 black, the maximum white)."""
    state = _state(request)
    grid, _ = await _work(state, _grid, state.explorer, image, layer, normalize)
    return _png(grid.picture)


@router.get("/api/map.png")
async def one_map(request: fastapi.Request, image: str, layer: str, unit: int,
                  normalize: str = "layer"):
    """One map at its own size, grayscale."""
    state = _state(request)
    return _png(await _work(state, state.explorer.one_map, image, layer, unit, normalize))


# Projections.

def _projected(explorer, key, layer, unit, position, relu_rule, mode, format):
    found = explorer.project(key, layer, unit, position, relu_rule, mode)
    if format == "npy":
        stream = io.BytesIO()
        np.save(stream, found.reconstruction)
        return responses.Response(stream.getvalue(), media_type="application/octet-stream")
    encoded = live.png(render.to_uint8(found.reconstruction))
    if format == "png":
        return responses.Response(encoded, media_type="image/png")
    name = explorer.layer(layer)
    return responses.JSONResponse({
        "layer": names.short(name), "keras_layer": name, "unit": unit, "rule": relu_rule,
        "mode": mode, "value": found.value, "position": list(found.position),
        "box": None if found.box is None else list(found.box),
        "box_effective": None if found.box_effective is None else list(found.box_effective),
        "image": "data:image/png;base64," + base64.b64encode(encoded).decode("ascii")})


@router.get("/api/project")
async def project(request: fastapi.Request, image: str, layer: str, unit: int,
                  y: typing.Optional[int] = None, x: typing.Optional[int] = None,
                  rule: str = "deconvnet", mode: str = "activation", format: str = "json"):
    """Projects map `unit`'s strongest activation (or the one at `y`, `x`; or, mode "maps",
    the whole map) to pixel space. `format`: json (the projection as a PNG data URL, with its
    value, position and receptive field `box`), png (`deconv.to_uint8` of it) or npy (the
    float32 reconstruction)."""
    if (y is None) != (x is None):
        raise DeconvError("Give both y and x (a position in the maps), or neither (the map's "
                          "strongest activation).")
    if format not in FORMATS:
        raise DeconvError(f"Unknown format {format!r}. Valid: {', '.join(FORMATS)}.")
    state = _state(request)
    position = None if y is None else (y, x)
    return await _work(state, _projected, state.explorer, image, layer, unit, position, rule,
                       mode, format)


# The atlas.

def _atlas(state):
    if state.atlas is None:
        raise live.Unknown("No atlas: the server was started without --atlas.")
    return state.atlas


@router.post("/api/prepare", status_code=202)
async def prepare(request: fastapi.Request, layer: str, rule: str = "deconvnet"):
    """Starts building and tracing a layer's projection graphs in the model pool, if they are
    cold (the page asks when a layer is opened, so its first click does not wait for them);
    answers their state: `preparing` or `ready`."""
    state = _state(request)
    explorer = state.explorer
    if explorer.start_preparing(layer, rule):
        state.pool.submit(explorer.prepare, layer, rule)
    return _readiness(explorer, layer, rule)


@router.get("/api/prepare")
async def readiness(request: fastapi.Request, layer: str, rule: str = "deconvnet"):
    """The state of a layer's projection graphs: `cold`, `preparing` or `ready`."""
    return _readiness(_state(request).explorer, layer, rule)


def _readiness(explorer, layer, relu_rule):
    return {"layer": names.short(explorer.layer(layer)), "rule": relu_rule,
            "state": explorer.readiness(layer, relu_rule)}


@router.get("/api/atlas/unit")
async def atlas_unit(request: fastapi.Request, layer: str, unit: int):
    """The atlas's dataset top-k of a unit; its files are under `/atlas/`."""
    state = _state(request)
    found = _atlas(state).unit(state.explorer.layer(layer), unit)
    if found is None:
        raise live.Unknown(f"The atlas has no layer {layer!r}; it has "
                           f"{', '.join(state.atlas.layer_names) or 'none'}.")
    return found


@router.get("/atlas/{path:path}")
async def atlas_file(request: fastapi.Request, path: str):
    """A file of the atlas folder (only inside it)."""
    return responses.FileResponse(_atlas(_state(request)).file(path))


# Occlusion.

@router.post("/api/occlusion", status_code=202)
async def occlusion_start(request: fastapi.Request, image: str, layer: str, unit: int,
                          size: typing.Optional[int] = None,
                          stride: typing.Optional[int] = None):
    """Starts the occlusion heat map of a map (or finds the same one): the job to poll."""
    state = _state(request)
    return state.jobs.start(image, layer, unit, size, stride).summary()


@router.get("/api/occlusion/{job}.png")
async def occlusion_picture(request: fastapi.Request, job: str):
    """A finished job's heat map over the image, with its colour bar."""
    found = _state(request).jobs.get(job)
    if found.state != "done":
        raise DeconvError(f"Occlusion job {job} is {found.state}, not done.")
    return _png(found.picture)


@router.get("/api/occlusion/{job}")
async def occlusion_status(request: fastapi.Request, job: str):
    """A job's state and progress (`done` of `total` positions)."""
    return _state(request).jobs.get(job).summary()
