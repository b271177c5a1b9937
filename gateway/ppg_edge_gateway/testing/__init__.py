"""Real servers and a Pyodide page for tests: what the pytest plugin's fixtures are made of.

``servers``: a private PostgreSQL and gateway subprocesses, as plain context
managers (benchmarks and the project's own fixtures use them too). ``site``: a
static file server for Pyodide and the wheel. ``page``: a Playwright page with
Pyodide and ppg_edge loaded that runs a test's Python. ``wheel``: finding or
building the wheel the page installs. Nothing here imports the driver, and
nothing heavy is imported by ``ppg_edge_gateway.pytest_plugin`` before a fixture
needs it.
"""
