"""The pieces of `benchmarks/compare.py`: the canned stream, the peers and the probes."""
