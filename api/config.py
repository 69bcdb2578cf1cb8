"""Settings of the participant API (environment variables `FLEXMARKET_API_*`)."""

from __future__ import annotations

import secrets

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FLEXMARKET_API_", frozen=True)

    rpc_url: str | None = None  # None: start anvil and deploy (like `flexmarket demo`)
    deployment_file: str | None = None  # deployments/<chain id>.json when rpc_url is given
    # Sign-in nonces and relayed bids (sqlite:///PATH, relative to the working directory,
    # or postgresql://...). None: a file under build/api/ named after the chain and the
    # market (`default_db_url`); with a local chain started by the API, a fresh one.
    db_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000

    # Sign-in with Ethereum (EIP-4361): what the server accepts, whatever the message says.
    domain: str = "localhost:8000"
    uri: str = "http://localhost:8000"
    nonce_ttl_s: int = 300  # an issued nonce must be used within this
    message_max_age_s: int = 300  # issued-at not older than this; expiration required
    clock_skew_s: int = 30
    token_ttl_s: int = 900
    token_secret: SecretStr = Field(default_factory=lambda: SecretStr(secrets.token_hex(32)))

    # The relayer pays the gas of relayed bids; never a participant's key.
    relayer_key: SecretStr | None = None  # None with a local chain: a development key
    relay_batch_size: int = 100
    relay_batch_wait_s: float = 0.05
    # sellers' batches of sealed bids per commitBatchesFor transaction (issue 21)
    relay_batches_per_tx: int = 50
    min_deadline_margin_s: int = 30  # a relayed message must stay valid this long
    # hasRole answers are reused this long; the chain follower drops one at once when it
    # sees that role granted to or revoked from that address
    role_cache_s: float = 60.0
    follow_interval_s: float = 0.1  # head block, relay nonces and role changes read this often
    # the chain's time (its latest block's, whole seconds) is reused this long; the
    # follower reads it every follow_interval_s, a request reads it only if older
    clock_max_age_s: float = 0.5

    # A route that waits for a transaction to be mined (POST /transactions, a commit with
    # wait=true) waits at most this long, without holding a worker thread, then answers
    # what it knows (202 and a status route; the bid's status `queued`).
    mined_wait_s: float = 10.0
    # Request bodies above this many bytes are 413, refused from Content-Length before
    # anything is read, or as soon as a chunked body passes it. The largest legitimate
    # body is a signed transaction (raw_tx: up to 262,146 hex characters).
    max_body_bytes: int = 512 * 1024
    # ... except under /sessions/{id}/batches: a batch reveal of 1,000 bids is ~600 kB
    max_batch_body_bytes: int = 4 * 1024 * 1024
    # Server-sent event streams open at once (429 beyond): per signed-in address, per IP.
    max_streams_per_token: int = 4
    max_streams_per_ip: int = 16

    # Token buckets: per bearer token and per client IP (429 beyond).
    rate_per_token_per_s: float = 200.0
    burst_per_token: int = 400
    rate_per_ip_per_s: float = 2000.0
    burst_per_ip: int = 4000


DB_DIR = "build/api"


def default_db_url(chain_id: int, market: str, local: bool, port: int = 8000) -> str:
    """The SQLite file of a deployment: `build/api/<chain id>-<market>.sqlite3`, or
    `build/api/local-<port>.sqlite3` for the chain `flexmarket serve` starts itself
    (emptied at start: a new chain has relayed nothing; one file per port, so two local
    `serve`s do not share it, and `api.store.claim` refuses a second one on the same port
    before it empties anything)."""
    if local:
        return f"sqlite:///{DB_DIR}/local-{port}.sqlite3"
    return f"sqlite:///{DB_DIR}/{chain_id}-{market.lower()}.sqlite3"
