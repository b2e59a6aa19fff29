#!/usr/bin/env bash
# Builds the deploy zip of the imageshare Function App, laid out exactly as the Functions host
# reads it (docs/deploy.md, "What is in the package"):
#
#   host.json
#   handler                  the release build of the handler, executable
#   <Name>/function.json     one folder per function (functions/<Name>/ in the repo)
#
# and prints the zip's path as the last line of standard output. Progress goes to stderr.
#
# Environment:
#   IMAGESHARE_TARGET   Rust target triple (default x86_64-unknown-linux-gnu, what Flex
#                       Consumption runs). x86_64-unknown-linux-musl gives a static binary that
#                       does not depend on the host image's glibc, where that target is installed.
#
# azd runs this as the prepackage hook of the imageshare service (azure.yaml).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

target="${IMAGESHARE_TARGET:-x86_64-unknown-linux-gnu}"
deploy_dir="$repo_root/target/deploy"
app_dir="$deploy_dir/app"
zip_path="$deploy_dir/imageshare.zip"

say() { printf 'package: %s\n' "$*" >&2; }
fail() {
  printf 'package: error: %s\n' "$*" >&2
  exit 1
}

command -v cargo >/dev/null || fail "cargo is not installed (https://rustup.rs)"
if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx "$target"; then
  fail "the Rust target $target is not installed: rustup target add $target"
fi

say "building handler (release, $target)"
cargo build --release --locked --bin handler --target "$target" >&2
handler="$repo_root/target/$target/release/handler"
[ -x "$handler" ] || fail "the build produced no executable at $handler"

# func-host's `stage` lays the app directory out the way the host expects (and is what the
# local runs use). On a host of the same triple, build it for that triple too so it shares the
# handler's compiled dependencies.
host_triple="$(rustc -vV | sed -n 's/^host: //p')"
stage_flags=(--release --locked -p func-host --bin func-host)
if [ "$host_triple" = "$target" ]; then
  stage_flags+=(--target "$target")
fi

rm -rf "$app_dir" "$zip_path"
mkdir -p "$deploy_dir"
say "staging the app in $app_dir"
# No --local-settings: local.settings.json is for local runs and must never be deployed.
cargo run "${stage_flags[@]}" -- stage --source "$repo_root" --handler "$handler" --out "$app_dir" >&2

# Belt and braces: whatever staging did, these must hold before anything is zipped.
[ ! -e "$app_dir/local.settings.json" ] || fail "local.settings.json was staged; refusing to package it"
[ -f "$app_dir/host.json" ] || fail "host.json is missing from the staged app"
chmod 0755 "$app_dir/handler"
expected_functions=()
for definition in "$repo_root"/functions/*/function.json; do
  name="$(basename "$(dirname "$definition")")"
  [ -f "$app_dir/$name/function.json" ] || fail "function $name was not staged"
  expected_functions+=("$name")
done
[ "${#expected_functions[@]}" -gt 0 ] || fail "no functions/<Name>/function.json in $repo_root"

say "zipping"
if command -v zip >/dev/null; then
  # -X leaves out extra file attributes, not the Unix mode: the handler stays executable.
  (cd "$app_dir" && zip -q -r -X "$zip_path" .)
elif command -v python3 >/dev/null; then
  python3 - "$app_dir" "$zip_path" <<'PY'
import os, sys, zipfile
root, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            info = zipfile.ZipInfo.from_file(path, os.path.relpath(path, root))
            info.compress_type = zipfile.ZIP_DEFLATED
            with open(path, "rb") as f:
                z.writestr(info, f.read())
PY
else
  fail "neither zip nor python3 is available to build the zip"
fi

# Check the zip itself, not just the directory it came from.
if command -v unzip >/dev/null; then
  entries="$(unzip -Z1 "$zip_path")"
  for required in host.json handler; do
    grep -qx "$required" <<<"$entries" || fail "$required is missing from the zip"
  done
  for name in "${expected_functions[@]}"; do
    grep -qx "$name/function.json" <<<"$entries" || fail "$name/function.json is missing from the zip"
  done
  if grep -q 'local.settings.json' <<<"$entries"; then
    fail "local.settings.json is in the zip"
  fi
  unzip -Z "$zip_path" handler | grep -q '^-rwx' || fail "handler is not executable in the zip"
fi

# The host image provides glibc; a gnu build must not need a newer one than it has.
if [[ "$target" == *-gnu ]] && command -v objdump >/dev/null; then
  glibc="$(objdump -T "$handler" | grep -o 'GLIBC_[0-9.]*' | sort -u -V | tail -n1)"
  say "handler needs ${glibc:-no versioned glibc symbols} (see docs/deploy.md, Build target)"
fi

say "$(du -h "$zip_path" | cut -f1) with ${#expected_functions[@]} functions: ${expected_functions[*]}"
printf '%s\n' "$zip_path"
