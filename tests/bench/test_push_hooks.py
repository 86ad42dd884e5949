"""The push-hook benchmark at the issue's figures: a burst of signed pushes and stalled clients.

Inputs: 200 GitHub pushes signed with the secret, 25 in flight at a time, each on a fresh
connection; then 60 clients that announce a body, send part of it and reset the
connection, half before the server's request timeout and half after. Outputs: every push
answered 202 and scheduled once, each stalled client logged as one rejection (400 gone
away, 408 timed out; on a loaded machine an early one may time out first), and not one
log record carrying a traceback.
"""

from __future__ import annotations

import logging

from bench import push_hooks


def test_a_burst_of_signed_pushes_all_get_202_and_stalled_clients_log_no_traceback() -> None:
    report = push_hooks.run(count=200, concurrency=25, stalled_count=60)
    burst = report["burst"]
    assert isinstance(burst, dict)
    assert burst["outcomes"] == {"202": 200}
    assert report["pushes_scheduled"] == 200
    assert report["tracebacks"] == []
    # on a loaded machine an early client may outlive the timeout too: each is one of two
    warnings = report["hook_warnings"]
    assert isinstance(warnings, dict)
    assert set(warnings) <= {
        "the client went away before the body ended (400)",
        "the body did not arrive in time (408)",
    }
    assert sum(warnings.values()) == 60
    assert warnings["the body did not arrive in time (408)"] >= 30


def test_the_traceback_search_finds_a_logged_exception() -> None:
    records = push_hooks._Records()
    logger = logging.getLogger("bench.push_hooks.selfcheck")
    logger.addHandler(records)
    try:
        try:
            raise BrokenPipeError(32, "Broken pipe")
        except BrokenPipeError:
            logger.exception("write failed")
        logger.warning("a plain warning")
    finally:
        logger.removeHandler(records)
    assert records.tracebacks() == ["bench.push_hooks.selfcheck: write failed"]
