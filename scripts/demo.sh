#!/bin/sh
# make demo: generate the sample map (101 x 200 x 2000, like PyMca's classic example) and
# run mva-info, mva-roi and mva-pca on it.
set -e
BUILD=${1:-build}
BIN="$BUILD/bin"
OUT=samples/out
mkdir -p "$OUT"
if [ ! -f "$OUT/map.h5" ]; then
    "$BIN/mva-gen" -o "$OUT/map.h5"
fi
echo
"$BIN/mva-info" "$OUT/map.h5"
echo
rm -f "$OUT/map_pca.h5"
"$BIN/mva-pca" "$OUT/map.h5" -k 10 --roi Fe=6.2:6.6keV --roi Cu=7.9:8.2keV \
    --roi Pb=10.35:10.75keV -o "$OUT/map_pca.h5"
echo
echo "Results: $OUT/map_pca.h5 (open with: silx view $OUT/map_pca.h5, or h5ls -r)"
