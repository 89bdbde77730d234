#!/bin/sh
# MPI figures (printed, never asserted): mva-pca -k 10, exact and randomized, on the
# 400 x 640 x 2048 uint32 map (2.1 GB, uncompressed, in the page cache): the single-process
# tool (OpenBLAS threads as they come, and one thread) against mva-pca-mpi with 1 and 2
# ranks of one BLAS thread each; wall time, every pass, and the bytes rank 0 received in
# collectives (MVA_MPI_STATS=2 lists each collective).  Needs make MPI=1.
#   sh bench/bench_mpi.sh [BUILD]
set -e
BUILD=${1:-build}
BIN="$BUILD/bin"
MAP=samples/out/bench-400x640x2048.h5
[ -x "$BIN/mva-pca-mpi" ] || { echo "build first: make MPI=1"; exit 1; }
[ -f "$MAP" ] || "$BIN/mva-gen" --rows 400 --cols 640 --channels 2048 --compression none \
    -o "$MAP"
O=$(mktemp -d /tmp/mva-bench-mpi-XXXXXX)
trap 'rm -rf "$O"' EXIT
MPIRUN="mpirun --oversubscribe --allow-run-as-root"
cat "$MAP" >/dev/null
run() {
    label=$1
    shift
    s=$(date +%s.%N)
    rc=0
    "$@" >"$O/out" 2>"$O/err" || rc=$?
    e=$(date +%s.%N)
    printf '== %s: exit %d, wall %.1f s\n' "$label" $rc "$(echo "$e - $s" | bc)"
    grep -hE '^pass|^mpi: [0-9]+ ranks' "$O/err" "$O/out" || true
    rm -f "$O"/*.h5
}
for m in exact randomized; do
    run "$m, one process" "$BIN/mva-pca" "$MAP" -k 10 --method $m -v -o "$O/s.h5"
    OPENBLAS_NUM_THREADS=1 run "$m, one process, 1 BLAS thread" \
        "$BIN/mva-pca" "$MAP" -k 10 --method $m -v -o "$O/s.h5"
    for np in 1 2; do
        OPENBLAS_NUM_THREADS=1 MVA_MPI_STATS=1 run "$m, mpirun -np $np, 1 BLAS thread each" \
            $MPIRUN -np $np -x OPENBLAS_NUM_THREADS -x MVA_MPI_STATS \
            "$BIN/mva-pca-mpi" "$MAP" -k 10 --method $m -v -o "$O/p.h5"
    done
done
echo "(load average: $(cut -d' ' -f1-3 /proc/loadavg))"
