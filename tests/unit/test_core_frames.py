"""Result frames: validation, order, error details and exec counts."""

from __future__ import annotations

from typing import Any

import pytest

from ppg_edge.core.errors import DatabaseError, ProtocolError
from ppg_edge.core.frames import (
    Column,
    Complete,
    DataRow,
    Description,
    Failure,
    FrameOrder,
    affected_count,
    decode_frame,
    decode_ws_frame,
)
from ppg_edge.core.protocol import COMPLETE_URN, DATAROW_URN, DESCRIPTION_URN, ERROR_URN


def test_decode_each_frame_kind() -> None:
    assert decode_frame({"columns": [{"name": "id", "typeOid": 23}]}) == Description(
        (Column("id", 23),)
    )
    assert decode_frame({"values": ["1", None]}) == DataRow(["1", None])
    assert decode_frame({"complete": True}) == Complete()
    failure = decode_frame(
        {
            "error": {
                "message": "duplicate key",
                "code": "23505",
                "severity": "ERROR",
                "constraint": "t_pkey",
                "position": 7,
            }
        }
    )
    assert isinstance(failure, Failure)
    error = failure.error
    assert isinstance(error, DatabaseError)
    assert (error.message, error.code, error.severity) == ("duplicate key", "23505", "ERROR")
    assert str(error) == "duplicate key (SQLSTATE 23505)"
    assert error.details == {"severity": "ERROR", "constraint": "t_pkey", "position": "7"}


@pytest.mark.parametrize(
    "obj",
    [
        {"columns": "x"},
        {"columns": [{"name": 1, "typeOid": 23}]},
        {"columns": [{"name": "a", "typeOid": "23"}]},
        {"columns": [{"name": "a", "typeOid": True}]},
        {"values": [1]},
        {"values": "x"},
        {"complete": False},
        {"error": "boom"},
        {"error": {"code": "XX000"}},
        {"other": 1},
        [],
    ],
)
def test_malformed_frames(obj: Any) -> None:
    with pytest.raises(ProtocolError):
        decode_frame(obj)


def test_ws_urn_and_payload_must_agree() -> None:
    assert decode_ws_frame(DATAROW_URN, {"values": []}) == DataRow([])
    assert decode_ws_frame(COMPLETE_URN, {"complete": True}) == Complete()
    assert isinstance(decode_ws_frame(ERROR_URN, {"error": {"message": "m"}}), Failure)
    with pytest.raises(ProtocolError):
        decode_ws_frame(DESCRIPTION_URN, {"values": []})
    with pytest.raises(ProtocolError):
        decode_ws_frame("urn:prisma:query:result:other", {"complete": True})


def _run(frames: list[Any]) -> FrameOrder:
    order = FrameOrder()
    for frame in frames:
        order.check(frame)
    return order


def test_valid_orders() -> None:
    desc = Description((Column("a", 25),))
    assert _run([desc, DataRow(["x"]), DataRow([None]), Complete()]).finished
    assert _run([Complete()]).finished
    assert _run([desc, DataRow(["x"]), Failure(DatabaseError("m", "57014"))]).finished
    assert not _run([desc, DataRow(["x"])]).finished


@pytest.mark.parametrize(
    "frames",
    [
        [DataRow(["x"])],
        [Description(()), Description(())],
        [Description((Column("a", 25),)), DataRow(["x", "y"])],
        [Complete(), Complete()],
        [Complete(), DataRow([])],
    ],
)
def test_invalid_orders(frames: list[Any]) -> None:
    with pytest.raises(ProtocolError):
        _run(frames)


def test_affected_count() -> None:
    assert affected_count([DataRow(["42"])]) == 42
    for rows in (
        [],
        [DataRow(["1"]), DataRow(["2"])],
        [DataRow(["-1"])],
        [DataRow([None])],
        [DataRow(["1", "2"])],
        [DataRow(["1.5"])],
    ):
        with pytest.raises(ProtocolError):
            affected_count(rows)


def _run_exec(frames: list[Any]) -> FrameOrder:
    order = FrameOrder("exec")
    for frame in frames:
        order.check(frame)
    return order


COUNT = Description((Column("rowsAffected", 23),))


def test_an_exec_answer_has_one_count_column_and_one_row() -> None:
    assert _run_exec([COUNT, DataRow(["7"]), Complete()]).finished
    assert _run_exec([COUNT, Failure(DatabaseError("m", "23505"))]).finished
    assert _run_exec([Failure(DatabaseError("m", "42601"))]).finished
    assert _run([Complete()]).finished  # a query may end with no rows at all


@pytest.mark.parametrize(
    "frames",
    [
        [Complete()],
        [COUNT, Complete()],
        [COUNT, DataRow(["1"]), DataRow(["2"])],
        [Description((Column("a", 23), Column("b", 23))), DataRow(["1", "2"])],
        [COUNT, DataRow(["-1"])],
        [COUNT, DataRow([None])],
    ],
)
def test_answers_that_do_not_fit_an_exec(frames: list[Any]) -> None:
    with pytest.raises(ProtocolError):
        _run_exec(frames)
