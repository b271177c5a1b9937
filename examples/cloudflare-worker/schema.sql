-- Tables and sample rows the example Worker reads and writes.
CREATE TABLE IF NOT EXISTS users (
    id integer PRIMARY KEY,
    name text NOT NULL,
    email text NOT NULL UNIQUE
);

CREATE TABLE IF NOT EXISTS accounts (
    id integer PRIMARY KEY,
    owner text NOT NULL,
    balance integer NOT NULL CHECK (balance >= 0)
);

INSERT INTO users (id, name, email) VALUES
    (1, 'Ada Lovelace', 'ada@example.com'),
    (2, 'Grace Hopper', 'grace@example.com'),
    (3, 'Edsger Dijkstra', 'edsger@example.com'),
    (4, 'Barbara Liskov', 'barbara@example.com'),
    (5, 'Donald Knuth', 'donald@example.com')
ON CONFLICT (id) DO NOTHING;

INSERT INTO accounts (id, owner, balance) VALUES
    (1, 'Ada Lovelace', 100),
    (2, 'Grace Hopper', 50)
ON CONFLICT (id) DO NOTHING;
