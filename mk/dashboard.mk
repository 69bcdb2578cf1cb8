# --- dashboard (issue 17): the page `flexmarket serve` answers at `/`, its browser tests ---
# (docs/dashboard.md). The page is plain files in api/static/ (no build step, no CDN). The tests
# drive Debian's Chromium with Playwright (python, pinned in requirements.in): Playwright's
# own browser download cannot be reached here, so Chromium comes from Debian's `chromium`
# package, installed as root only when /usr/bin/chromium is missing.
.PHONY: install-chromium test-dashboard test-dashboard-slow

CHROMIUM ?= /usr/bin/chromium

install-chromium:
	@if [ -x "$(CHROMIUM)" ]; then \
		:; \
	elif [ "$$(id -u)" = 0 ]; then \
		echo "installing Chromium (Debian package) for the dashboard's browser tests"; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
	else \
		echo "Chromium is missing: install Debian's chromium package (sudo apt-get install chromium)"; \
		exit 1; \
	fi

# The short browser tests (also part of `make test-py`).
test-dashboard: venv install-chromium $(NODE_STAMP) $(ARTIFACTS_STAMP)
	$(BIN)/python -m pytest -q tests/api/test_dashboard.py

# The whole FLECH walk in the browser (marker `slow`): screenshots in build/test-artifacts/.
test-dashboard-slow: venv install-chromium $(NODE_STAMP) $(ARTIFACTS_STAMP)
	$(BIN)/python -m pytest -q -m slow tests/api/test_dashboard.py

INSTALL_TARGETS += install-chromium
TEST_TARGETS += test-dashboard-slow

# First paint of a 2,000-bid session (96 slots) on the dashboard: the session's two reads
# on loopback and, in Chromium, from the session's link to the session drawn (prints only).
.PHONY: bench-dashboard
bench-dashboard: venv install-chromium $(NODE_STAMP) $(ARTIFACTS_STAMP)
	$(BIN)/python bench/bench_dashboard.py $(BENCH_DASHBOARD_ARGS)
