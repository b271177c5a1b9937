"""Helpers shared by the test suites and the benchmarks (servers, raw protocol clients)."""
