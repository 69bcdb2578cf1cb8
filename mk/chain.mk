# --- contracts: toolchain, build, brownie tests (docs/contracts.md) ---------
# Everything installs from the package registries (npm, PyPI) only: no solc download,
# no brownie packages, no explorer. `make test` installs what is missing first.

NPM ?= npm
NODE_STAMP := node_modules/.flexmarket-installed
BROWNIE_VENV := .venv-brownie
BROWNIE_STAMP := $(BROWNIE_VENV)/.installed
# brownie keeps its data folder (~/.brownie: network config, package cache) under HOME:
# we give it one inside build/ so nothing on the machine changes and the network config
# points at this checkout's node_modules.
BROWNIE_HOME := $(CURDIR)/build/brownie-home
# py-solc-x looks for installed compilers here (SOLCX_BINARY_PATH, else ~/.solcx).
SOLCX_DIR := $(if $(SOLCX_BINARY_PATH),$(SOLCX_BINARY_PATH),$(HOME)/.solcx)
SOLC_BIN := $(SOLCX_DIR)/solc-v0.8.30
CONTRACT_SOURCES := $(shell find contracts -name '*.sol' 2>/dev/null)
ARTIFACTS_STAMP := build/artifacts/FlexMarket.json
BROWNIE_ENV := PATH="$(CURDIR)/node_modules/.bin:$$PATH" HOME="$(BROWNIE_HOME)" \
	SOLCX_BINARY_PATH="$(SOLCX_DIR)"
BROWNIE_TEST_ARGS ?=

.PHONY: node-modules lock-node solc build-contracts brownie-venv brownie-network compile-brownie \
	test-contracts deploy-local bench-chain

# `npm ci`: exactly what package-lock.json pins (versions and integrity), and the lock is
# never rewritten, so a fresh clone stays clean. The lock lists anvil's platform package
# for every platform (darwin, linux, win32; x64 and arm64) with its integrity; npm installs
# only the one matching this machine. After changing package.json, regenerate the lock
# with `make lock-node` and commit it whole. --ignore-scripts: anvil's binary comes in its
# platform package; its postinstall (a download fallback) and ganache's optional native
# builds are not needed.
$(NODE_STAMP): package.json package-lock.json
	$(NPM) ci --no-audit --no-fund --ignore-scripts --loglevel=error
	node_modules/.bin/anvil --version >/dev/null
	touch $@

node-modules: $(NODE_STAMP)

# The lock with every platform's optional packages (npm resolves them all; it installs one).
lock-node:
	$(NPM) install --package-lock-only --no-audit --no-fund --ignore-scripts --loglevel=error

# A native solc 0.8.30 if py-solc-x can download one, else the solc-js stand-in
# (tools/solc/solc), installed where py-solc-x and brownie look.
$(SOLC_BIN): tools/solc/solc | $(NODE_STAMP) $(VENV)/.installed
	$(BIN)/python -m python_client.artifacts install-solc

solc: $(SOLC_BIN)

# Runtime artifacts (abi, bytecode) for web3.py: build/artifacts/<Contract>.json.
$(ARTIFACTS_STAMP): $(CONTRACT_SOURCES) python_client/artifacts.py python_client/typegen.py \
		package-lock.json | $(SOLC_BIN)
	@echo "compiling the contracts with solc-js into build/artifacts/ (about a minute, once)"
	$(BIN)/python -m python_client.artifacts compile
	@touch $@

# The contracts' Python mirror (enums, constants, typed view records), generated from the
# compiler's AST and ABIs and committed; tests/python_client/test_contract_types.py fails
# when it differs from what the contracts say.
CONTRACT_MIRROR := python_client/contract_types.py
$(CONTRACT_MIRROR): $(ARTIFACTS_STAMP) python_client/typegen.py
	$(BIN)/python -m python_client.artifacts compile
	@touch $@

build-contracts: $(ARTIFACTS_STAMP) $(CONTRACT_MIRROR)

# eth-brownie pins exact versions that conflict with .venv: its own venv, hash-locked.
$(BROWNIE_STAMP): brownie-requirements.lock | $(BIN)/uv
	test -x $(BROWNIE_VENV)/bin/python || $(PY) -m venv $(BROWNIE_VENV)
	$(BIN)/uv pip sync -q --python $(BROWNIE_VENV)/bin/python --require-hashes brownie-requirements.lock
	touch $@

brownie-venv: $(BROWNIE_STAMP)

lock-brownie: | $(BIN)/uv
	$(BIN)/uv pip compile -q --python 3.11 --generate-hashes brownie-requirements.in \
		-o brownie-requirements.lock

# Regenerated on every run: a free port now, this checkout's path.
brownie-network:
	mkdir -p $(BROWNIE_HOME)/.brownie
	port=$$($(PY) -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'); \
	sed -e "s|@ROOT@|$(CURDIR)|g" -e "s|@PORT@|$$port|g" tools/brownie/network-config.yaml.in \
		> $(BROWNIE_HOME)/.brownie/network-config.yaml

compile-brownie: $(BROWNIE_STAMP) $(NODE_STAMP) $(SOLC_BIN) brownie-network
	$(BROWNIE_ENV) $(BROWNIE_VENV)/bin/brownie compile

test-contracts: $(BROWNIE_STAMP) $(NODE_STAMP) $(SOLC_BIN) $(VENV)/.installed brownie-network
	$(BROWNIE_ENV) $(BROWNIE_VENV)/bin/brownie test tests/contracts -W ignore::FutureWarning \
		$(BROWNIE_TEST_ARGS)

# Deploy on a throw-away anvil (brownie starts and stops it): deployments/<chain_id>.json.
deploy-local: $(BROWNIE_STAMP) $(NODE_STAMP) $(SOLC_BIN) brownie-network
	$(BROWNIE_ENV) $(BROWNIE_VENV)/bin/brownie run scripts/deploy.py

# Gas per call kind and bids per second through the SDK on anvil (prints, asserts nothing).
bench-chain: $(VENV)/.installed $(NODE_STAMP) $(ARTIFACTS_STAMP)
	$(BIN)/python tools/bench_chain.py --bids 1000

INSTALL_TARGETS += $(NODE_STAMP) $(SOLC_BIN) $(ARTIFACTS_STAMP) $(BROWNIE_STAMP)
TEST_TARGETS += test-contracts
