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
if ldd "$BUILD/lib/libmva.so" 2>/dev/null | grep -q libasan; then
    LD_PRELOAD=$(${CC:-cc} -print-file-name=libasan.so)
    export LD_PRELOAD ASAN_OPTIONS="detect_leaks=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
fi
"$PYTHON" -m pytest -q -p no:cacheprovider tests/python
rc=$?
if [ $rc -eq 5 ]; then
    echo "FAIL pytest collected no tests in tests/python"
    exit 1
fi
exit $rc
