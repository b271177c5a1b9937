"""``/v0/wheel``: the driver wheel for pages and notebooks on other origins (micropip).

- ``GET /v0/wheel`` describes the served wheel as JSON: ``filename``, ``path``
  (append it to the endpoint), ``version`` and ``sha256``. A notebook that does not
  know the driver's version reads ``path`` from here first.
- ``GET /v0/wheel/<file name>`` answers the wheel's bytes (``application/zip``)
  with a strong ``ETag`` (its SHA-256), ``Cache-Control: no-cache`` (revalidate:
  a rebuilt wheel of the same version must not be served stale) and a 304 for a
  matching ``If-None-Match``.

Both carry ``Access-Control-Allow-Origin`` for an Origin on the allow-list
(``--allow-origin``) and none otherwise, exactly like ``/v0/statement``, so a
browser on another origin may read them only when the operator allows it. They
are plain GETs with no credentials: no preflight is involved.
"""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web

from .config import GatewayConfig
from .driver_wheel import DriverWheel

WHEEL_PATH = "/v0/wheel"
WHEEL_CONTENT_TYPE = "application/zip"
"""A wheel is a zip archive; micropip and Pyodide read the bytes whatever the type."""
WHEEL_CACHE_CONTROL = "no-cache"
NO_WHEEL = "this gateway serves no driver wheel (start it with --wheel PATH)"


def _with_cors(request: web.Request, config: GatewayConfig, response: web.Response) -> web.Response:
    allowed = config.cors_origin(request.headers.get("Origin"))
    if allowed is not None:
        response.headers["Access-Control-Allow-Origin"] = allowed
    response.headers["Vary"] = "Origin"
    return response


def _not_found(message: str) -> web.Response:
    return web.Response(status=404, text=message + "\n", content_type="text/plain")


def _describe(wheel: DriverWheel | None) -> web.Response:
    if wheel is None:
        return _not_found(NO_WHEEL)
    return web.json_response(
        {
            "filename": wheel.filename,
            "path": f"{WHEEL_PATH}/{quote(wheel.filename, safe='+')}",
            "version": wheel.version,
            "sha256": wheel.sha256,
        },
        headers={"Cache-Control": WHEEL_CACHE_CONTROL},
    )


def _file(request: web.Request, wheel: DriverWheel | None) -> web.Response:
    if wheel is None:
        return _not_found(NO_WHEEL)
    if request.match_info["filename"] != wheel.filename:
        return _not_found(f"unknown wheel: this gateway serves {WHEEL_PATH}/{wheel.filename}")
    headers = {"ETag": f'"{wheel.etag}"', "Cache-Control": WHEEL_CACHE_CONTROL}
    if any(tag.value in (wheel.etag, "*") for tag in request.if_none_match or ()):
        return web.Response(status=304, headers=headers)
    return web.Response(body=wheel.body, content_type=WHEEL_CONTENT_TYPE, headers=headers)


def add_wheel_routes(app: web.Application, config: GatewayConfig) -> None:
    """Serve ``config.wheel`` (read now, once) at ``/v0/wheel``; 404s say why when it is None."""
    wheel = DriverWheel.read(config.wheel) if config.wheel is not None else None

    async def describe(request: web.Request) -> web.Response:
        return _with_cors(request, config, _describe(wheel))

    async def serve(request: web.Request) -> web.Response:
        return _with_cors(request, config, _file(request, wheel))

    app.router.add_get(WHEEL_PATH, describe)
    app.router.add_get(WHEEL_PATH + "/{filename}", serve)
