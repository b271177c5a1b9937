# README, "Pyodide": a first query. This runs here, in Pyodide, with top-level await;
# DATABASE_URL and ENDPOINT come from the connection form above.
import ppg_edge

async with ppg_edge.connect(DATABASE_URL, endpoint=ENDPOINT) as db:
    print(await db.sql(t"SELECT {41}::int + 1 AS answer").collect())
