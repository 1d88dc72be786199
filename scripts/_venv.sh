# Sourced by scripts/test and scripts/serve: creates .venv on first use and keeps it in step
# with pyproject.toml. Needs only python3 and pip.
#
# The stamp names pyproject.toml's hash and lists the extras installed with it, so switching
# between scripts/serve (no extras) and scripts/test (the `test` extra) installs nothing: an
# install with more extras serves a request for fewer. A changed pyproject.toml, or an extra
# not installed yet, reinstalls once, with every extra asked for so far.
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
stamp="$VENV/.installed-$("$VENV/bin/python" -c 'import hashlib,sys; print(hashlib.sha256(open("pyproject.toml","rb").read()).hexdigest()[:16])')"
have=$(cat "$VENV"/.installed-* 2>/dev/null | sort -u | grep -v '^$' || true)  # extras of the last install
want=$(printf '%s\n' $have ${EXTRAS//,/ } | sort -u | grep -v '^$' || true)
if [ ! -f "$stamp" ] || [ "$want" != "$have" ]; then
  extras=$(printf '%s' "$want" | paste -sd, -)
  echo "scripts: installing headshot-mock${extras:+[$extras]} into $VENV" >&2
  "$VENV/bin/python" -m pip install -q -e ".${extras:+[$extras]}"
  # .pyc files now, as a wheel install writes them: where PYTHONDONTWRITEBYTECODE is set, every
  # start would otherwise compile the package's modules from source (~100 ms).
  "$VENV/bin/python" -m compileall -q headshot_mock specs mockserver contracts >/dev/null
  rm -f "$VENV"/.installed-*
  printf '%s\n' "$want" > "$stamp"
fi
