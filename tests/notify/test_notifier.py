"""JsonPoster against a real local receiver: retries, backoff, deadline and secret hygiene.

Inputs: a JSON body, a retry policy and a receiver told to fail, rate-limit or hang.
Outputs: the Delivery (status, attempts), the NotifyError subclass raised, the requests the
receiver saw, and the log lines written (which must never hold the webhook's credential).
"""

from __future__ import annotations

import logging
import random
import time

import pytest

from rollout.errors import NotifyConfigError, NotifyRejected, NotifyUnavailable
from rollout.notify.notifier import JsonPoster, Notifier, RetryPolicy, encode_json, scrub_url
from rollout.notify.slack import SlackNotifier
from rollout_local.receiver import WebhookReceiver
from tests.notify.samples import FAST_POLICY, SECRET_PATH

BODY = encode_json({"text": "hello"})


def poster(url: str, policy: RetryPolicy = FAST_POLICY) -> JsonPoster:
    return JsonPoster(target="team-alerts", url=url, policy=policy, rng=random.Random(7))


def test_success_posts_the_body_once_as_json(receiver: WebhookReceiver, secret_url: str) -> None:
    delivery = poster(secret_url).post(BODY, headers={"X-Extra": "1"})

    assert (delivery.status, delivery.attempts) == (200, 1)
    [request] = receiver.received
    assert request.method == "POST"
    assert request.path == SECRET_PATH + "?sig=qu3ryS1gn4tur3"
    assert request.body == BODY
    assert request.json == {"text": "hello"}
    assert request.header("content-type") == "application/json"
    assert request.header("x-extra") == "1"
    assert (request.header("user-agent") or "").startswith("rollout-controller/")


def test_retries_on_500_then_succeeds(receiver: WebhookReceiver, secret_url: str) -> None:
    receiver.fail_next(2, status=500)

    delivery = poster(secret_url).post(BODY)

    assert delivery.attempts == 3
    assert [r.status for r in receiver.received] == [500, 500, 200]
    assert {r.body for r in receiver.received} == {BODY}


def test_no_retry_on_400(receiver: WebhookReceiver, secret_url: str) -> None:
    receiver.fail_next(1, status=400, body="invalid_payload")

    with pytest.raises(NotifyRejected) as caught:
        poster(secret_url).post(BODY)

    assert caught.value.status == 400
    assert "invalid_payload" in str(caught.value)
    assert len(receiver.received) == 1


def test_a_redirect_is_a_rejection_not_followed(receiver: WebhookReceiver, secret_url: str) -> None:
    receiver.fail_next(1, status=302)

    with pytest.raises(NotifyRejected) as caught:
        poster(secret_url).post(BODY)

    assert caught.value.status == 302
    assert len(receiver.received) == 1


def test_429_honours_retry_after(receiver: WebhookReceiver, secret_url: str) -> None:
    receiver.fail_next(1, status=429, retry_after="1")

    delivery = poster(secret_url).post(BODY)

    first, second = receiver.received
    assert delivery.attempts == 2
    # the policy's own backoff is at most 0.05 s: only Retry-After explains the wait
    assert second.at - first.at >= 0.9


def test_retry_after_beyond_the_deadline_gives_up_at_once(
    receiver: WebhookReceiver, secret_url: str
) -> None:
    receiver.fail_next(1, status=429, retry_after="60")

    started = time.monotonic()
    with pytest.raises(NotifyUnavailable, match="deadline exhausted; last: HTTP 429"):
        poster(secret_url).post(BODY)

    assert time.monotonic() - started < 1.0
    assert len(receiver.received) == 1


def test_gives_up_after_max_attempts(receiver: WebhookReceiver, secret_url: str) -> None:
    receiver.fail_next(10, status=503)

    with pytest.raises(
        NotifyUnavailable, match=r"after 4 attempt\(s\), attempts exhausted; last: HTTP 503"
    ):
        poster(secret_url).post(BODY)

    assert len(receiver.received) == 4


