# README, "The driver": errors and timeouts. A statement's timeout= bounds it; rows
# that arrive before an error are yours, then the error is raised (and shown below).
import ppg_edge

async with ppg_edge.connect(DATABASE_URL, endpoint=ENDPOINT) as db:
    try:
        await db.query("SELECT pg_sleep(5)", timeout=0.5).collect()
    except ppg_edge.QueryTimeoutError as exc:
        print("timed out:", exc)
    async for row in db.query("SELECT 10 / (3 - n) AS q FROM generate_series(1, 5) AS n"):
        print(row)
