# --- participant API: benchmark (docs/api.md) ---------------------------------------
.PHONY: bench-api

# 50 aggregator clients on loopback submitting signed bids to `flexmarket serve` on anvil:
# accepted bids/s, p50/p95/p99 latency, the relay's on-chain throughput (prints only).
bench-api: $(VENV)/.installed $(NODE_STAMP) $(ARTIFACTS_STAMP)
	$(BIN)/python bench/bench_api.py --clients 50 --bids-per-client 100
