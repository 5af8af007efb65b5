#!/usr/bin/env bash
# One entry point for a fresh Debian/Ubuntu machine (needs only python3 >= 3.11 and network access
# to the package registries):
#   scripts/dev.sh serve [synctv serve options]   install, then run the server on embedded defaults
#   scripts/dev.sh check                          install test dependencies, then lint, type-check,
#                                                 check layers and run every test (what CI runs)
#   scripts/dev.sh install | install-test         only the installing part
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv
PY=$VENV/bin/python

say() { printf '==> %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    say "need root to run: $*"; return 1; fi
}

apt_install() {
  # Install the Debian packages named, only those missing; `apt-get update` once, first.
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing system packages: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

python_bin() {
  for candidate in python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null &&
      "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  say "Python >= 3.11 is required (Debian 12 and Ubuntu 24.04 ship it as python3)"; return 1
}

venv() {
  local extra=$1 stamp
  apt_install libsodium23  # pysodium (OPAQUE's ristretto255) loads the system libsodium
  if [ ! -x "$PY" ]; then
    local python; python=$(python_bin)
    if ! "$python" -m venv "$VENV" 2>/dev/null; then
      rm -rf "$VENV"
      apt_install python3-venv
      "$python" -m venv "$VENV"
    fi
    "$PY" -m pip install -q --upgrade pip
  fi
  # Reinstall only when the dependency list changed.
  stamp="$VENV/.installed-$(sha256sum pyproject.toml | cut -c1-16)-$extra"
  if [ ! -e "$stamp" ]; then
    say "installing Python dependencies ($extra)"
    if [ "$extra" = test ]; then "$PY" -m pip install -q -e '.[test]'; else "$PY" -m pip install -q -e .; fi
    rm -f "$VENV"/.installed-*; touch "$stamp"
  fi
}

install_test_system_packages() {
  # Real peers for the tests: Redis, FFmpeg (ffprobe), coturn (its STUN client, and turnserver
  # as the TURN server of the voice tests), Chromium with
  # Node/npm for the browser test (hls.js is installed from npm by that test), OBS Studio with a
  # headless X server for the OBS test, nginx as the origin of the proxy bench (bench smoke) and as
  # the reverse proxy in front of the server in the doctor tests, and wrk as the HTTP load of
  # http_micro and ratelimit_cost (bench smoke).
  apt_install redis-server ffmpeg coturn chromium obs-studio xvfb nginx-light wrk
  command -v npm >/dev/null || apt_install nodejs npm
  # The browser OPAQUE library, pinned by its lock file, as the interop peer of tests/auth.
  npm ci --prefix tests/support/opaque_node --no-audit --no-fund --silent
  npm ci --prefix tests/support/oidc_node --no-audit --no-fund --silent
  # TypeScript and ESLint (the browser client's type checker and linter) and the vendored
  # libraries' published types.
  npm ci --prefix tests/support/web_node --no-audit --no-fund --silent
}

case "${1:-}" in
  install) venv runtime ;;
  install-test) venv test; install_test_system_packages ;;
  serve)
    shift
    venv runtime
    exec "$VENV/bin/synctv" serve "$@"
    ;;
  check)
    shift
    venv test
    install_test_system_packages
    export PATH="$PWD/$VENV/bin:$PATH"
    say "ruff"; ruff check synctv tests bench scripts; ruff format --check synctv tests bench scripts
    say "mypy"; mypy synctv; mypy bench
    say "import layers"; lint-imports
    say "vendored web libraries"; scripts/vendor-web.sh check
    say "browser client types (tsc --checkJs)"; tests/support/web_node/node_modules/.bin/tsc -p tests/support/web_node
    say "browser client lint (eslint)"; tests/support/web_node/node_modules/.bin/eslint -c tests/support/web_node/eslint.config.js synctv/web/app
    # The codecs' own tests run under coverage (its gate is below); everything else runs
    # without it: tracing every line of the server costs its tests ~60 % more CPU, and only the
    # codecs' coverage is checked.
    codec_tests=(tests/media tests/rtmp tests/stun tests/auth/test_opaque_vectors.py
      tests/auth/test_opaque_robustness.py tests/auth/test_opaque_interop.py tests/auth/test_usernames.py
      tests/api/test_h1.py)
    skip=()
    for path in "${codec_tests[@]}"; do skip+=(--ignore "$path"); done
    # Two workers (pytest-xdist), each test file whole on one worker (its module fixtures set
    # up once): most tests wait on servers, encoders and browsers, so two of them share the two
    # cores well (1,294 s serially, ~620 s like this, on the 2-core machine). The browser tests
    # and the live-in-step test measure playback timing to 200 ms with Chromium or twenty
    # players each; two of them at once on two cores missed it (p95 445 ms), so they run
    # after, one at a time, as every test did before.
    timing_tests=(tests/e2e/test_web_admin_browser.py tests/e2e/test_web_chat_browser.py
      tests/e2e/test_web_client_browser.py tests/e2e/test_web_ops_browser.py
      tests/e2e/test_web_playlist_browser.py tests/e2e/test_hls_browser.py
      tests/e2e/test_flv_browser.py tests/e2e/test_api_docs_browser.py
      tests/rooms/test_live_in_step_http.py)
    alone=()
    for path in "${timing_tests[@]}"; do alone+=(--ignore "$path"); done
    say "tests (two workers)"
    python -m pytest -q -n 2 --dist loadfile --durations=30 "${skip[@]}" "${alone[@]}" "$@"
    say "timing tests (browsers, players in step), one at a time"
    python -m pytest -q --durations=10 "${timing_tests[@]}" "$@"
    say "tests of the sans-IO codecs, under coverage"
    rm -f .coverage .coverage.*
    python -m coverage run -m pytest -q --durations=10 "${codec_tests[@]}" "$@"
    say "coverage of the sans-IO codecs"
    python -m coverage report --include 'synctv/media/*,synctv/rtmp/*,synctv/stun/*,synctv/auth/opaque.py,synctv/auth/usernames.py,synctv/api/http/h1.py' \
      --omit 'synctv/rtmp/server.py,synctv/rtmp/play.py,synctv/stun/server.py,synctv/stun/probe.py' --fail-under 95
    ;;
  *)
    sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
