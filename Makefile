# Convenience targets; scripts/dev.sh is the source of truth (it works without make).
.PHONY: check serve install test quick bench-smoke lint type layers fuzz proto error-docs metrics-docs settings-docs bench

check:            ## the README's test command: lint, types, layers, all tests
	scripts/dev.sh check
serve:            ## install and run on embedded defaults
	scripts/dev.sh serve
install:
	scripts/dev.sh install-test
test:
	.venv/bin/pytest -q
quick:            ## unit tests only (no processes, encoders, browsers), fewer examples: < 60 s
	HYPOTHESIS_PROFILE=quick .venv/bin/pytest -q -x -m "not slow and not e2e"
bench-smoke:      ## every bench script at a tiny size (also part of check)
	.venv/bin/pytest -q tests/test_bench_smoke.py
lint:
	.venv/bin/ruff check synctv tests bench scripts && .venv/bin/ruff format --check synctv tests bench scripts
type:
	.venv/bin/mypy synctv bench
layers:
	.venv/bin/lint-imports
fuzz:             ## long hypothesis runs on the codecs
	HYPOTHESIS_PROFILE=fuzz .venv/bin/pytest -q tests/media tests/rtmp tests/stun tests/proxy
proto:            ## regenerate synctv/api/grpc/_gen from proto/
	.venv/bin/python scripts/gen_proto.py
error-docs:       ## regenerate docs/errors.md from the catalogue in synctv/errors.py
	.venv/bin/python scripts/gen_error_docs.py
metrics-docs:     ## regenerate docs/metrics.md from the catalogue in synctv/metrics.py
	.venv/bin/python scripts/gen_metrics_docs.py
settings-docs:    ## regenerate docs/settings.md from the registry in synctv/core/settings.py
	.venv/bin/python scripts/gen_settings_docs.py
