#!/bin/sh
# make bench: figures for the sample map (printed, never asserted).
#   1. 101 x 200 x 2000 uint32, gzip by rows: plain decompress-only read (the floor) vs
#      mva-pca -k 10, wall time and peak RSS.
set -e
BUILD=${1:-build}
BIN="$BUILD/bin"
OUT=samples/out
mkdir -p "$OUT"
CFLAGS_H5=$(pkg-config --cflags hdf5-serial)
LIBS_H5=$(pkg-config --libs hdf5-serial)
cc -O2 -o "$BUILD/runstat" bench/runstat.c
cc -O2 $CFLAGS_H5 -o "$BUILD/h5read" bench/h5read.c $LIBS_H5
MAP="$OUT/bench-101x200x2000.h5"
[ -f "$MAP" ] || "$BIN/mva-gen" -o "$MAP" --rows 101 --cols 200 --channels 2000 \
    --dtype uint32 --compression gzip --quiet
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
echo "map: $MAP ($(du -m "$MAP" | cut -f1) MB on disk, 161.6 MB as uint32)"
cat "$MAP" >/dev/null
echo
echo "== decompress-only read (floor), best of 3"
for i in 1 2 3; do "$BUILD/runstat" "$BUILD/h5read" "$MAP" /entry/data/data; done
echo
echo "== mva-pca -k 10 (exact), best of 3"
for i in 1 2 3; do
    "$BUILD/runstat" "$BIN/mva-pca" "$MAP" -k 10 -q -o "$OUT/bench-pca.h5"
    rm -f "$OUT/bench-pca.h5"
done
echo
echo "== mva-roi, 3 ROIs"
"$BUILD/runstat" "$BIN/mva-roi" "$MAP" --roi Fe=6.2:6.6keV --roi Cu=7.9:8.2keV \
    --roi Pb=10.35:10.75keV -q -o "$OUT/bench-roi.h5"
rm -f "$OUT/bench-roi.h5"
