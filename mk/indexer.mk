# --- indexer (issue 4 §5): PostgreSQL for its tests, decoding benchmark (docs/indexer.md) ---
# The tests start a throw-away PostgreSQL server (initdb + pg_ctl on a free port) from
# Debian's package. Installed only when no pg_ctl is found (PATH or /usr/lib/postgresql).
.PHONY: install-postgres test-indexer bench-decode

install-postgres:
	@if command -v pg_ctl >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then \
		:; \
	elif [ "$$(id -u)" = 0 ]; then \
		echo "installing PostgreSQL (Debian package) for the indexer tests"; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql; \
	else \
		echo "PostgreSQL is missing: install Debian's postgresql package (sudo apt-get install postgresql)"; \
		exit 1; \
	fi

test-indexer: venv install-postgres $(NODE_STAMP) $(ARTIFACTS_STAMP)
	$(BIN)/python -m pytest -q tests/verifier -k indexer

# Events decoded per second on a few thousand real logs, and the indexer end to end.
bench-decode: venv install-postgres $(NODE_STAMP) $(ARTIFACTS_STAMP)
	$(BIN)/python bench/bench_decode.py

INSTALL_TARGETS += install-postgres
