# Shared by the command-line tests (sourced, not run): a temporary directory $T removed at
# exit, ok/ko counting failures in $fails, expect_fail NAME PATTERN CMD... (the command must
# fail with PATTERN on stderr), check NAME (runs the python on stdin with argv T REAL).
BUILD=${BUILD:-build}
BIN=${MVA_BIN:-$BUILD/bin}
PY=/usr/bin/python3
T=$(mktemp -d "/tmp/mva-${CLI_TAG:-cli}-XXXXXX")
trap 'rm -rf "$T"' EXIT
fails=0
REAL=${REAL:-}
ok() { echo "ok   $1"; }
ko() { echo "FAIL $1"; fails=$((fails + 1)); }
expect_fail() {
    name=$1 pat=$2
    shift 2
    if "$@" >"$T/stdout" 2>"$T/stderr"; then
        ko "$name: exit status 0"
    elif ! grep -q -- "$pat" "$T/stderr"; then
        ko "$name: stderr lacks '$pat': $(cat "$T/stderr")"
    else
        ok "$name"
    fi
}
check() {
    if $PY - "$T" "$REAL" >"$T/py.txt" 2>&1; then ok "$1"; else ko "$1: $(tail -3 "$T/py.txt")"; fi
}
