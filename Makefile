# Set-up and everyday commands. Each target installs what it needs (a venv with the pinned stack,
# the Debian Fashion-MNIST package, Debian's headless chromium for the MLflow UI test) before it runs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CHROMEDRIVER := /usr/bin/chromedriver

.PHONY: quick test test-fast install data fashion-mnist browser clean

quick: install data          ## the main job: classifier-scaling on real Fashion-MNIST, local Ray
	$(BIN)/jdnas run classifier-scaling --preset quick

test: install data browser   ## the whole test suite (real Ray clusters, MLflow servers, S3 endpoint, a browser)
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

clean:
	rm -rf results reports mlartifacts mlflow.db .ray
