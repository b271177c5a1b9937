"""The synchronous face: blocking twins of the async classes (`SyncDatabase`, `SyncClient`...).

Most modules here are generated from the async ones by `scripts/generate_sync.py`
(each says so in its first line); `concurrency`, `transport`, `runtime` and
`cpython_http` are the small hand-written parts that wait and move bytes.
Import the public names from `ppg_edge` (`connect_sync`, `client_sync`, ...).
"""
