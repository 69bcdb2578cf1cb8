# --- oracle service, replica and validator nodes (issue 4 §1-4, §6): docs/verify.md ---
.PHONY: test-verify bench-verify

test-verify: venv $(NODE_STAMP) $(ARTIFACTS_STAMP)
	$(BIN)/python -m pytest -q tests/verifier -k verify

# Verifying a 10,000-bid session put on anvil (~4 min of set-up, printed apart): fetch,
# decode, rebuild, check, fresh clear (prints figures). BENCH_VERIFY_ARGS=--synthetic: no
# chain, the eth_getLogs reply synthesised (~2 min).
BENCH_VERIFY_ARGS ?=
bench-verify: venv $(NODE_STAMP) $(ARTIFACTS_STAMP)
	$(BIN)/python bench/bench_verify.py $(BENCH_VERIFY_ARGS)
