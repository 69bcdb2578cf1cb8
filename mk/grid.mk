# Grid validation (issue 6): pandapower + SimBench + lightsim2grid, all in the main venv.
.PHONY: bench-grid test-grid

bench-grid: venv
	$(BIN)/python bench/bench_grid.py

test-grid: venv
	$(BIN)/python -m pytest -q tests/grid
