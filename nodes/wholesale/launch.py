"""Start the reference platforms as their own processes: the day-ahead exchange
(`refmarkets.exchange`) and the mFRR platform (`refmarkets.mfrr`).

The demo and the tests start it as they start anvil: on a free loopback port, its own
process group, waiting until `GET /health` answers, killed with its group when stopped.
The member's and the operator's keys are fresh random ones handed over in the child's
environment (never on its command line). Closing the auction is the exchange operator's
act (the mFRR platform's gate closure too); the launcher holds the operator key so the demo
and the tests can play it.
"""

from __future__ import annotations

import functools
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self, TypeVar

import httpx

from nodes.wholesale.adapter import ExchangeError, HttpExchangeAdapter, HttpMfrrAdapter
from python_client.localchain import free_port, stop_process_group
from python_client.paths import ROOT
from python_client.retry import PORT

MEMBER = "flexmarket"


class _Exited(ExchangeError):
    """The platform's process exited before it answered (its port taken, most often)."""


@dataclass
class ReferencePlatform:
    """A running reference platform. Use as a context manager, or call `stop`."""

    url: str
    member: str
    member_key: str = field(repr=False)
    operator_key: str = field(repr=False)
    process: subprocess.Popen[bytes] = field(repr=False)
    stderr_file: IO[bytes] | None = field(default=None, repr=False)

    def _operator_post(self, path: str) -> Any:
        url = f"{self.url}{path}"
        r = httpx.post(url, headers={"Authorization": f"Bearer {self.operator_key}"},
                       timeout=60.0)
        if r.status_code != 200:
            raise ExchangeError(r.status_code, f"POST {url}: {r.status_code} {r.text}")
        return r.json()

    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout_s: float = 10.0) -> None:
        stop_process_group(self.process, self.stderr_file, timeout_s)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


@dataclass
class ReferenceExchange(ReferencePlatform):
    auction_id: str = "DA-1"

    def adapter(self) -> HttpExchangeAdapter:
        return HttpExchangeAdapter(self.url, self.auction_id, self.member_key)

    def close_auction(self) -> list[int]:
        """Gate closure and clearing (the exchange operator's act); the prices per MTU."""
        return list(self._operator_post(f"/auctions/{self.auction_id}/close")
                    ["prices_ct_per_mwh"])


@dataclass
class ReferenceMfrr(ReferencePlatform):
    def adapter(self) -> HttpMfrrAdapter:
        return HttpMfrrAdapter(self.url, self.member_key)

    def close_gate(self) -> None:
        """Gate closure and activation (the platform operator's act)."""
        self._operator_post("/close")


def start_reference_exchange(
    *, seed: int = 1, auction_id: str = "DA-1", exchange: str = "Reference Exchange",
    delivery_start: str = "2026-05-26T00:00:00+02:00", mtus: int = 24, mtu_minutes: int = 60,
    floor_ct_per_mwh: int = -50_000, cap_ct_per_mwh: int = 400_000,
    background: Path | None = None, host: str = "127.0.0.1", port: int | None = None,
    timeout_s: float = 60.0,
) -> ReferenceExchange:
    """Start the exchange of one auction and wait until it answers."""
    args = ["--exchange", exchange, "--auction-id", auction_id, "--delivery-start",
            delivery_start, "--mtus", str(mtus), "--mtu-minutes", str(mtu_minutes),
            "--floor", str(floor_ct_per_mwh), "--cap", str(cap_ct_per_mwh), "--seed", str(seed)]
    if background is not None:
        args += ["--background", str(background)]
    return _start("refmarkets.exchange", host, port, args, timeout_s,
                  functools.partial(ReferenceExchange, auction_id=auction_id))


def start_reference_mfrr(
    *, seed: int = 1, platform: str = "Reference mFRR",
    delivery_start: str = "2026-05-26T17:00:00+02:00", quarters: int = 4,
    floor_ct_per_mwh: int = -999_999_900, cap_ct_per_mwh: int = 999_999_900,
    host: str = "127.0.0.1", port: int | None = None, timeout_s: float = 60.0,
) -> ReferenceMfrr:
    """Start the mFRR platform and wait until it answers."""
    args = ["--platform", platform, "--delivery-start", delivery_start, "--quarters",
            str(quarters), "--floor", str(floor_ct_per_mwh), "--cap", str(cap_ct_per_mwh),
            "--seed", str(seed)]
    return _start("refmarkets.mfrr", host, port, args, timeout_s, ReferenceMfrr)


P = TypeVar("P", bound=ReferencePlatform)


def _start(module: str, host: str, port: int | None, args: list[str], timeout_s: float,
           make: Callable[..., P]) -> P:
    # A platform that exits at start lost its free port meanwhile: the one retry policy
    # starts it again on another port (PORT); a port given is tried once.
    policy = PORT if port is None else replace(PORT, retries=0)
    return policy.call(
        lambda: _start_once(module, host, port or free_port(host), args, timeout_s, make),
        lambda exc: isinstance(exc, _Exited), what=f"{module} exited at start")


def _start_once(module: str, host: str, port: int, args: list[str], timeout_s: float,
                make: Callable[..., P]) -> P:
    member_key, operator_key = secrets.token_hex(16), secrets.token_hex(16)
    env = {**os.environ, "REFMARKETS_MEMBERS": f"{MEMBER}={member_key}",
           "REFMARKETS_OPERATOR_KEY": operator_key}
    errors = tempfile.TemporaryFile()  # noqa: SIM115 - closed by ReferencePlatform.stop()
    process = subprocess.Popen(
        [sys.executable, "-m", module, "--host", host, "--port", str(port), *args],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errors,
        start_new_session=True, cwd=ROOT, env=env)
    ex = make(url=f"http://{host}:{port}", member=MEMBER, member_key=member_key,
              operator_key=operator_key, process=process, stderr_file=errors)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:  # polling until the exchange answers: not a retry
        if process.poll() is not None:
            errors.seek(0)
            stderr = errors.read().decode(errors="replace").strip()
            ex.stop()
            if process.returncode == 2:  # bad arguments: no other port helps
                raise ExchangeError(2, f"{module}: {stderr[-500:]}")
            raise _Exited(0, f"{module} exited with {process.returncode}: {stderr[-500:]}")
        try:
            if httpx.get(f"{ex.url}/health", timeout=1.0).status_code == 200:
                return ex
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    ex.stop()
    raise ExchangeError(0, f"{module} did not answer on {ex.url} within {timeout_s} s")
