"""bench/verify_setup.py reports its steps by stdlib logging (logger `bench.verify_setup`
here, `verify_setup` when run from bench/), not a `print` callable passed in."""

from __future__ import annotations

import inspect
import logging

import pytest

from bench import verify_setup


def test_steps_are_logged_not_printed(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    assert "log" not in inspect.signature(verify_setup.put_on_chain).parameters
    setup = verify_setup.Setup(None, 0, [])  # type: ignore[arg-type]
    with caplog.at_level(logging.INFO, logger=verify_setup.__name__):
        verify_setup._Timer(setup).run("bids", lambda: 1_200)
    assert [s.name for s in setup.steps] == ["bids"]
    (line,) = [r.getMessage() for r in caplog.records if r.name == verify_setup.__name__]
    assert "bids" in line and "1,200 tx" in line
    assert capsys.readouterr().out == ""