def test_backoff_is_bounded_by_the_deadline(receiver: WebhookReceiver, secret_url: str) -> None:
    receiver.fail_next(1000, status=500)
    policy = RetryPolicy(
        max_attempts=1000, attempt_timeout=1.0, deadline=1.5, backoff_base=0.1, backoff_cap=0.4
    )

    started = time.monotonic()
    with pytest.raises(NotifyUnavailable, match="deadline exhausted"):
        poster(secret_url, policy).post(BODY)
    elapsed = time.monotonic() - started

    assert elapsed <= 1.5 + 0.3
    attempts = len(receiver.received)
    # sleeps average up to 0.2 s, so a 1.5 s deadline allows a handful of attempts, not 1000
    assert 3 <= attempts <= 60


def test_backoff_grows_exponentially_up_to_the_cap() -> None:
    policy = RetryPolicy(backoff_base=0.5, backoff_cap=4.0)
    rng = random.Random(1)
    for retry, ceiling in [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (6, 4.0)]:
        samples = [policy.backoff(retry, rng) for _ in range(200)]
        assert all(0.0 <= s <= ceiling for s in samples)
        assert max(samples) > ceiling * 0.8  # full jitter spans the whole range


def test_a_hanging_receiver_times_out(receiver: WebhookReceiver, secret_url: str) -> None:
    receiver.hang_next(10, seconds=10.0)
    policy = RetryPolicy(
        max_attempts=3, attempt_timeout=0.3, deadline=1.0, backoff_base=0.01, backoff_cap=0.01
    )

    started = time.monotonic()
    with pytest.raises(NotifyUnavailable, match="timed out"):
        poster(secret_url, policy).post(BODY)

    assert time.monotonic() - started < 1.5
    assert receiver.received and all(r.hung for r in receiver.received)


def test_connection_refused_is_retried_then_unavailable() -> None:
    with WebhookReceiver() as gone:
        url = f"{gone.url}{SECRET_PATH}"
    policy = RetryPolicy(max_attempts=2, backoff_base=0.01, backoff_cap=0.01, deadline=2.0)

    with pytest.raises(NotifyUnavailable, match=r"after 2 attempt\(s\).*last: connection failed"):
        poster(url, policy).post(BODY)


@pytest.mark.parametrize(
    "url",
    ["ftp://127.0.0.1/x", "file:///etc/passwd", "not a url", "http://127.0.0.1/a\n", "http:///x"],
)
def test_only_clean_http_urls_are_accepted(url: str) -> None:
    with pytest.raises(NotifyConfigError) as caught:
        poster(url)
    assert "team-alerts" in str(caught.value)


def test_scrub_url_keeps_scheme_host_and_port_only() -> None:
    assert scrub_url("https://hooks.slack.com/services/T/B/tok?x=1") == "https://hooks.slack.com"
    assert scrub_url("http://127.0.0.1:8080/p?sig=abc") == "http://127.0.0.1:8080"


def test_notifiers_satisfy_the_protocol(secret_url: str) -> None:
    assert isinstance(SlackNotifier(poster=poster(secret_url)), Notifier)


def test_the_secret_url_never_reaches_logs_or_errors(
    receiver: WebhookReceiver, secret_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    errors: list[str] = []
    receiver.fail_next(1, status=500)
    poster(secret_url).post(BODY)  # a retry, then success
    receiver.fail_next(1, status=400, body=f"no such hook {SECRET_PATH}")
    with pytest.raises(NotifyRejected) as rejected:
        poster(secret_url).post(BODY)
    errors.append(str(rejected.value))
    receiver.fail_next(10, status=500)
    with pytest.raises(NotifyUnavailable) as unavailable:
        poster(secret_url).post(BODY)
    errors.append(str(unavailable.value))
    with WebhookReceiver() as gone:
        closed_url = f"{gone.url}{SECRET_PATH}"
    with pytest.raises(NotifyUnavailable) as refused:
        poster(closed_url, RetryPolicy(max_attempts=2, backoff_base=0.01)).post(BODY)
    errors.append(str(refused.value))
    assert refused.value.__cause__ is None and refused.value.__suppress_context__

    everything = caplog.text + "\n".join(errors)
    for secret in ("s3cr3tT0k3nXYZ", "qu3ryS1gn4tur3", "B0002"):
        assert secret not in everything
    assert "<redacted>" in errors[0]
    assert f"team-alerts ({scrub_url(receiver.url)})" in caplog.text
    assert "retrying in" in caplog.text and "rejected with HTTP 400" in caplog.text
