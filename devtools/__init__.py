"""Helpers shared by the test suite (tests/) and the benchmarks (bench/); not served."""
