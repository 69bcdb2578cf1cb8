"""Driving the dashboard in a real browser (tests/api/test_dashboard.py, bench/bench_dashboard.py):
Debian's Chromium through Playwright, and a test wallet.

The wallet: an init script defines `window.ethereum` (EIP-1193), whose `request` calls
the `flexWallet` binding; the binding signs with a development key (eth-account) in
Python, as a browser wallet would, and answers the address in lower case as MetaMask
does (the page writes it EIP-55 checksummed)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "build" / "test-artifacts"
CHROMIUM = os.environ.get("FLEXMARKET_CHROMIUM", "/usr/bin/chromium")
# Playwright's launch gives Chromium a new empty --user-data-dir and --headless itself
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip

WALLET_SCRIPT = """
window.ethereum = {
  isFlexmarketTestWallet: true,
  request: ({ method, params }) => window.flexWallet(method, params || []),
};
"""


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium from CHROMIUM, driven by Playwright."""
    from playwright import sync_api

    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


class Page:
    """A browser page of the dashboard (`served`: url, keys, chain_id) with the test
    wallet of development key `index`; it records every request that leaves the app's
    origin (there must be none)."""

    def __init__(
        self, browser: Any, served: dict[str, Any], index: int, timeout_ms: int = 20_000
    ) -> None:
        self.account = Account.from_key(served["keys"][index])
        self.address = self.account.address
        self.chain_id = served["chain_id"]
        self.signed: list[str] = []
        self.outside: list[str] = []
        self.context = browser.new_context(viewport={"width": 1200, "height": 900})
        self.context.expose_function("flexWallet", self._wallet)
        self.context.add_init_script(WALLET_SCRIPT)
        self.page = self.context.new_page()
        origin = served["url"]
        self.page.on("request", lambda r: None if r.url.startswith((origin, "data:"))
                     else self.outside.append(r.url))  # fmt: skip
        self.page.set_default_timeout(timeout_ms)
        self.page.goto(origin + "/")

    def _wallet(self, method: str, params: list[Any]) -> Any:
        if method in ("eth_requestAccounts", "eth_accounts"):
            return [self.address.lower()]  # as MetaMask answers: the page checksums it
        if method == "eth_chainId":
            return hex(self.chain_id)
        if method == "personal_sign":
            message, address = params
            if address.lower() != self.address.lower():
                raise ValueError(f"personal_sign for {address}, not this wallet's")
            self.signed.append(bytes.fromhex(message[2:]).decode("utf-8"))
            signed = self.account.sign_message(encode_defunct(hexstr=message))
            return "0x" + signed.signature.hex()
        raise ValueError(f"test wallet: {method} not supported")

    def sign_in(self) -> None:
        self.page.click("#signin")
        self.page.wait_for_selector("#sessions:not([hidden])")

    def open_session(self, session_id: int) -> None:
        self.page.click(f"#session-table a[href='#/sessions/{session_id}']")
        self.page.wait_for_function(
            f"document.querySelector('#session-h').textContent === 'Session {session_id}'"
            " && !document.querySelector('#session').hidden"
        )

    def texts(self, selector: str) -> list[str]:
        return [t.strip() for t in self.page.locator(selector).all_inner_texts()]

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"dashboard-{name}.png"), full_page=True)

    def close(self) -> None:
        self.context.close()
