# Meter data and baselines (issue 14, ../shared/spec/metering.md).
.PHONY: bench-metering test-metering

bench-metering: venv  # 10,000 assets x 45 days, 5 families, plain reference side by side
	$(BIN)/python bench/bench_metering.py $(BENCH_METERING_ARGS)

test-metering: venv
	$(BIN)/python -m pytest -q tests/oracle/metering
