#!/bin/sh
# Faults: sizes in headers are never trusted (an EDF header claiming 10^12 pixels, negative,
# zero and overflowing dimensions, a SPEC #@CHANN of 10^12 channels: an error naming the file,
# before any allocation); output that cannot be written (a path under /proc, a file size limit
# hit while writing a new file or adding an entry to an existing one: a clear error, no file
# under the final name, no temporary left, an existing file untouched); a run killed with
# SIGKILL leaves no file under the final name; maps of NaN: mva-pca refuses, mva-roi succeeds
# with every pixel masked.  Truncation of an input during a read: tests/test_faults.c (SPEC)
# and tests/test_edf.c (EDF).
set -u
BUILD=${BUILD:-build}
BIN=${MVA_BIN:-$BUILD/bin}
PY=/usr/bin/python3
T=$(mktemp -d /tmp/mva-faults-XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0
ok() { echo "ok   $1"; }
ko() { echo "FAIL $1"; fails=$((fails + 1)); }
# Under valgrind (MVA_BIN) or the sanitizers the address space is not ours to limit, and the
# long runs are left out.
plain=1
[ -n "${MVA_BIN:-}${MVA_LINK_EXTRA:-}" ] && plain=0

# expect_fail NAME OUTPUT PATTERN CMD...: CMD must exit with status 1 (not a signal), print
# PATTERN on stderr and leave no OUTPUT file (nor any temporary next to it).
xfails=0
expect_fail() {
    name=$1 out=$2 pat=$3
    shift 3
    "$@" >"$T/stdout" 2>"$T/stderr"
    st=$?
    if [ "$st" -eq 139 ] && [ -n "${XFAIL_SEGV:-}" ] && [ -z "${MVA_STRICT:-}" ]; then
        # Known, not yet fixed (see $XFAIL_SEGV); MVA_STRICT=1 counts it as a failure.
        echo "XFAIL $name: crashed (SIGSEGV); known: $XFAIL_SEGV"
        xfails=$((xfails + 1))
    elif [ "$st" -ne 1 ]; then
        ko "$name: exit status $st (want 1): $(head -c 300 "$T/stderr")"
    elif ! grep -q -- "$pat" "$T/stderr"; then
        ko "$name: stderr lacks '$pat': $(cat "$T/stderr")"
    elif [ -n "$out" ] && ls "$out"* >/dev/null 2>&1; then
        ko "$name: output left behind: $(ls "$out"*)"
    else
        ok "$name"
    fi
}

# ---- sizes from headers ----
# edf FILE DIM_1 [DIM_2 [DIM_3]] SIZE: a 512-byte EDF header and 64 bytes of data.
edf() {
    $PY - "$@" <<'PYEOF'
import sys
out, dims, size = sys.argv[1], sys.argv[2:-1], sys.argv[-1]
h = ("{\nHeaderID = EH:000001:000000:000000 ;\nImage = 1 ;\nByteOrder = LowByteFirst ;\n"
     "DataType = UnsignedInteger ;\n")
h += "".join(f"Dim_{i + 1} = {d} ;\n" for i, d in enumerate(dims)) + f"Size = {size} ;\n"
h += " " * (512 - (len(h) + 2) % 512) + "}\n"
open(out, "wb").write(h.encode() + bytes(64))
PYEOF
}
edf "$T/tera.edf" 1000000 1000000 4000000000000
edf "$T/negative.edf" -5 3 60
edf "$T/zero.edf" 16 0 0
edf "$T/overflow.edf" 4294967296 4294967296 2 0
edf "$T/overflow64.edf" 18446744073709551615 3 0
printf '#F x\n#S 1 ascan x 0 1 1 1\n#N 1\n#@CHANN 1000000000000 0 999999999999 1\n#L x\n0\n@A 1 2 3\n1\n@A 1 2 3\n' \
    >"$T/chann.spec"
# A 256 MiB address space is far below what any of these headers claims (and above what the
# tool needs); the limit is set only for plain builds.
limit=""
[ "$plain" = 1 ] && limit="ulimit -v 262144;"
info() { sh -c "$limit \"\$@\"" sh "$BIN/mva-info" "$@"; }
expect_fail "EDF of 10^12 pixels" "" "tera.edf: truncated data block at byte offset 512" info "$T/tera.edf"
expect_fail "EDF negative Dim_1" "" "negative.edf: header at byte offset 0: Dim_1 = \"-5\" is not a non-negative integer" info "$T/negative.edf"
expect_fail "EDF zero Dim_2" "" "zero.edf: header at byte offset 0: Dim_2 = 0, an empty block" info "$T/zero.edf"
expect_fail "EDF dims overflowing size_t" "" "overflow.edf: .*absurd dimensions.*overflows" info "$T/overflow.edf"
expect_fail "EDF Dim_1 = 2^64-1" "" "overflow64.edf: header at byte offset 0" info "$T/overflow64.edf"
expect_fail "SPEC #@CHANN of 10^12 channels" "" "chann.spec: line 7 (scan 1): spectrum has 3 values, expected 1000000000000" info "$T/chann.spec"

# ---- output that cannot be written ----
"$BIN/mva-gen" -q --rows 40 --cols 50 --channels 256 --counts 2000 --seed 1 -o "$T/map.h5" ||
    ko "mva-gen"
expect_fail "output under /proc" "/proc/mva-out.h5" "/proc/mva-out.h5: cannot create" \
    "$BIN/mva-pca" "$T/map.h5" -k 2 -q -o /proc/mva-out.h5
# A file size limit (ulimit -f counts 512-byte blocks in dash, 1 KiB in bash: both far below
# the 300 KB the entry needs).  SIGXFSZ is ignored, so that write() fails with EFBIG and the
# tool sees the error (by default the signal kills it: see the README).
efbig() { # BLOCKS CMD...
    b=$1
    shift
    sh -c "trap '' XFSZ; ulimit -f $b; \"\$@\"" sh "$@"
}
# These found a crash (fixed): H5Fclose failing at the flush (EFBIG) made io/result.c ask
# HDF5 about the closed file id, and HDF5 1.10 closed it again at exit; the tools now call
# H5dont_atexit and ignore SIGXFSZ (tools/cli.c).  XFAIL_SEGV names a known crash, if any.
XFAIL_SEGV=""
"$BIN/mva-pca" "$T/map.h5" -k 1 -q -o "$T/old.h5" || ko "mva-pca first entry"
before=$(md5sum <"$T/old.h5")
if [ "$plain" = 1 ] || [ -z "$XFAIL_SEGV" ]; then
    expect_fail "file size limit, new file" "$T/big.h5" "big.h5: cannot write" \
        efbig 50 "$BIN/mva-pca" "$T/map.h5" -k 20 -q -o "$T/big.h5"
    blocks=$(( $(wc -c <"$T/old.h5") / 512 + 100 ))
    expect_fail "file size limit, adding an entry" "$T/old.h5.tmp" "old.h5: cannot write" \
        efbig "$blocks" "$BIN/mva-pca" "$T/map.h5" -k 20 -q -o "$T/old.h5"
fi
XFAIL_SEGV=""
rm -f "$T"/*.tmp.* # what the crash above leaves
if [ "$(md5sum <"$T/old.h5")" = "$before" ]; then ok "existing output untouched after a failed entry"
else ko "existing output modified by a failed entry"; fi

# ---- SIGKILL while writing ----
if [ "$plain" = 1 ]; then
    # Many pixels, few channels: a quick fit and 96 MB of eigenimages to write (stored as
    # they are, floats that do not compress), so that the write takes a while.
    "$BIN/mva-gen" -q --rows 600 --cols 500 --channels 64 --b 0.3 --counts 2000 --seed 2 \
        -o "$T/bigmap.h5" || ko "mva-gen big"
    cp "$T/old.h5" "$T/kill-old.h5"
    before=$(md5sum <"$T/kill-old.h5")
    for target in kill-new kill-old; do
        "$BIN/mva-pca" "$T/bigmap.h5" -k 40 -q -o "$T/$target.h5" &
        pid=$!
        # Kill it as soon as its temporary appears (while it writes), else after 20 s.
        i=0
        while [ $i -lt 2000 ] && kill -0 $pid 2>/dev/null; do
            set -- "$T/$target.h5.tmp".*
            [ -e "$1" ] && break
            sleep 0.01
            i=$((i + 1))
        done
        when="while writing"
        [ -e "$1" ] || when="before writing"
        kill -9 $pid 2>/dev/null || when="(too late: it had finished)"
        wait $pid 2>/dev/null
        case "$target:$when" in
        *finished*) ko "$target: could not kill mva-pca $when" ;;
        kill-new:*) if [ -e "$T/kill-new.h5" ]; then ko "SIGKILL $when left kill-new.h5"
                    else ok "SIGKILL $when: no file under the final name"; fi ;;
        kill-old:*) if [ "$(md5sum <"$T/kill-old.h5")" = "$before" ]; then
                        ok "SIGKILL $when adding an entry: existing file untouched"
                    else ko "SIGKILL $when modified the existing file"; fi ;;
        esac
    done
fi

# ---- maps of NaN ----
$PY - "$T" <<'PYEOF'
import sys, h5py, numpy as np
with h5py.File(f"{sys.argv[1]}/nan.h5", "w") as f:
    f["data"] = np.full((4, 5, 32), np.nan)
    f["data"].attrs["interpretation"] = "spectrum"  # 32 channels: the axis must be named
PYEOF
expect_fail "mva-pca of an all-NaN map" "$T/nan-pca.h5" "needs at least 2 valid pixels, found 0" \
    "$BIN/mva-pca" "$T/nan.h5" -k 2 -q -o "$T/nan-pca.h5"
# ROI images of a map without a valid pixel are defined (NaN, every pixel masked): success.
if "$BIN/mva-roi" "$T/nan.h5" --roi 3:5 -o "$T/nan-roi.h5" >"$T/roi.txt" &&
    grep -q "0 valid, 20 masked" "$T/roi.txt" &&
    $PY - "$T" <<'PYEOF'
import sys, h5py, numpy as np
with h5py.File(f"{sys.argv[1]}/nan-roi.h5", "r") as f:
    e = f[f.attrs["default"]]
    assert e["n_valid_pixels"][()] == 0
    assert e["mask"][()].all()
    assert np.isnan(e["roi/3-5/raw"][()]).all()
PYEOF
then ok "mva-roi of an all-NaN map: success, every pixel masked"; else ko "mva-roi all-NaN: $(cat "$T/roi.txt")"; fi

echo "test_faults: $fails failure(s), $xfails known failure(s)"
[ "$fails" -eq 0 ]
