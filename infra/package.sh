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
#   IMAGESHARE_TARGET   what to build for. Default x86_64-unknown-linux-gnu.2.28: a gnu build
#                       linked against glibc 2.28 with cargo-zigbuild and Zig (both from PyPI,
#                       installed into target/tools/venv on first use), so it starts on every
#                       Functions Linux image (bullseye's 2.31, bookworm's 2.36, Azure Linux).
#                       Any x86_64-unknown-linux-gnu.2.NN works the same way. A plain rustup
#                       target such as x86_64-unknown-linux-musl (static, needs
#                       `rustup target add` and musl-tools) is built with cargo instead.
#
# The zig build has its own target directory, target/zig, kept between runs. The zip is
# checked before the path is printed: layout and modes (tools/python/check_zip.py) and, for a
# gnu build, the glibc it needs (tools/check-glibc).
#
# azd runs this as the prepackage hook of the imageshare service (azure.yaml).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
# shellcheck source=tools/lib/install.sh
source "$repo_root/tools/lib/install.sh"

target="${IMAGESHARE_TARGET:-x86_64-unknown-linux-gnu.2.28}"
deploy_dir="$repo_root/target/deploy"
app_dir="$deploy_dir/app"
zip_path="$deploy_dir/imageshare.zip"

say() { printf 'package: %s\n' "$*" >&2; }
fail() {
  printf 'package: error: %s\n' "$*" >&2
  exit 1
}

command -v cargo >/dev/null || fail "cargo is not installed (https://rustup.rs)"
command -v python3 >/dev/null || fail "python3 is needed to check the zip"

# x86_64-unknown-linux-gnu.2.28 -> triple x86_64-unknown-linux-gnu, glibc 2.28.
glibc_max=""
if [[ "$target" =~ ^(.+-gnu)\.([0-9]+\.[0-9]+)$ ]]; then
  triple="${BASH_REMATCH[1]}"
  glibc_max="${BASH_REMATCH[2]}"
  ensure_python_tools || fail "could not install cargo-zigbuild and ziglang (tools/python/requirements.txt)"
  say "building handler (release, $triple against glibc $glibc_max, cargo-zigbuild)"
  # cargo-zigbuild finds Zig through the venv's python (the ziglang package).
  PATH="$tools_venv/bin:$PATH" CARGO_TARGET_DIR="$repo_root/target/zig" \
    cargo zigbuild --release --locked --bin handler --target "$target" >&2
  handler="$repo_root/target/zig/$triple/release/handler"
else
  triple="$target"
  if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx "$target"; then
    fail "the Rust target $target is not installed: rustup target add $target"
  fi
  say "building handler (release, $target)"
  cargo build --release --locked --bin handler --target "$target" >&2
  handler="$repo_root/target/$target/release/handler"
fi
[ -x "$handler" ] || fail "the build produced no executable at $handler"
if [[ "$triple" == *-gnu ]]; then
  if [ -z "$glibc_max" ]; then
    say "warning: a plain gnu build needs the glibc of this machine; prefer $triple.2.28"
  else
    tools/check-glibc "$handler" "$glibc_max" >&2 || fail "the handler needs a newer glibc than $glibc_max"
  fi
fi

rm -rf "$app_dir" "$zip_path"
mkdir -p "$deploy_dir"
say "staging the app in $app_dir"
# func-host's `stage` lays the app directory out the way the host expects (and is what the
# local runs use). It only copies files, so its debug build (shared with the tests) will do.
# No --local-settings: local.settings.json is for local runs and must never be deployed.
cargo run --locked --quiet -p func-host --bin func-host -- \
  stage --source "$repo_root" --handler "$handler" --out "$app_dir" >&2

# Belt and braces: whatever staging did, these must hold before anything is zipped.
[ ! -e "$app_dir/local.settings.json" ] || fail "local.settings.json was staged; refusing to package it"
[ -f "$app_dir/host.json" ] || fail "host.json is missing from the staged app"
# The host reads every file as another user than the one who unpacked it: readable by all,
# whatever this machine's umask; the handler executable by all.
chmod -R a+rX,go-w "$app_dir"
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
else
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
fi

# Check the zip itself, not just the directory it came from.
python3 "$repo_root/tools/python/check_zip.py" "$zip_path" "$repo_root" >&2 ||
  fail "the zip is not laid out as the Functions host reads it"

say "$(du -h "$zip_path" | cut -f1) with ${#expected_functions[@]} functions: ${expected_functions[*]}"
printf '%s\n' "$zip_path"
