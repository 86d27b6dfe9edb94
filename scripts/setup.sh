#!/usr/bin/env bash
# Sets up a fresh machine for musicjax: system packages (FluidSynth for audio, the fortunes text
# corpora), a virtual environment in .venv, and the package with the extras named as arguments
# (e.g. `scripts/setup.sh test`). Safe to run again: each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
dpkg -s libfluidsynth3 >/dev/null 2>&1 || need_apt+=(libfluidsynth3)
dpkg -s fortunes-zh >/dev/null 2>&1 || need_apt+=(fortunes-zh)
dpkg -s fortunes >/dev/null 2>&1 || need_apt+=(fortunes)
if [ ${#need_apt[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "setup: installing ${need_apt[*]}" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  else
    echo "setup: cannot install ${need_apt[*]} (needs root and apt-get); audio falls back to numpy synthesis" >&2
  fi
fi

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
extras=$(IFS=,; echo "$*")
spec="."
[ -n "$extras" ] && spec=".[$extras]"
stamp=".venv/.musicjax-installed-$(sha1sum pyproject.toml | cut -c1-12)-${extras:-base}"
if [ ! -f "$stamp" ]; then
  echo "setup: installing musicjax${extras:+[$extras]} into .venv (a minute or two the first time)" >&2
  # quiet: only errors reach the terminal (pip's progress, its warnings, its version nag and build
  # chatter do not; -qq also hides the "Location ... is ignored" warning pip repeats for every
  # package when its configuration names a find-links folder that does not exist)
  pip_quiet=(-qq --disable-pip-version-check --no-warn-script-location --no-input)
  .venv/bin/python -m pip install "${pip_quiet[@]}" --upgrade pip >/dev/null
  # PYTHONWARNINGS: setuptools' build backend warns about every editable install (10 lines); our
  # package folder is the one meant to be imported
  PYTHONWARNINGS=ignore .venv/bin/python -m pip install "${pip_quiet[@]}" -e "$spec"
  touch "$stamp"
fi
