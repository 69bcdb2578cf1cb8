# Grid validation (issue 6): pandapower + SimBench + lightsim2grid, all in the main venv.
.PHONY: bench-grid test-grid

bench-grid: venv
	$(BIN)/python bench/bench_grid.py

test-grid: venv
	$(BIN)/python -m pytest -q tests/oracle/grid

# Grid verification (issue 19): a replica's grid work against the oracle's clearing.
.PHONY: bench-grid-verify
bench-grid-verify: venv
	$(BIN)/python bench/bench_grid_verify.py $(BENCH_GRID_VERIFY_ARGS)
