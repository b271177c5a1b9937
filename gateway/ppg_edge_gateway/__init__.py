"""ppg_edge gateway: the Prisma Postgres serverless protocol in front of any PostgreSQL.

Why aiohttp + psycopg 3: aiohttp gives one asyncio server with a streaming
multipart reader (extended parameters are read as they arrive, never as a
whole body), streamed responses whose ``write`` waits for the socket
(back-pressure), and WebSockets with subprotocol selection and a message size
limit. psycopg 3 exposes libpq itself (``psycopg.pq``): parameters bound with
type OID 0 in text or binary format, PostgreSQL's raw text output, single-row
mode so rows leave as PostgreSQL produces them, pipeline mode for bursts, the
simple query protocol for multi-statement scripts, and every error field of a
result. Neither library needs hand-written multipart or PostgreSQL wire parsing.

The gateway imports only :mod:`ppg_edge.core.protocol` from the driver; the
driver never imports the gateway. Run it with ``python -m ppg_edge_gateway``.
"""
