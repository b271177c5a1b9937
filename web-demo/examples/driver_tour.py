# README, "The driver": parameters, streaming, a transaction and a one-round-trip batch.
import ppg_edge

async with ppg_edge.connect(DATABASE_URL, endpoint=ENDPOINT) as db:
    await db.exec("CREATE TABLE IF NOT EXISTS notes (id serial PRIMARY KEY, body text)")
    rows = await db.sql("SELECT {n}::int * 2 AS twice", n=21).collect()
    print(rows)                                                         # [{'twice': 42}]
    total = 0
    async for row in db.query("SELECT g FROM generate_series(1, $1) g", 100_000):
        total += row["g"]                                               # constant memory
    print(f"streamed 100,000 rows, sum {total:,}")
    async with db.transaction() as tx:
        await tx.exec("INSERT INTO notes (body) VALUES ($1)", "hello")
    notes, inserted = await db.batch(                                   # one round trip
        ppg_edge.Query("SELECT count(*) FROM notes"),
        ppg_edge.Exec("INSERT INTO notes (body) VALUES ($1)", "again"),
    )
    print(notes, inserted)
