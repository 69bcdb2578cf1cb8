"""Running `flexmarket` as a shell would, for every test of a command: `flexmarket` with
stdout and stderr piped, or `run_on_terminal` with stderr on a pseudo-terminal (progress
shows there only) and stdout a pipe."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def flexmarket(
    *args: str, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """`flexmarket ARGS` from the checkout's root, stdout and stderr captured as text; never
    raises on a non-zero exit (the tests read the code)."""
    return subprocess.run([sys.executable, "-m", "flexmarket", *args], capture_output=True,
                          text=True, cwd=ROOT, env=env, timeout=timeout)  # fmt: skip


def run_on_terminal(*args: str, timeout: float = 120) -> tuple[int, str, str]:
    """`flexmarket ARGS` with stderr on a pseudo-terminal; (code, stdout, stderr)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "flexmarket", *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=slave, stdin=subprocess.DEVNULL)
    os.close(slave)
    chunks: list[bytes] = []

    def read() -> None:
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:  # EIO: the child closed the terminal
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        stdout, _ = proc.communicate(timeout=timeout)
    finally:
        proc.kill()
        reader.join(5)
        os.close(master)
    return proc.returncode, stdout.decode(), b"".join(chunks).decode(errors="replace")
