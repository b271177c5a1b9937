"""Every constant of the Prisma Postgres serverless protocol, in one place.

The driver, the gateway and the tests all import these names; nothing else in
the project spells a URN, a MIME type, a path or a protocol limit.
"""

from __future__ import annotations

from typing import Final

# --- Addressing (PROTOCOL.md section 1) -------------------------------------
STATEMENT_PATH: Final = "/v0/statement"
SESSION_PATH: Final = "/v0/session"
DATABASE_QUERY_PARAM: Final = "db"
WS_SUBPROTOCOL: Final = "prisma-postgres-1.0"
WS_SUBPROTOCOL_CANCEL: Final = "prisma-postgres-1.0+cancel"
"""ppg_edge's optional session extension (PROTOCOL.md section 6): the protocol plus a cancel
message. Offered after WS_SUBPROTOCOL, selected only by a server that knows it."""
CONNECTION_STRING_SCHEMES: Final = ("postgres", "postgresql")

# --- Frame and part names (URNs) --------------------------------------------
QUERY_URN: Final = "urn:prisma:query"
DESCRIPTOR_URN: Final = "urn:prisma:query:descriptor"
TEXT_PARAM_URN: Final = "urn:prisma:query:param:text"
BINARY_PARAM_URN: Final = "urn:prisma:query:param:binary"
DESCRIPTION_URN: Final = "urn:prisma:query:result:description"
DATAROW_URN: Final = "urn:prisma:query:result:datarow"
COMPLETE_URN: Final = "urn:prisma:query:result:complete"
ERROR_URN: Final = "urn:prisma:query:result:error"
RESULT_URNS: Final = frozenset({DESCRIPTION_URN, DATAROW_URN, COMPLETE_URN, ERROR_URN})
CANCEL_URN: Final = "urn:ppg-edge:session:cancel"
"""Client to server, only under WS_SUBPROTOCOL_CANCEL: cancel statement N (section 6)."""
CANCEL_STATEMENT_KEY: Final = "statement"
QUERY_CANCELED_SQLSTATE: Final = "57014"

# --- MIME types --------------------------------------------------------------
MULTIPART_FORM_DATA: Final = "multipart/form-data"
APPLICATION_JSON: Final = "application/json"
TEXT_PLAIN: Final = "text/plain"
APPLICATION_OCTET_STREAM: Final = "application/octet-stream"
NDJSON: Final = "application/x-ndjson"
DESCRIPTOR_CONTENT_TYPE: Final = f'{APPLICATION_JSON}; profile="{DESCRIPTOR_URN}"'
TEXT_PARAM_CONTENT_TYPE: Final = f'{TEXT_PLAIN}; charset=utf-8; profile="{TEXT_PARAM_URN}"'
BINARY_PARAM_CONTENT_TYPE: Final = f'{APPLICATION_OCTET_STREAM}; profile="{BINARY_PARAM_URN}"'


def multipart_content_type(boundary: str) -> str:
    """The request Content-Type of a statement body with this boundary."""
    return f'{MULTIPART_FORM_DATA}; profile="{QUERY_URN}"; boundary={boundary}'


# --- Statements and parameters (section 2) ------------------------------------
QUERY_KIND: Final = "query"
EXEC_KIND: Final = "exec"
TEXT_FORMAT: Final = "text"
BINARY_FORMAT: Final = "binary"
INLINE_PARAMETER_LIMIT: Final = 1024
"""Values of at most this many bytes travel inline in the descriptor."""

# --- Results (section 3) -----------------------------------------------------
COLUMNS_KEY: Final = "columns"
VALUES_KEY: Final = "values"
COMPLETE_KEY: Final = "complete"
ERROR_KEY: Final = "error"
ROWS_AFFECTED_COLUMN: Final = "rowsAffected"
INT4_OID: Final = 23
EXEC_DESCRIPTION: Final = {COLUMNS_KEY: [{"name": ROWS_AFFECTED_COLUMN, "typeOid": INT4_OID}]}
MAX_RESULT_FRAME_BYTES: Final = 256 * 1024 * 1024
"""The largest result frame a client accepts by default: one NDJSON line, one WebSocket message.

A row can hold what a request may carry (a gateway takes bodies up to 64 MiB) in
its bulkiest text form (bytea in hex inside an array: 2x), with room to spare,
so what a client can write it can read back; and a server that never ends a
line costs the client at most this much memory, not all it sends.
"""

ERROR_FIELDS: Final = (
    "message",
    "code",
    "severity",
    "detail",
    "hint",
    "position",
    "internalPosition",
    "internalQuery",
    "where",
    "schema",
    "table",
    "column",
    "dataType",
    "constraint",
    "file",
    "line",
    "routine",
)
"""Wire names of a database error's fields; message, code and severity are required."""

SESSION_SETTINGS: Final = {
    "TimeZone": "UTC",
    "DateStyle": "ISO",
    "IntervalStyle": "postgres",
    "bytea_output": "hex",
    "client_encoding": "UTF8",
}
"""Settings every database session behind the protocol runs with."""

# --- WebSocket close codes (section 4) ------------------------------------------
CLOSE_NORMAL: Final = 1000
CLOSE_GOING_AWAY: Final = 1001
CLOSE_PROTOCOL_ERROR: Final = 1002
CLOSE_POLICY_VIOLATION: Final = 1008
CLOSE_MESSAGE_TOO_BIG: Final = 1009
CLOSE_SERVER_ERROR: Final = 1011
