"""Fixtures for the notifier tests: a rolled-back event and a webhook-shaped URL on the real
local receiver (the receiver itself comes from ``tests/conftest.py``)."""

from __future__ import annotations

import pytest

from rollout.events import Notification
from rollout_local.receiver import WebhookReceiver
from tests.notify.samples import SECRET_PATH, make_notification


@pytest.fixture
def notification() -> Notification:
    return make_notification()


@pytest.fixture
def secret_url(receiver: WebhookReceiver) -> str:
    """A receiver URL shaped like a real webhook: the credential is in the path and query."""
    return f"{receiver.url}{SECRET_PATH}?sig=qu3ryS1gn4tur3"
