# Set-up and everyday commands. Each target installs what it needs (a venv with the pinned stack,
# the Debian Fashion-MNIST package, Debian's headless chromium for the MLflow UI test) before it runs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CHROMEDRIVER := /usr/bin/chromedriver

.PHONY: quick test test-fast install data fashion-mnist browser slurm postgres clean clean-results

quick: install data          ## the main job: classifier-scaling on real Fashion-MNIST, local Ray
	$(BIN)/jdnas run classifier-scaling --preset quick

test: install data browser slurm postgres   ## the whole test suite (real Ray clusters, MLflow servers, S3 endpoint, a browser)
	$(BIN)/python -m pytest -q --durations=20

test-fast: install data      ## everything but the slow tests
	$(BIN)/python -m pytest -q -m "not slow"

install: $(BIN)/.installed

$(BIN)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[test]"
	touch $@

data: install                 ## Fashion-MNIST: found already, else Debian's package, else a checksummed download
	@$(BIN)/jdnas data list fashion-mnist >/dev/null || $(MAKE) --no-print-directory fashion-mnist

fashion-mnist:
	@if [ "$$(id -u)" = 0 ]; then SUDO=; elif command -v sudo >/dev/null; then SUDO=sudo; else SUDO=no; fi; \
	if [ "$$SUDO" != no ] && command -v apt-get >/dev/null && { $$SUDO apt-get install -y -q dataset-fashion-mnist \
	    || { $$SUDO apt-get update -q && $$SUDO apt-get install -y -q dataset-fashion-mnist; }; }; then :; \
	else echo "no apt-get here: fetching Fashion-MNIST with $(BIN)/jdnas data download fashion-mnist"; \
	    $(BIN)/jdnas data download fashion-mnist; fi

browser: $(CHROMEDRIVER)     ## Debian's chromium + chromedriver: the MLflow UI test drives a real headless browser

$(CHROMEDRIVER):
	@SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); PACKAGES="chromium chromium-driver"; \
	$$SUDO apt-get install -y -q $$PACKAGES || { $$SUDO apt-get update -q && $$SUDO apt-get install -y -q $$PACKAGES; }

slurm:                       ## Debian's SLURM and munge: the SLURM tests start their own one-node cluster
	@command -v slurmctld >/dev/null && command -v munged >/dev/null || { \
	SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); PACKAGES="slurm-wlm munge"; \
	$$SUDO apt-get install -y -q $$PACKAGES || { $$SUDO apt-get update -q && $$SUDO apt-get install -y -q $$PACKAGES; }; }

postgres:                    ## Debian's PostgreSQL server: the tracking-store test runs its own (initdb in /tmp)
	@ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || { \
	SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); PACKAGES="postgresql"; \
	$$SUDO apt-get install -y -q $$PACKAGES || { $$SUDO apt-get update -q && $$SUDO apt-get install -y -q $$PACKAGES; }; }

RESULTS := results reports mlartifacts mlflow.db logs

clean:                        ## caches only (Ray's temp dir, bytecode, pytest's cache); results stay
	rm -rf .ray .pytest_cache
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

clean-results:                ## delete every result of this folder: lists them, needs CONFIRM=yes
	@echo "this deletes: $$(ls -d $(RESULTS) 2>/dev/null | tr '\n' ' ')"
	@if [ "$(CONFIRM)" != yes ]; then echo "nothing deleted: run \`make clean-results CONFIRM=yes\` to delete them"; exit 1; fi
	rm -rf $(RESULTS)
