"""Collects the WebSocket messages of one statement (PROTOCOL.md section 4.2); pure."""

from __future__ import annotations

from ppg_edge.core.protocol import BINARY_FORMAT, DESCRIPTOR_URN, RESULT_URNS

from .errors import BodyTooLarge, ProtocolViolation
from .statement import Extended, Statement, parse_descriptor


def _show(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:40] + "…")


class StatementAssembler:
    """Feed it messages in arrival order; it returns each statement once complete.

    With `max_statement_bytes`, a descriptor whose extended parameters declare more
    bytes in total is refused before any of them arrives, as an HTTP body would be.
    """

    def __init__(self, max_statement_bytes: int | None = None) -> None:
        self._max_bytes = max_statement_bytes
        self._statement: Statement | None = None
        self._descriptor_next = False
        self._param: Extended | None = None
        self._value_next = False
        self._position = 0

    @property
    def idle(self) -> bool:
        """True between statements (no statement partly received)."""
        return self._statement is None and not self._descriptor_next

    def text(self, text: str) -> Statement | None:
        """A text message: a URN, a descriptor or a text parameter value."""
        if self._descriptor_next:
            self._descriptor_next = False
            self._statement = self._checked(parse_descriptor(text))
            return self._advance()
        if self._value_next:
            return self._value(text.encode("utf-8"), binary=False)
        if self._statement is None:
            self._expect_descriptor_urn(text)
            return None
        assert self._param is not None
        if text != self._param.urn:
            raise ProtocolViolation(
                f"expected {self._param.urn!r} for parameter {self._param.index + 1}, "
                f"got {_show(text)}"
            )
        self._value_next = True
        return None

    def binary(self, data: bytes) -> Statement | None:
        """A binary message: only valid as the value of a binary parameter."""
        if not self._value_next:
            raise ProtocolViolation("binary message where a text message was expected")
        return self._value(data, binary=True)

    def _checked(self, statement: Statement) -> Statement:
        declared = sum(param.byte_size for param in statement.extended)
        if self._max_bytes is not None and declared > self._max_bytes:
            limit = self._max_bytes
            raise BodyTooLarge(
                f"statement declares {declared} parameter bytes, over the limit of {limit}"
            )
        return statement

    def _expect_descriptor_urn(self, text: str) -> None:
        if text != DESCRIPTOR_URN:
            kind = "a server-only URN" if text in RESULT_URNS else "an unknown message"
            raise ProtocolViolation(f"expected {DESCRIPTOR_URN!r}, got {kind} {_show(text)}")
        self._descriptor_next = True

    def _value(self, data: bytes, *, binary: bool) -> Statement | None:
        param, statement = self._param, self._statement
        assert param is not None and statement is not None
        if binary != (param.format == BINARY_FORMAT):
            want = "binary" if param.format == BINARY_FORMAT else "text"
            raise ProtocolViolation(f"parameter {param.index + 1} needs a {want} message")
        self._value_next = False
        statement.fill(param, data)
        return self._advance()

    def _advance(self) -> Statement | None:
        statement = self._statement
        assert statement is not None
        position = self._position
        if position < len(statement.extended):
            self._param = statement.extended[position]
            self._position = position + 1
            return None
        self._statement, self._param, self._position = None, None, 0
        return statement
