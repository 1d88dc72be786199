# Sourced by scripts/test and scripts/serve: creates .venv on first use and keeps it in step
# with pyproject.toml (reinstalls only when pyproject.toml changed). Needs only python3 and pip.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
EXTRAS=${EXTRAS:-}
if [ ! -x "$VENV/bin/python" ]; then
  echo "scripts: creating $VENV with $($PYTHON --version)" >&2
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
fi
stamp="$VENV/.installed-$(cat pyproject.toml | "$VENV/bin/python" -c 'import hashlib,sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest()[:16])')${EXTRAS:+-$EXTRAS}"
if [ ! -f "$stamp" ]; then
  echo "scripts: installing headshot-mock${EXTRAS:+[$EXTRAS]} into $VENV" >&2
  "$VENV/bin/python" -m pip install -q -e ".${EXTRAS:+[$EXTRAS]}"
  rm -f "$VENV"/.installed-*
  touch "$stamp"
fi
