# docs/API.md, "Low level": a WebSocket session; gathered queries are pipelined,
# sent at once and answered in order on one connection.
import asyncio
import ppg_edge

async with ppg_edge.client(DATABASE_URL, endpoint=ENDPOINT) as cl:
    session = await cl.new_session()
    async with session:
        answers = await asyncio.gather(
            *(session.query("SELECT $1::int AS i, pg_backend_pid() AS pid", i) for i in range(5))
        )
        for answer in answers:
            print([row.values for row in await answer.rows.collect()])
