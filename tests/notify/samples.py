"""A rolled-back event for the notifier tests, and the retry policy they run with.

The notification carries one failed check with every number an alert must show (value,
threshold, stable value, sample size, p-value) and one passing check that must not show.
"""

from __future__ import annotations

from rollout.analysis.verdicts import Evidence, Outcome
from rollout.events import Notification
from rollout.notify.notifier import RetryPolicy
from rollout.spec.alerts import AlertEvent

__all__ = [
    "COMMIT",
    "FAILED_CHECK",
    "FAST_POLICY",
    "PASSED_CHECK",
    "SECRET_PATH",
    "make_notification",
]

COMMIT = "3f2c1a9d8e7b6a5f4c3d2e1f0a9b8c7d6e5f4a3b"
SECRET_PATH = "/services/T0001/B0002/s3cr3tT0k3nXYZ"

FAST_POLICY = RetryPolicy(
    max_attempts=4, attempt_timeout=1.0, deadline=5.0, backoff_base=0.05, backoff_cap=0.2
)

FAILED_CHECK = Evidence(
    policy="istio-error-ratio",
    check="error-ratio",
    outcome=Outcome.FAIL,
    message="error ratio 5.2% is above 1%",
    query='sum(rate(istio_requests_total{response_code=~"5.."}[1m]))',
    value=0.052,
    threshold=0.01,
    sample_size=1200,
    p_value=0.0003,
    stable_value=0.002,
)
PASSED_CHECK = Evidence(
    policy="istio-latency-p99",
    check="p99",
    outcome=Outcome.PASS,
    message="p99 120 ms is within 300 ms",
    value=120.0,
    threshold=300.0,
)


def make_notification(
    *, event: AlertEvent = AlertEvent.ROLLED_BACK, revision: str = COMMIT
) -> Notification:
    return Notification(
        event=event,
        rollout="checkout",
        namespace="shop",
        from_version="v1",
        to_version="v2",
        summary="rolled back at step 2: error ratio 5.2% is above 1%",
        step=2,
        weight=20,
        evidence=(FAILED_CHECK, PASSED_CHECK),
        commit=revision,
        author="Ada Lovelace",
        revision=revision,
        at=1767225600.0,
    )
