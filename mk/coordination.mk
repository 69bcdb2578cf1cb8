# TSO-DSO coordination (issue 7): oracle/coordination, tests/oracle/coordination.
.PHONY: bench-coordination test-coordination

bench-coordination: venv
	$(BIN)/python bench/bench_coordination.py

test-coordination: venv
	$(BIN)/python -m pytest -q tests/oracle/coordination
