"""Log lines carry the rollout, namespace and revision, as text or JSON."""

from __future__ import annotations

import io
import json
import logging

from rollout.logs import ContextFilter, JsonFormatter, TextFormatter, rollout_context


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
