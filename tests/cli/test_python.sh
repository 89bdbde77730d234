#!/bin/sh
# The Python package (python/mva) under pytest: tests/python/ against NumPy and scikit-learn,
# with the library of this build ($BUILD/lib/libmva.so).  PYTHON defaults to Debian's python3
# (the one with numpy).  pytest's "no tests collected" (exit 5) is a failure here, not a pass.
# Under the sanitizer build the instrumented library needs the ASan runtime loaded first.
set -u
BUILD=${BUILD:-build}
PYTHON=${PYTHON:-/usr/bin/python3}
export MVA_BUILD="$BUILD" PYTHONPATH="python${PYTHONPATH:+:$PYTHONPATH}"
if ! "$PYTHON" -c 'import numpy, pytest' 2>/dev/null; then
    echo "FAIL $PYTHON lacks numpy or pytest (scripts/deps.sh --test installs them)"
    exit 1
fi
# (The shared library is linked without the runtimes: its sanitizer symbols are undefined.)
undef=$(nm -D --undefined-only "$BUILD/lib/libmva.so" 2>/dev/null)
pre=""
case "$undef" in *__asan_*) pre="$(${CC:-cc} -print-file-name=libasan.so)" ;; esac
case "$undef" in *__ubsan_*) pre="$pre $(${CC:-cc} -print-file-name=libubsan.so)" ;; esac
if [ -n "$pre" ]; then
    # Python's own allocations are not ours to judge: leaks off, the rest on.
    export LD_PRELOAD="$pre" ASAN_OPTIONS="detect_leaks=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
    export MVA_SANITIZED=1
fi
"$PYTHON" -m pytest -q -p no:cacheprovider tests/python
rc=$?
if [ $rc -eq 5 ]; then
    echo "FAIL pytest collected no tests in tests/python"
    exit 1
fi
exit $rc
