"""Judging a canary: absolute SLO thresholds and canary-versus-stable sequential tests.

Pure code: no I/O and no clock. Observations come in as numbers; verdicts with their
evidence come out.
"""
