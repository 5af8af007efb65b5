#!/usr/bin/env bash
# The browser client's libraries, vendored as their pinned release files with their licences:
#   scripts/vendor-web.sh          download the pinned packages from the npm registry (npm pack),
#                                  verify each tarball against its pinned SHA-512 integrity, copy
#                                  the files the client loads to synctv/web/vendor/ and write
#                                  synctv/web/vendor/vendor.lock (tarball integrity, file SHA-256)
#   scripts/vendor-web.sh check    without network: the vendored files are exactly those the lock
#                                  names, with its hashes (scripts/dev.sh check runs this)
# To update a library: change its version here, empty its integrity, run, review the new lock.
set -euo pipefail
cd "$(dirname "$0")/.."
VENDOR=synctv/web/vendor
LOCK=$VENDOR/vendor.lock

# name version integrity (as the registry publishes it: dist.integrity)
PACKAGES=(
  "preact 11.2.0 sha512-/HfHI/7N84e6GrWBJ3J280z3mLaRJiDcSvj/A+y/4AbLnND/1UlGHe1sR6oYuTGwId0nP7dqDU9OnLxMPZ7xBg=="
  "htm 3.1.1 sha512-983Vyg8NwUE7JkZ6NmOqpCZ+sh1bKv2iYTlUkzlWmA5JD2acKoxd4KVxbMmxX/85mtfdnDmTFoNKcg5DGAvxNQ=="
  "hls.js 1.7.4 sha512-3GlxGdPvT2YHvQYOt+yOzT/DEior/qJVNIylHA77kgeoBTdQQqi70GwefNEUmHQeNGyjC8U62+bruqW/Tpm+tg=="
  "mpegts.js 1.8.2 sha512-cZYMa5muASH55wrS6JK5IGkUqnCA96c0f+WdnW91jIK9s/N6NzjmTQDJNYg9A5u/G2Q5nj2b3w1Zwzze/9guxA=="
  "@serenity-kit/opaque 1.1.0 sha512-Y6v/+hRMn0MdMEk5+/ArM0vPIiFfFEbdTZc7oAx+cWyvGODGezAQ/sMjXBVogf7NsS9z9EV0Ve5paZCVULuedw=="
)

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'vendor-web: %s\n' "$*" >&2; exit 1; }

# Files taken from each package: "path in the tarball:path under vendor/".
files_of() {
  case "$1" in
    preact) echo "dist/preact.mjs:preact/preact.mjs hooks/dist/hooks.mjs:preact/hooks.mjs LICENSE:preact/LICENSE" ;;
    htm) echo "dist/htm.mjs:htm/htm.mjs LICENSE:htm/LICENSE" ;;
    hls.js) echo "dist/hls.min.mjs:hls.js/hls.min.mjs LICENSE:hls.js/LICENSE" ;;
    mpegts.js) echo "dist/mpegts.js:mpegts.js/mpegts.js dist/mpegts.js.LICENSE.txt:mpegts.js/mpegts.js.LICENSE.txt LICENSE:mpegts.js/LICENSE" ;;
    @serenity-kit/opaque) echo "esm/index.js:opaque/opaque.mjs LICENSE:opaque/LICENSE" ;;
    *) die "no file list for $1" ;;
  esac
}

# Type declarations next to the files, for `tsc --checkJs` only: each re-exports the package's
# own published types (installed by scripts/dev.sh into tests/support/web_node at the same
# pinned versions), so the type checker never reads the vendored JavaScript itself.
write_declarations() {
  printf 'export * from "preact";\n' >"$VENDOR/preact/preact.d.mts"
  printf 'export * from "preact/hooks";\n' >"$VENDOR/preact/hooks.d.mts"
  printf 'import htm from "htm";\nexport default htm;\n' >"$VENDOR/htm/htm.d.mts"
  printf 'export * from "hls.js";\nimport Hls from "hls.js";\nexport default Hls;\n' >"$VENDOR/hls.js/hls.min.d.mts"
  printf 'export * from "@serenity-kit/opaque";\n' >"$VENDOR/opaque/opaque.d.mts"
}

integrity_of() { printf 'sha512-%s' "$(openssl dgst -sha512 -binary "$1" | base64 -w0)"; }

# Without a bare-specifier resolver in the page (an import map would be an inline script), the
# one import between vendored modules is made relative: preact/hooks imports "preact".
relink() {
  case "$1" in
    preact/hooks.mjs) sed -i 's|from"preact"|from"./preact.mjs"|g; s|from "preact"|from "./preact.mjs"|g' "$VENDOR/$1"
      grep -q '"preact"' "$VENDOR/$1" && die "preact/hooks still imports a bare specifier" ;;
  esac
  return 0
}

vendor() {
  command -v npm >/dev/null || die "npm is required (apt-get install npm)"
  work=$(mktemp -d); trap 'rm -rf "$work"' EXIT  # global: the trap runs after return
  rm -rf "$VENDOR"; mkdir -p "$VENDOR"
  {
    echo "# The browser client's vendored libraries: written by scripts/vendor-web.sh, verified"
    echo "# by scripts/vendor-web.sh check. package NAME VERSION INTEGRITY / file PATH SHA256"
  } >"$work/lock"
  local entry name version pinned tarball actual pair from to
  for entry in "${PACKAGES[@]}"; do
    read -r name version pinned <<<"$entry"
    say "$name@$version"
    tarball=$(cd "$work" && npm pack "$name@$version" --silent --no-fund --no-audit | tail -1)
    actual=$(integrity_of "$work/$tarball")
    [ -z "$pinned" ] || [ "$actual" = "$pinned" ] || die "$name@$version: integrity $actual is not the pinned $pinned"
    echo "package $name $version $actual" >>"$work/lock"
    mkdir -p "$work/x/$name"; tar xzf "$work/$tarball" -C "$work/x/$name"
    for pair in $(files_of "$name"); do
      from=${pair%%:*}; to=${pair#*:}
      mkdir -p "$(dirname "$VENDOR/$to")"
      cp "$work/x/$name/package/$from" "$VENDOR/$to"
      relink "$to"
    done
  done
  write_declarations
  (cd "$VENDOR" && find . -type f ! -name vendor.lock | sed 's|^\./||' | LC_ALL=C sort |
    while read -r file; do echo "file $file $(sha256sum "$file" | cut -d' ' -f1)"; done) >>"$work/lock"
  cp "$work/lock" "$LOCK"
  say "wrote $LOCK"
}

check() {
  [ -f "$LOCK" ] || die "$LOCK is missing: run scripts/vendor-web.sh"
  local listed actual
  listed=$(awk '$1 == "file" {print $2}' "$LOCK" | LC_ALL=C sort)
  actual=$(cd "$VENDOR" && find . -type f ! -name vendor.lock | sed 's|^\./||' | LC_ALL=C sort)
  [ "$listed" = "$actual" ] || die "files under $VENDOR differ from the lock:
$(diff <(echo "$listed") <(echo "$actual") || true)"
  (cd "$VENDOR" && awk '$1 == "file" {print $3 "  " $2}' vendor.lock | sha256sum --check --quiet) ||
    die "a vendored file does not match $LOCK: run scripts/vendor-web.sh"
  local entry name version pinned
  for entry in "${PACKAGES[@]}"; do
    read -r name version pinned <<<"$entry"
    grep -qxF "package $name $version $pinned" "$LOCK" || die "$LOCK does not pin $name@$version as this script does"
  done
  echo "vendored web libraries match $LOCK"
}

case "${1:-}" in
  "") vendor ;;
  check) check ;;
  *) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
