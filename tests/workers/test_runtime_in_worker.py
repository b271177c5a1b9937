"""The Cloudflare runtime adapter, observed from inside the emulated Worker (probe/entry.py)."""

from __future__ import annotations

from tests.workers.conftest import PyodideBuild
from tests.workers.worker_http import call_json


def test_inside_a_worker_ppg_edge_picks_the_cloudflare_runtime(
    probe_worker: str, pyodide: PyodideBuild
) -> None:
    status, body = call_json(probe_worker, "GET", "/runtime")
    assert status == 200
    assert body["runtime"] == "CloudflareRuntime"
    assert body["python"] == list(pyodide.python)
    assert body["pyodide"] == pyodide.version
    assert body["platform"] == "emscripten"
    assert body["sdk"].endswith("python_modules/workers/__init__.py")


def test_a_large_parameter_travels_as_a_streamed_request_body(probe_worker: str) -> None:
    status, body = call_json(probe_worker, "GET", "/large-parameter")
    assert status == 200
    assert body["n"] == 360_000
    assert body["hash"] == body["expected"]


def test_binary_parameters_cross_the_fetch_upgrade_websocket(probe_worker: str) -> None:
    status, body = call_json(probe_worker, "GET", "/binary-session")
    assert status == 200
    assert body["n"] == 4096
    assert body["hash"] == body["expected"]


def test_a_burst_on_a_session_is_answered_in_order(probe_worker: str) -> None:
    """More statements than SEND_EARLY at once: workerd's send_now carries some of them."""
    status, body = call_json(probe_worker, "GET", "/session-burst")
    assert status == 200
    assert body["values"] == list(range(40))
    assert body["pids"] == 1


def test_a_refused_upgrade_is_a_connection_error_with_the_status(probe_worker: str) -> None:
    status, body = call_json(probe_worker, "GET", "/refused-upgrade")
    assert status == 200
    assert body["error"].startswith("WebSocket upgrade refused with HTTP 404")
    assert body["status"] == 404


def test_a_statement_timeout_fires_inside_the_worker(probe_worker: str) -> None:
    status, body = call_json(probe_worker, "GET", "/timeout")
    assert status == 200
    assert body["error"] == "QueryTimeoutError"
    assert 0.25 <= body["seconds"] < 2.5
