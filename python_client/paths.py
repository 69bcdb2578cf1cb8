"""Where the checkout's files are: the one place that finds the project root.

The runtime runs from the checkout (an editable install): the compiled contracts are read
from build/artifacts (`make build-contracts`), node_modules holds anvil and solc-js.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS_DIR = ROOT / "build" / "artifacts"
