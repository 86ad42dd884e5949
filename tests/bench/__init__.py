"""Smoke tests of the benchmarks: they run, and measure the real code."""
