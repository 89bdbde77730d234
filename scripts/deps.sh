#!/bin/sh
# Installs the Debian packages mva needs (as root), or prints the apt-get line to run.
#   scripts/deps.sh          build dependencies
#   scripts/deps.sh --test   build + test dependencies (h5py, fabio, silx, PyMca for the
#                            interoperability checks, h5dump, xmllint, chromium for the
#                            report, valgrind and clang's libFuzzer, a de_DE locale, pytest,
#                            scikit-learn, matplotlib and tqdm for the Python package's tests,
#                            PIL to read the report's PNGs back)
#   scripts/deps.sh --mpi    build dependencies + Open MPI (make MPI=1, make MPI=1 test-mpi)
set -e
pkgs="build-essential pkg-config libhdf5-dev hdf5-filter-plugin liblapacke-dev
libopenblas-dev libgsl-dev zlib1g-dev libpng-dev libcmocka-dev"
if [ "$1" = "--test" ]; then
    pkgs="$pkgs python3 python3-h5py python3-numpy hdf5-tools locales python3-fabio
python3-silx python3-pymca5 libxml2-utils chromium valgrind clang libclang-rt-14-dev
python3-pytest python3-sklearn python3-matplotlib python3-tqdm python3-pil"
fi
if [ "$1" = "--mpi" ]; then
    pkgs="$pkgs libopenmpi-dev openmpi-bin"
fi
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ]; then
        echo "installing:$missing"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        # shellcheck disable=SC2086
        apt-get install -y -qq --no-install-recommends $missing >/dev/null
    else
        echo "missing Debian packages; run as root:"
        echo "  apt-get install -y$missing"
        exit 1
    fi
fi
if [ "$1" = "--test" ] && ! locale -a 2>/dev/null | grep -qi '^de_DE.utf8$'; then
    if [ "$(id -u)" = 0 ]; then
        localedef -i de_DE -f UTF-8 de_DE.UTF-8 2>/dev/null || true
    fi
fi
exit 0
