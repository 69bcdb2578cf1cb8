"""Shared test set-up.

tests/contracts/ runs under eth-brownie in its own venv (`make test-contracts`);
the main venv's pytest skips collecting it.
"""

import importlib.util

collect_ignore = [] if importlib.util.find_spec("brownie") else ["contracts"]
