"""What the CLI tests share: a fresh deployment on its own anvil, in a deployment file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from python_client.chain import Wallet, connect, deploy
from python_client.localchain import LocalChain, start_chain


@dataclass
class Deployed:
    chain: LocalChain
    w3: Any
    file: Path  # the deployment record, as `--deployment` takes it


@pytest.fixture
def deployed(tmp_path: Path) -> Iterator[Deployed]:
    """The contracts deployed by the chain's first account on a fresh anvil."""
    with start_chain("anvil") as chain:
        w3 = connect(chain.url)
        deployment = deploy(w3, Wallet(w3, chain.dev_private_keys[0]))
        file = tmp_path / "deployment.json"
        file.write_text(json.dumps(deployment.to_json()))
        yield Deployed(chain, w3, file)
