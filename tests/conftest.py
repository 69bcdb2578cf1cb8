"""Shared test set-up.

tests/contracts/ runs under eth-brownie in its own venv (`make test-contracts`);
the main venv's pytest skips collecting it.
"""

import importlib.util

import pytest

collect_ignore = [] if importlib.util.find_spec("brownie") else ["contracts"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Long runs (marker `slow`) are deselected unless asked for (`make test-slow`, or
    `pytest -m slow`); each has a short form that always runs."""
    if "slow" in (config.getoption("markexpr") or ""):
        return
    slow = [item for item in items if "slow" in item.keywords]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if "slow" not in item.keywords]
