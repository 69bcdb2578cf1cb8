# --- participant API: benchmark (docs/api.md) ---------------------------------------
.PHONY: bench-api

# 50 aggregator clients on loopback submitting signed bids to `flexmarket serve` on anvil:
# accepted bids/s, p50/p95/p99 latency, the relay's on-chain throughput (prints only); then,
# in the same run, the batched path (issue 21): batches of 1,000 per request at full load and
# paced, landed on chain, revealed through the API, gas per bid.
bench-api: $(VENV)/.installed $(NODE_STAMP) $(ARTIFACTS_STAMP)
	$(BIN)/python bench/bench_api.py --clients 50 --bids-per-client 100 --batch-size 1000 \
		--batches-per-client 3 --paced-bids-per-s 2000,5000,10000
