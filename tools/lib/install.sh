# shellcheck shell=bash
# Installs the tools the test command and the packaging need, on first use, from the project's
# own pins: Python tools into a venv under target/ (tools/python/requirements.txt), Debian
# packages with apt-get. Sourced by tools/test and infra/package.sh; needs $repo_root.
#
# A fresh CI machine reaches only the package registries, so nothing here downloads anything
# but packages by name.

# The venv lives under target/ so `cargo clean` resets it and it is never committed.
tools_venv="${repo_root:?}/target/tools/venv"

# ensure_python_tools: creates the venv and installs the pinned requirements unless the venv
# was made from this very requirements file (its checksum is kept as a stamp).
ensure_python_tools() {
  local requirements="$repo_root/tools/python/requirements.txt"
  local stamp="$tools_venv/.requirements.sha256"
  local want
  want="$(sha256sum "$requirements" | cut -d' ' -f1)"
  if [ -x "$tools_venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    return 0
  fi
  command -v python3 >/dev/null || {
    printf 'install: python3 is needed to install the pinned Python tools\n' >&2
    return 1
  }
  printf 'install: Python tools into %s (first use; a few minutes)\n' "$tools_venv" >&2
  mkdir -p "$(dirname "$tools_venv")"
  # A half-made venv from an interrupted install is started afresh.
  [ -f "$stamp" ] || rm -rf "$tools_venv"
  python3 -m venv "$tools_venv"
  "$tools_venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    -r "$requirements" >&2
  printf '%s\n' "$want" >"$stamp"
}

apt_updated=false

# ensure_debian_package COMMAND PACKAGE: installs PACKAGE with apt-get unless COMMAND is on
# PATH. Installing needs root (CI and these machines run as root); otherwise it says what to
# install instead of failing obscurely later.
ensure_debian_package() {
  local command_name="$1" package="$2"
  command -v "$command_name" >/dev/null && return 0
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    printf 'install: %s is missing: install the Debian package %s (apt-get install %s)\n' \
      "$command_name" "$package" "$package" >&2
    return 1
  fi
  if [ "$apt_updated" = false ]; then
    printf 'install: apt-get update\n' >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    apt_updated=true
  fi
  printf 'install: %s (Debian package %s)\n' "$command_name" "$package" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$package" >&2
}
