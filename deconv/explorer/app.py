"""The live explorer's web app: a FastAPI app over an `Explorer` (`deconv.explorer.live`), its
page (`static/`, no build step, nothing fetched from elsewhere) and its JSON API (`routes`).

The model work runs in a bounded pool of threads, so the server keeps answering while a
projection runs; requests beyond `max_pending` waiting are answered 503 at once. Every response
carries a content security policy that lets the page load only its own files; no CORS header is
ever sent, so other sites' pages cannot read the API's answers; with `allowed_hosts`, requests
naming another host (DNS rebinding) are refused.
"""
import concurrent.futures
import contextlib
import dataclasses
import os

import fastapi
from fastapi import exceptions as fastapi_exceptions
from fastapi import responses
from starlette import exceptions as starlette_exceptions
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.staticfiles import StaticFiles

from deconv.errors import DeconvError
from deconv.explorer import atlas_folder
from deconv.explorer import live
from deconv.explorer import occlusion_jobs
from deconv.explorer import routes
from deconv.io import images as image_files

LOOPBACK = ("127.0.0.1", "localhost", "::1")
_POLICY = ("default-src 'self'; img-src 'self' data: blob:; object-src 'none'; base-uri 'none'; "
           "form-action 'none'; frame-ancestors 'none'")
_HEADERS = [(b"content-security-policy", _POLICY.encode()),
            (b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
            (b"x-frame-options", b"DENY")]
# What each error means to a client: its HTTP status.
_STATUS = ((live.Unknown, 404), (atlas_folder.Refused, 403), (live.Busy, 503),
           (routes.TooLarge, 413), (DeconvError, 400))


@dataclasses.dataclass(frozen=True)
class ServerOptions:
    """How the app serves.

    Attributes:
      workers: threads running model work at once (TensorFlow's own ops use every core).
      max_pending: requests for model work that may wait before new ones get 503.
      allowed_hosts: the `Host` names accepted (None: any); a server bound to a loopback
        address should accept only `LOOPBACK`.
    """
    workers: int = 1
    max_pending: int = 64
    allowed_hosts: tuple = None


class _SecurityHeaders:
    """Adds `_HEADERS` to every HTTP response (plain ASGI: no per-request task)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *_HEADERS]
            await send(message)

        return await self.app(scope, receive, send_with_headers)


def _examples(folder):
    """`{name: path}` of the image files in `folder` (None: none)."""
    if folder is None or not os.path.isdir(folder):
        return {}
    paths = image_files.find_images(folder, image_files.parse_extensions(None))
    return {os.path.relpath(path, folder).replace(os.sep, "/"): path for path in paths}


def _on_error(request, error):
    status = next(code for kind, code in _STATUS if isinstance(error, kind))
    return responses.JSONResponse({"error": str(error)}, status_code=status)


def _on_bad_request(request, error):
    """FastAPI's validation errors as one line: the parameter, what is valid, what was sent."""
    problems = []
    for found in error.errors():
        where = ".".join(str(part) for part in found.get("loc", ())[1:]) or "request"
        received = f"; received {found['input']!r}" if found.get("input") is not None else ""
        problems.append(f"{where}: {found.get('msg', 'invalid')}{received}")
    return responses.JSONResponse({"error": "; ".join(problems) + "."}, status_code=400)


def _on_missing(request, error):
    return responses.JSONResponse({"error": f"No such file: {error}."}, status_code=404)


def _on_http_error(request, error):
    """The framework's own errors (an unknown route, a method a route does not take) in the
    API's form, `{"error": "one line"}`, with their status and headers."""
    asked = f"{request.method} {request.url.path}"
    if error.status_code == 404:
        message = f"No such route: {asked}; see the README's API table."
    elif error.status_code == 405:
        allowed = (error.headers or {}).get("allow", (error.headers or {}).get("Allow", ""))
        message = f"{asked}: method not allowed" + (f"; use {allowed}." if allowed else ".")
    else:
        message = f"{asked}: {error.detail}"
    return responses.JSONResponse({"error": message}, status_code=error.status_code,
                                  headers=error.headers)


def build_app(explorer, *, atlas=None, examples=None, options=ServerOptions(), about=None):
    """Builds the explorer's FastAPI app.

    Args:
      explorer: a `deconv.explorer.live.Explorer`.
      atlas: a `deconv.explorer.atlas_folder.AtlasFolder`, or None.
      examples: a folder of example images the page offers, or None.
      options: a `ServerOptions`.
      about: JSON-ready facts shown by `/api/info` (the model and weights), or None.

    Returns:
      The `fastapi.FastAPI` app; its model work stops when the app shuts down.
    """
    state = routes.State(explorer=explorer, jobs=occlusion_jobs.OcclusionJobs(explorer),
                         atlas=atlas, examples=_examples(examples), about=about or {},
                         pool=concurrent.futures.ThreadPoolExecutor(
                             options.workers, thread_name_prefix="explorer"),
                         max_pending=options.max_pending)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        state.jobs.close()
        state.pool.shutdown(wait=False, cancel_futures=True)

    app = fastapi.FastAPI(title="deconv live explorer", docs_url=None, redoc_url=None,
                          openapi_url="/api/openapi.json", lifespan=lifespan)
    app.state.live = state
    app.include_router(routes.router)
    app.mount("/static", StaticFiles(directory=routes.STATIC), name="static")
    app.add_exception_handler(DeconvError, _on_error)
    app.add_exception_handler(fastapi_exceptions.RequestValidationError, _on_bad_request)
    app.add_exception_handler(FileNotFoundError, _on_missing)
    app.add_exception_handler(starlette_exceptions.HTTPException, _on_http_error)
    if options.allowed_hosts is not None:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(options.allowed_hosts))
    app.add_middleware(_SecurityHeaders)
    return app


def is_loopback(host):
    """Whether binding `host` keeps the server on this machine."""
    return host in LOOPBACK or host.startswith("127.")


def host_warning(host):
    """The warning for a server bound to `host`, or None on a loopback address."""
    if is_loopback(host):
        return None
    return (f"--host {host}: the explorer is reachable from other machines, and it has no "
            f"authentication.")
