# --- oracle service, replica and validator nodes (issue 4 §1-4, §6): docs/verify.md ---
.PHONY: test-verify bench-verify

test-verify: venv $(NODE_STAMP) $(ARTIFACTS_STAMP)
	$(BIN)/python -m pytest -q tests/verifier -k verify

# Verifying a 10,000-bid session: decode, rebuild, check, fresh clear (prints figures).
bench-verify: venv $(ARTIFACTS_STAMP)
	$(BIN)/python bench/bench_verify.py
