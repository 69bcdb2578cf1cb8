"""python_client.retry: the one retry policy (JSON-RPC requests, the oracle service's and
the validator's passes)."""

from __future__ import annotations

import logging

import pytest

from python_client.retry import PASS, REQUEST, Retry


def test_pauses_double_from_the_first_up_to_the_cap():
    policy = Retry(retries=6, first_pause_s=0.5, max_pause_s=3.0)
    assert [policy.pause_s(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]
    assert policy.total_pause_s() == 12.5


def test_the_two_strengths_seconds_for_a_request_minutes_for_a_pass():
    assert REQUEST.total_pause_s() == pytest.approx(6.2)
    assert PASS.pause_s(1) == 0.5 and PASS.pause_s(PASS.retries) == 30.0
    assert 60 < PASS.total_pause_s() < 180


def test_a_transient_failure_is_retried_until_the_attempt_succeeds(caplog):
    pauses: list[float] = []
    reset: list[str] = []
    tries = iter([ConnectionError("down"), ConnectionError("down"), "answer"])

    def attempt() -> str:
        value = next(tries)
        if isinstance(value, Exception):
            raise value
        return value

    with caplog.at_level(logging.WARNING, logger="python_client.retry"):
        out = Retry(3, 0.1, 1.0).call(
            attempt, lambda e: isinstance(e, ConnectionError), what="eth_call",
            on_retry=lambda e: reset.append(str(e)), sleep=pauses.append,
        )  # fmt: skip
    assert out == "answer"
    assert pauses == [0.1, 0.2]
    assert reset == ["down", "down"]
    assert "eth_call: down; retry 1 of 3 in 0.1 s" in caplog.text


def test_past_its_retries_the_last_failure_is_raised():
    pauses: list[float] = []
    calls = 0

    def attempt() -> None:
        nonlocal calls
        calls += 1
        raise TimeoutError(f"try {calls}")

    with pytest.raises(TimeoutError, match="try 3"):
        Retry(2, 0.1, 1.0).call(attempt, lambda e: True, what="x", sleep=pauses.append)
    assert calls == 3 and pauses == [0.1, 0.2]  # the first try and two retries


def test_a_failure_that_is_not_transient_is_raised_at_once():
    pauses: list[float] = []

    def attempt() -> None:
        raise ValueError("reverted")

    with pytest.raises(ValueError, match="reverted"):
        Retry(5, 0.1, 1.0).call(attempt, lambda e: isinstance(e, OSError), what="x",
                                sleep=pauses.append)  # fmt: skip
    assert pauses == []
