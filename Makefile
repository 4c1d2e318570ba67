# Two set-up commands: `make demo` and `make test`. Everything else is installed by `make venv`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: venv test test-all demo bench lint proto record-traces clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]' --config-settings editable_mode=compat
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

test-all: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadfile -m ''

demo: $(STAMP)
	PATH=$(CURDIR)/$(BIN):$$PATH bash examples/demo.sh

# torch (the optional `record` extra) records the bench's >= 100 MB trace and the bundled test traces.
TORCH := $(VENV)/.torch
$(TORCH): $(STAMP)
	$(BIN)/pip install -q -e '.[record]' --config-settings editable_mode=compat
	touch $(TORCH)

bench: $(TORCH)
	@for f in bench/*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

lint: $(STAMP)
	$(BIN)/ruff check .

# Regenerate the committed protobuf module from the MLCommons-compatible schema.
# protoc 27.2 (grpcio-tools 1.66.2) writes gencode that every protobuf runtime >= 5.27.2 loads, so users
# with older protobuf installs are not broken; it runs in its own throwaway venv.
proto:
	$(PYTHON) -m venv build/protoc-venv
	build/protoc-venv/bin/pip install -q 'grpcio-tools==1.66.2'
	build/protoc-venv/bin/python -m grpc_tools.protoc -Ichakra_tools/schema --python_out=chakra_tools/schema chakra_tools/schema/et_def.proto

# Re-record the bundled PyTorch traces (needs torch; the CPU wheel is on this machine's disk).
record-traces: $(TORCH)
	$(BIN)/python tests/data/record_traces.py

clean:
	rm -rf $(VENV) out
