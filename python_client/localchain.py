"""Start and stop a throw-away local chain: anvil (default) or ganache, from node_modules.

Used by tests and by ``flexmarket demo``. The chain listens on a free loopback port; the
launcher waits until JSON-RPC answers and kills the whole process group when stopped.

Both chains are started from the same mnemonic, so the same funded development keys
(:attr:`LocalChain.dev_private_keys`) exist on either. Those keys exist only for local
chains: they let the demo hand every participant its own wallet. Only this launcher and
tests may call node-specific RPC methods (``anvil_*``, ``evm_*``); runtime code never does.

anvil comes from the npm package ``@foundry-rs/anvil`` and runs the current mainnet
hardfork (osaka). ganache 7.9 (``npx ganache``) runs up to shanghai, which is why the
contracts are compiled for shanghai (see docs/contracts.md).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import IO, Any, Literal

from python_client.errors import LocalChainError
from python_client.paths import ROOT
from python_client.retry import PORT

NODE_BIN = ROOT / "node_modules" / ".bin"

ChainKind = Literal["anvil", "ganache"]

ANVIL_HARDFORK = "osaka"  # current mainnet hardfork; `anvil --help` lists the names
GANACHE_HARDFORK = "shanghai"  # the newest ganache 7.9 knows
# The well-known development mnemonic: its keys are public, never use them on a real chain.
DEV_MNEMONIC = "test test test test test test test test test test test junk"
DEFAULT_CHAIN_IDS = {"anvil": 31337, "ganache": 1337}
BLOCK_GAS_LIMIT = 30_000_000
# anvil: a block every second, and one at once for each transaction (`--mixed-mining`):
# the chain's clock moves as a real chain's does, and writes are not slowed down.
STEADY_CLOCK = ("--block-time", "1", "--mixed-mining")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on `host` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def rpc_call(url: str, method: str, params: list[Any] | None = None, timeout_s: float = 5.0) -> Any:
    """One JSON-RPC call over HTTP; raises LocalChainError on an RPC error."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []})
    request = urllib.request.Request(
        url, data=body.encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        reply = json.loads(response.read())
    if "error" in reply:
        raise LocalChainError(f"{method}: {reply['error']}")
    return reply["result"]


def _command(kind: ChainKind, host: str, port: int, accounts: int, chain_id: int) -> list[str]:
    if kind == "anvil":
        return [
            str(NODE_BIN / "anvil"),
            "--host",
            host,
            "--port",
            str(port),
            "--hardfork",
            ANVIL_HARDFORK,
            "--chain-id",
            str(chain_id),
            "--accounts",
            str(accounts),
            "--mnemonic",
            DEV_MNEMONIC,
            "--gas-limit",
            str(BLOCK_GAS_LIMIT),
            "--silent",
        ]
    if kind == "ganache":
        # node_modules/.bin/ganache is what `npx ganache` runs, without npx's registry lookups.
        return [
            str(NODE_BIN / "ganache"),
            "--server.host",
            host,
            "--server.port",
            str(port),
            "--chain.hardfork",
            GANACHE_HARDFORK,
            "--chain.chainId",
            str(chain_id),
            "--wallet.totalAccounts",
            str(accounts),
            "--wallet.mnemonic",
            DEV_MNEMONIC,
            "--miner.blockGasLimit",
            str(BLOCK_GAS_LIMIT),
            "--logging.quiet",
        ]
    raise LocalChainError(f"unknown chain kind {kind!r}: anvil or ganache")


@dataclass
class LocalChain:
    """A running local chain. Use as a context manager, or call :meth:`stop`."""

    kind: ChainKind
    url: str
    port: int
    chain_id: int
    accounts: int
    process: subprocess.Popen[bytes] = field(repr=False)
    stderr_file: IO[bytes] | None = field(default=None, repr=False)

    @property
    def dev_private_keys(self) -> list[str]:
        """Private keys of the chain's funded development accounts (0x-prefixed hex)."""
        from eth_account import Account

        Account.enable_unaudited_hdwallet_features()
        return [
            Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}").key.to_0x_hex()
            for i in range(self.accounts)
        ]

    def rpc(self, method: str, params: list[Any] | None = None) -> Any:
        """A raw JSON-RPC call (tests may use node-specific methods through this)."""
        return rpc_call(self.url, method, params)

    def warp_to(self, timestamp: int) -> None:
        """Mine a block at `timestamp` (a local chain only: node-specific methods)."""
        latest = int(self.rpc("eth_getBlockByNumber", ["latest", False])["timestamp"], 16)
        if timestamp > latest:
            method = "evm_setNextBlockTimestamp" if self.kind == "anvil" else "evm_setTime"
            value: Any = timestamp if self.kind == "anvil" else timestamp * 1000
            self.rpc(method, [value])
        self.rpc("evm_mine", [])

    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the chain and every process it started."""
        stop_process_group(self.process, self.stderr_file, timeout_s)

    def __enter__(self) -> LocalChain:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_chain(
    kind: ChainKind = "anvil",
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    accounts: int = 10,
    chain_id: int | None = None,
    timeout_s: float = 60.0,
    extra_args: Sequence[str] = (),
) -> LocalChain:
    """Start anvil or ganache on a free loopback port and wait until it answers JSON-RPC.
    `extra_args` go to the node as given (tests: `--block-time 1`, `--no-mining`)."""
    executable = NODE_BIN / kind
    if not executable.exists():
        raise LocalChainError(f"{executable} is missing: run `npm ci` (or `make node_modules`)")
    chain_id = chain_id or DEFAULT_CHAIN_IDS[kind]
    # A node that exits at start lost its free port to another process meanwhile: the one
    # retry policy starts it again on another port (PORT); a port given is tried once.
    policy = PORT if port is None else replace(PORT, retries=0)
    return policy.call(
        lambda: _start_once(kind, host, port or free_port(host), accounts, chain_id,
                            timeout_s, extra_args),
        lambda exc: isinstance(exc, _NodeExited),
        what=f"{kind} exited at start",
    )  # fmt: skip


class _NodeExited(LocalChainError):
    """The node process exited before it answered (its port taken, most often)."""


def _start_once(
    kind: ChainKind, host: str, chosen: int, accounts: int, chain_id: int, timeout_s: float,
    extra_args: Sequence[str],
) -> LocalChain:  # fmt: skip
    """Start the node once on port `chosen` and wait until it answers JSON-RPC."""
    # A file, not a pipe: a chatty node never blocks. It lives as long as the chain.
    errors = tempfile.TemporaryFile()  # noqa: SIM115 - closed by LocalChain.stop()
    process = subprocess.Popen(
        [*_command(kind, host, chosen, accounts, chain_id), *extra_args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=errors,
        start_new_session=True,  # its own process group: stop() kills node and anvil
        cwd=ROOT,
    )
    chain = LocalChain(kind, f"http://{host}:{chosen}", chosen, chain_id, accounts, process, errors)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:  # polling until the node answers: not a retry
        if process.poll() is not None:
            errors.seek(0)
            stderr = errors.read().decode(errors="replace")
            chain.stop()
            raise _NodeExited(f"{kind} exited with {process.returncode}: {stderr.strip()[-500:]}")
        try:
            answered = int(rpc_call(chain.url, "eth_chainId", timeout_s=1.0), 16)
        except (OSError, urllib.error.URLError, ValueError, LocalChainError):
            time.sleep(0.1)
            continue
        if answered != chain_id:
            chain.stop()
            raise LocalChainError(f"{kind} answered chain id {answered}, expected {chain_id}")
        return chain
    chain.stop()
    raise LocalChainError(f"{kind} did not answer on {chain.url} within {timeout_s} s")


def main() -> int:
    """`python -m python_client.localchain [anvil|ganache]`: run a chain until Ctrl-C."""
    import sys

    kind: ChainKind = "ganache" if sys.argv[1:2] == ["ganache"] else "anvil"
    with start_chain(kind) as chain:
        print(f"{kind} on {chain.url} (chain id {chain.chain_id}); Ctrl-C stops it", flush=True)
        try:
            while chain.running():
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


def stop_process_group(process: subprocess.Popen[Any], stderr_file: IO[Any] | None,
                       timeout_s: float = 10.0) -> None:
    """Stop a process started in its own group and every process it started (SIGTERM, then
    SIGKILL after `timeout_s`), and close the file its stderr went to: the one way a node this
    project starts (a local chain, a reference market) is stopped."""
    try:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=timeout_s)
    except ProcessLookupError:
        pass
    finally:
        if stderr_file is not None:
            stderr_file.close()
