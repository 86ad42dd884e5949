"""Log lines carry the rollout, namespace and revision, as text or JSON; a repeated warning
is let through once a minute with the count of those held back."""

from __future__ import annotations

import io
import json
import logging

from rollout.logs import (
    ContextFilter,
    JsonFormatter,
    RepeatFilter,
    TextFormatter,
    rollout_context,
)


def capture(formatter: logging.Formatter) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter())
    handler.setFormatter(formatter)
    logger = logging.getLogger(f"test.logs.{id(stream)}")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger, stream


def test_json_lines_carry_the_rollout_context() -> None:
    logger, stream = capture(JsonFormatter())
    with rollout_context(rollout="checkout", namespace="shop", revision="v2@abc"):
        logger.info("weights set to %d%%", 25)
    logger.info("outside")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["message"] == "weights set to 25%"
    assert (first["rollout"], first["namespace"], first["revision"]) == (
        "checkout",
        "shop",
        "v2@abc",
    )
    assert "rollout" not in second


def test_text_lines_end_with_the_context() -> None:
    logger, stream = capture(TextFormatter("%(levelname)s %(message)s"))
    with rollout_context(rollout="checkout", namespace="shop"):
        logger.warning("drift")
    assert stream.getvalue().strip() == "WARNING drift [rollout=checkout namespace=shop]"


def test_a_repeated_warning_is_held_back_and_counted_within_the_period() -> None:
    now = [0.0]
    logger, stream = capture(TextFormatter("%(levelname)s %(message)s"))
    logger.handlers[0].addFilter(RepeatFilter(60.0, clock=lambda: now[0]))
    for second in range(0, 100, 5):
        now[0] = float(second)
        logger.warning("Prometheus at %s is unreachable", "http://p:9090")
        logger.info("tick %d", second)
    lines = stream.getvalue().splitlines()
    warnings = [line for line in lines if line.startswith("WARNING")]
    assert warnings == [
        "WARNING Prometheus at http://p:9090 is unreachable",
        "WARNING Prometheus at http://p:9090 is unreachable (and 11 times more in 60s)",
    ]
    assert sum(line.startswith("INFO") for line in lines) == 20


def test_the_same_warning_for_another_rollout_is_not_held_back() -> None:
    logger, stream = capture(TextFormatter("%(message)s"))
    logger.handlers[0].addFilter(RepeatFilter(60.0))
    for name in ("a", "b", "a"):
        with rollout_context(rollout=name, namespace="shop"):
            logger.warning("cannot read live weights")
    assert len(stream.getvalue().splitlines()) == 2
