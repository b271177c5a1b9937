"""The in-Pyodide suite (site/ppg_browser_suite.py), one pytest test per case and host.

The suite runs once per host (a Chromium page, a module Web Worker in that page,
Pyodide on Node) and reports what each case observed; the assertions live here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

pytestmark = pytest.mark.timeout(600)  # the first test boots Pyodide and runs the suite
ENVIRONMENTS = ("page", "worker", "node")
PARAMETER_SIZES = (1000, 1024, 1025, 70_000)
Check = Callable[[Any], None]
CHECKS: dict[str, Check] = {}


def check(fn: Check) -> Check:
    """Register the assertions for the suite case of the same name."""
    CHECKS[fn.__name__.removeprefix("check_")] = fn
    return fn


@check
def check_environment(value: Any) -> None:
    assert value["platform"] == "emscripten"
    assert value["version"] == [3, 14]
    assert value["runtime"] == "ppg_edge.runtime.pyodide.PyodideRuntime"
    assert value["ppg_edge_file"].endswith("site-packages/ppg_edge/__init__.py")


@check
def check_tstring_query(value: Any) -> None:
    assert value["template_type"] == "Template"
    assert value["rows"] == [{"s": 42, "name": "Zoë'; DROP TABLE x; --"}]
    assert value["affected"] == 20


@check
def check_portable_template(value: Any) -> None:
    assert value["named"] == [{"d": 42, "braces": "{}"}]
    assert value["positional"] == [{"s": 3}]


@check
def check_explicit_parameters(value: Any) -> None:
    assert value["rows"] == [{"a": 7, "b": "héllo ✓", "is_null": True, "flag": True}]
    assert value["count"] == 5


@check
def check_stream_100k_rows(value: Any) -> None:
    assert value["count"] == 100_000
    assert value["sum"] == 100_000 * 100_001 // 2
    # Streamed: the first row arrives long before the last one.
    assert value["first_row_ms"] < value["total_ms"] / 2


@check
def check_stop_stream_early(value: Any) -> None:
    assert value["seen"] == [1, 2, 3]
    assert value["after"] == [{"s": "still usable"}]


@check
def check_session_pipelining(value: Any) -> None:
    assert value["values"] == list(range(40))
    assert value["distinct_pids"] == 1
    assert value["columns"] == ["i", "pid"]
    assert value["active_while_open"] is True
    assert value["active_after_close"] is False


@check
def check_transaction_commit(value: Any) -> None:
    assert value["greeting"] == [{"g": "hi Eve"}]
    assert value["inside"] == [{"n": 1}]
    assert value["callback_result"] == "Bob,Carol"
    assert value["after"] == [{"name": "Bob"}, {"name": "Carol"}]


@check
def check_transaction_rollback(value: Any) -> None:
    assert value["raised"] == {"context_manager": "abort this transaction", "callback": "22012"}
    assert value["after"] == [{"n": 0}]


@check
def check_batch(value: Any) -> None:
    assert value["selected"] == [{"d": 42}]
    assert value["affected"] == 2
    assert value["chained"] == [[{"name": "A"}, {"name": "B"}], 1]
    assert value["failed_code"] == "22012"
    assert value["after"] == [{"name": "B"}]


def check_round_trips(value: Any) -> None:
    for size in PARAMETER_SIZES:
        text, binary = value[f"text_{size}"], value[f"binary_{size}"]
        assert text["equal"] is True, size
        assert text["server_bytes"] == size
        assert text["server_md5"] == text["local_md5"]
        assert binary["equal"] is True, size
        assert binary["type"] == "bytes"
        assert binary["server_bytes"] == size
        assert binary["server_md5"] == binary["local_md5"]
    explicit = value["byte_array_parameter"]
    assert explicit["server_md5"] == explicit["local_md5"]


CHECKS["parameters_http"] = check_round_trips
CHECKS["parameters_websocket"] = check_round_trips


@check
def check_error_after_rows(value: Any) -> None:
    assert 0 < value["rows_before_error"] < 30_000
    assert value["rows_in_order"] is True
    assert value["error"]["type"] == "DivisionByZero"  # the class of its SQLSTATE
    assert value["error"]["code"] == "22012"
    assert value["error"]["details"]["severity"] == "ERROR"
    assert "division by zero" in value["error"]["message"]
    assert value["missing_table"]["code"] == "42P01"


@check
def check_wrong_credentials_http(value: Any) -> None:
    assert value["error"]["type"] == "HttpResponseError"
    assert value["error"]["status"] == 401
    assert value["password_leaked"] is False


@check
def check_wrong_credentials_websocket(value: Any) -> None:
    assert value["error"]["type"] == "WebSocketError"
    assert value["error"]["close_code"] == 1008
    assert value["password_leaked"] is False


@check
def check_timeout(value: Any) -> None:
    assert value["error"]["type"] == "QueryTimeoutError"
    assert value["error"]["is_timeout_error"] is True
    assert 0.4 < value["elapsed_s"] < 3
    assert value["after"] == [{"s": "alive"}]


@check
def check_timeout_websocket(value: Any) -> None:
    assert value["error"]["type"] == "QueryTimeoutError"
    assert 0.4 < value["elapsed_s"] < 3
    assert value["after"] == [["alive"]]


@check
def check_large_parameters(value: Any) -> None:
    assert value == {"http_ok": True, "websocket_ok": True}


@check
def check_http_runtime_edges(value: Any) -> None:
    assert value["empty"] == {"status": 204, "body": ""}
    bad = value["bad"]
    assert bad["status"] == 400
    assert bad["content_type"].startswith("text/plain")
    assert bad["body"].startswith("bad request")
    assert bad["lower_case_names"] is True


@check
def check_truncated_response(value: Any) -> None:
    adapter = value["adapter"]
    assert adapter["error"]["type"] == "ConnectionError"
    assert "cut short" in adapter["error"]["message"]
    assert adapter["received_lines"] == 3
    for mode in ("cut", "eof"):
        driver = value["driver"][mode]
        assert driver["error"]["type"] == "ProtocolError", mode
        assert driver["rows"] == [[1], [2]], mode


@check
def check_websocket_handlers_released(value: Any) -> None:
    assert value["subprotocol"] == "prisma-postgres-1.0"
    assert value["attached_while_open"] == 4
    assert value["attached_after_our_close"] == 0
    assert value["attached_after_their_close"] == 0
    assert value["ready_states"] == [3, 3]  # WebSocket.CLOSED
    assert value["receive_after_close"] == [1008, 1008]


@check
def check_websocket_handshake_failure(value: Any) -> None:
    refused, silent = value["refused"], value["silent"]
    assert refused["error"]["type"] == "ConnectionError"
    assert "handshake" in refused["error"]["message"]
    assert "/no/such/session" in refused["error"]["message"]
    assert "close code 1006" in refused["error"]["message"]
    assert silent["error"]["type"] == "ConnectTimeoutError"  # a ConnectionError, typed
    assert "ConnectionError" in silent["error"]["mro"]
    assert "no answer within 0.5 s" in silent["error"]["message"]
    assert 0.4 < silent["elapsed_s"] < 7


@check
def check_sync_face(value: Any) -> None:
    if value["chromium"]:
        assert value["can_run_sync"] is True  # JSPI: Chromium >= 137, page and Worker
    if not value["can_run_sync"]:
        assert value["error"]["type"] == "NotSupportedError"
        assert "can_run_sync" in value["error"]["message"]
        return
    assert "error" not in value, value
    assert value["rows"] == [{"n": 42}]
    assert value["streamed"] == 500500
    assert value["transaction"] == [{"two": 2}]
    assert value["batch"] == [[{"three": 3}]]
    assert value["timeout"]["error"]["type"] == "QueryTimeoutError"
    assert 0.4 < value["timeout"]["s"] < 3


@pytest.mark.parametrize("environment", ENVIRONMENTS)
async def test_suite_has_a_check_for_every_case(environment: str, suite_reports: Any) -> None:
    report = await suite_reports.get(environment)
    assert sorted(report["results"]) == sorted(CHECKS)
    assert report["firstRows"] == [{"one": 1}]


@pytest.mark.parametrize("case", sorted(CHECKS))
@pytest.mark.parametrize("environment", ENVIRONMENTS)
async def test_case(environment: str, case: str, suite_reports: Any) -> None:
    outcome = (await suite_reports.get(environment))["results"][case]
    assert outcome["ok"], outcome.get("traceback") or outcome
    CHECKS[case](outcome["value"])
