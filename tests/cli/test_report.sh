#!/bin/sh
# mva-report end to end: a generated map, mva-pca with two ROIs, then the report: every file
# there, PNGs of the map's shape times the scale, SVGs well-formed (xmllint) with one curve
# per component, index.html linking only files of the report, no temporary left, clear
# errors.  Then an NMF entry (mva-nmf -k 3 --report DIR, and mva-report of the NMF-only
# file): abundance maps, nmf_spectra.svg with 3 curves and element lines, convergence.svg,
# links.  When chromium is installed, the pages are also rendered headless to screenshots.
set -u
BUILD=${BUILD:-build}
BIN="$BUILD/bin"
T=$(mktemp -d /tmp/mva-report-XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0
ok() { echo "ok   $1"; }
ko() { echo "FAIL $1"; fails=$((fails + 1)); }
skip() { echo "skip $1"; }

# Width and height of a PNG, from its IHDR chunk (bytes 16-23, big-endian).
png_size() {
    od -An -tu1 -j16 -N8 "$1" | awk '{printf "%dx%d\n", $1*16777216+$2*65536+$3*256+$4, $5*16777216+$6*65536+$7*256+$8}'
}

# Every href/src of DIR/index.html names an existing file of DIR (no path, no URL).
check_links() {
    n=0 bad=""
    for l in $(grep -o -e 'href="[^"]*"' -e 'src="[^"]*"' "$1/index.html" | sed 's/^[a-z]*="//; s/"$//'); do
        n=$((n + 1))
        case "$l" in */* | *:*) bad="$bad $l" ;; esac
        [ -f "$1/$l" ] || bad="$bad $l"
    done
    [ -z "$bad" ] && [ "$n" -gt 0 ] && echo "$n" && return 0
    echo "bad links:$bad (of $n)"
    return 1
}

# ---- a 12 x 20 map of 256 channels of 0.05 keV (to 12.8 keV: Fe Ka 6.4, Cu Ka 8.05 inside) ----
"$BIN/mva-gen" --rows 12 --cols 20 --channels 256 --b 0.05 --quiet -o "$T/map.h5" || ko "mva-gen"
"$BIN/mva-pca" "$T/map.h5" -k 3 --roi Fe=6.2:6.6keV --roi Cu=7.85:8.25keV -q -o "$T/res.h5" ||
    ko "mva-pca -k 3 with two ROIs"

if "$BIN/mva-report" --help | grep -q "Example"; then ok "mva-report --help has an example"; else ko "mva-report --help"; fi
if "$BIN/mva-report" --version | grep -q "[0-9]\.[0-9]"; then ok "mva-report --version"; else ko "mva-report --version"; fi

R="$T/report"
if "$BIN/mva-report" "$T/res.h5" -o "$R" >"$T/out" 2>"$T/err" && grep -q "index.html" "$T/out"; then
    ok "mva-report writes the report"
else
    ko "mva-report: $(cat "$T/err")"
fi

# ---- files and their sizes (automatic scale: short side 12 -> x17 = 204 px) ----
missing=""
for f in index.html montage.png scree.svg eigenspectra.svg spectrum.svg pc01.png pc02.png pc03.png \
    total_counts.png roi01_Fe_raw.png roi01_Fe_net.png roi02_Cu_raw.png roi02_Cu_net.png; do
    [ -s "$R/$f" ] || missing="$missing $f"
done
if [ -z "$missing" ]; then ok "every image, plot and index.html present"; else ko "missing:$missing"; fi
bad=""
for f in "$R"/pc*.png "$R"/roi*.png "$R/total_counts.png"; do
    [ "$(png_size "$f")" = "340x204" ] || bad="$bad $(basename "$f"):$(png_size "$f")"
done
if [ -z "$bad" ]; then ok "PNGs are 20x12 pixels times 17"; else ko "PNG sizes:$bad"; fi
if [ -z "$(ls -A "$R" | grep '^\.')" ]; then ok "no temporary file left"; else ko "temporaries: $(ls -A "$R")"; fi

# ---- SVG: well-formed, one curve per component ----
if command -v xmllint >/dev/null 2>&1; then
    if xmllint --noout "$R"/*.svg 2>"$T/xml"; then ok "SVGs well-formed (xmllint)"; else ko "xmllint: $(cat "$T/xml")"; fi
    if xmllint --html --noout "$R/index.html" 2>"$T/xml"; then ok "index.html parses (xmllint --html)"; else ko "index.html: $(cat "$T/xml")"; fi
else
    skip "xmllint not installed (Debian package libxml2-utils): SVGs not validated"
fi
n=$(grep -o '<polyline' "$R/eigenspectra.svg" | wc -l)
if [ "$n" -eq 3 ]; then ok "eigenspectra: 3 curves"; else ko "eigenspectra: $n curves, expected 3"; fi
n=$(grep -o '<polyline' "$R/scree.svg" | wc -l)
if [ "$n" -eq 1 ] && grep -q "chosen k" "$R/scree.svg"; then ok "scree: 1 curve, k marked"; else ko "scree"; fi
if grep -q ">Fe<" "$R/spectrum.svg" && grep -q ">Cu<" "$R/spectrum.svg"; then ok "spectrum shows the ROI bands"; else ko "spectrum ROI bands"; fi
if grep -q ">Fe Ka<" "$R/spectrum.svg" && grep -q ">Cu Ka<" "$R/spectrum.svg"; then
    ok "spectrum marks Fe Ka and Cu Ka"
else
    ko "element lines: $(grep -o '>[A-Z][a-z]* [KL][ab]<' "$R/spectrum.svg" | tr '\n' ' ')"
fi

# ---- index.html ----
if out=$(check_links "$R"); then ok "index.html: $out links, all to files of the report"; else ko "index.html: $out"; fi
if grep -q "<script" "$R/index.html" || grep -q "http://\|https://" "$R/index.html"; then
    ko "index.html has a script or a network link"
else
    ok "index.html has no script and no network link"
fi
if grep -q "12 x 20 pixels x 256 channels" "$R/index.html" && grep -q "Fe=6.2:6.6keV" "$R/index.html"; then
    ok "index.html summary: shape and parameters"
else
    ko "index.html summary"
fi

# ---- a second run refreshes the report in place; options ----
if "$BIN/mva-report" "$T/res.h5" -o "$R" --scale 2 --no-lines -q && [ "$(png_size "$R/pc01.png")" = "40x24" ] &&
    ! grep -q ">Fe Ka<" "$R/spectrum.svg"; then
    ok "--scale 2 --no-lines rewrites in place"
else
    ko "--scale 2 --no-lines"
fi

# ---- a ROI-only results file ----
"$BIN/mva-roi" "$T/map.h5" --roi Fe=6.2:6.6keV -q -o "$T/roi.h5" >/dev/null || ko "mva-roi"
if "$BIN/mva-report" "$T/roi.h5" -o "$T/roirep" -q && [ -s "$T/roirep/roi01_Fe_raw.png" ] &&
    [ ! -e "$T/roirep/scree.svg" ] && check_links "$T/roirep" >/dev/null; then
    ok "ROI-only report"
else
    ko "ROI-only report"
fi

# ---- errors: message, exit status, nothing created ----
if "$BIN/mva-report" "$T/absent.h5" -o "$T/none" 2>"$T/err"; then
    ko "missing file: exit status 0"
elif grep -q "absent.h5" "$T/err" && [ ! -e "$T/none" ]; then
    ok "missing results file: exit 1, named, no directory"
else
    ko "missing file: $(cat "$T/err")"
fi
"$BIN/mva-report" "$T/res.h5" --entry nope -o "$T/none" 2>"$T/err"
rc=$?
if [ "$rc" -eq 1 ] && grep -q "/nope" "$T/err" && [ ! -e "$T/none" ]; then ok "unknown entry: exit 1, named"; else ko "unknown entry ($rc): $(cat "$T/err")"; fi
"$BIN/mva-report" "$T/res.h5" --scale 0 -o "$T/none" 2>"$T/err"
rc=$?
if [ "$rc" -eq 2 ] && grep -q "scale" "$T/err"; then ok "--scale 0: usage error"; else ko "--scale 0 ($rc)"; fi
"$BIN/mva-report" "$T/res.h5" --contrast 99:1 -o "$T/none" 2>"$T/err"
rc=$?
if [ "$rc" -eq 2 ] && grep -q "contrast" "$T/err"; then ok "--contrast 99:1: usage error"; else ko "--contrast 99:1 ($rc)"; fi

# ---- mva-pca --report DIR / mva-roi --report DIR (once the tools offer the option) ----
for t in mva-pca mva-roi; do
    if "$BIN/$t" --help | grep -q -- "--report DIR"; then
        if "$BIN/$t" "$T/map.h5" --roi Fe=6.2:6.6keV -q -o "$T/$t.h5" --report "$T/$t-rep" &&
            check_links "$T/$t-rep" >/dev/null && [ -s "$T/$t-rep/roi01_Fe_raw.png" ]; then
            ok "$t --report writes the report"
        else
            ko "$t --report"
        fi
    else
        skip "$t has no --report option yet"
    fi
done

# ---- an NMF entry: mva-nmf --report DIR, and mva-report of the NMF-only results file ----
N="$T/nmfrep"
if "$BIN/mva-nmf" --help | grep -q -- "--report nmf_report"; then ok "mva-nmf --help: --report example"; else ko "mva-nmf --help"; fi
if "$BIN/mva-nmf" "$T/map.h5" -k 3 -o "$T/nmf.h5" --report "$N" >"$T/out" 2>"$T/err" &&
    grep -q "^report  *$N/index.html" "$T/out"; then
    ok "mva-nmf -k 3 --report writes the report"
else
    ko "mva-nmf --report: $(cat "$T/err")"
fi
missing=""
for f in index.html montage.png nmf01.png nmf02.png nmf03.png nmf_spectra.svg convergence.svg colorbar_viridis.png; do
    [ -s "$N/$f" ] || missing="$missing $f"
done
if [ -z "$missing" ]; then ok "NMF report: maps, plots and index.html present"; else ko "NMF report missing:$missing"; fi
bad=""
for f in "$N"/nmf*.png; do
    [ "$(png_size "$f")" = "340x204" ] || bad="$bad $(basename "$f"):$(png_size "$f")"
done
if [ -z "$bad" ]; then ok "NMF abundance PNGs are 20x12 pixels times 17"; else ko "NMF PNG sizes:$bad"; fi
if [ -e "$N/pc01.png" ] || [ -e "$N/scree.svg" ] || [ -n "$(ls -A "$N" | grep '^\.')" ]; then
    ko "NMF report: PCA files or temporaries: $(ls -A "$N" | tr '\n' ' ')"
else
    ok "NMF report: no PCA part, no temporary"
fi
if command -v xmllint >/dev/null 2>&1; then
    if xmllint --noout "$N"/*.svg 2>"$T/xml"; then ok "NMF SVGs well-formed (xmllint)"; else ko "xmllint: $(cat "$T/xml")"; fi
    if xmllint --html --noout "$N/index.html" 2>"$T/xml"; then ok "NMF index.html parses (xmllint --html)"; else ko "NMF index.html: $(cat "$T/xml")"; fi
fi
n=$(grep -o '<polyline' "$N/nmf_spectra.svg" 2>/dev/null | wc -l)
if [ "$n" -eq 3 ]; then ok "nmf_spectra.svg: 3 curves"; else ko "nmf_spectra.svg: $n curves, expected 3"; fi
n=$(grep -o '<polyline' "$N/convergence.svg" 2>/dev/null | wc -l)
if [ "$n" -eq 1 ] && grep -q "log scale" "$N/convergence.svg"; then ok "convergence.svg: 1 curve, log scale"; else ko "convergence.svg"; fi
if grep -q ">Fe Ka<" "$N/nmf_spectra.svg" 2>/dev/null; then
    ok "nmf_spectra.svg marks element lines ($(grep -o '>[A-Z][a-z]* [KL][ab]<' "$N/nmf_spectra.svg" | tr -d '<>' | tr '\n' ','))"
else
    ko "nmf_spectra.svg lines: $(grep -o '>[A-Z][a-z]* [KL][ab]<' "$N/nmf_spectra.svg" 2>/dev/null | tr '\n' ' ')"
fi
if out=$(check_links "$N"); then ok "NMF index.html: $out links, all to files of the report"; else ko "NMF index.html: $out"; fi
if grep -q "NMF, hals, start nndsvda" "$N/index.html" && grep -q "share of counts" "$N/index.html" &&
    grep -q "<th>converged</th>" "$N/index.html" && grep -q "relative error" "$N/index.html"; then
    ok "NMF summary: method, convergence, error, shares"
else
    ko "NMF summary"
fi
if "$BIN/mva-report" "$T/nmf.h5" -o "$T/nmfrep2" -q && [ "$(png_size "$T/nmfrep2/nmf01.png")" = "340x204" ] &&
    check_links "$T/nmfrep2" >/dev/null && [ "$(grep -o '<polyline' "$T/nmfrep2/nmf_spectra.svg" | wc -l)" -eq 3 ]; then
    ok "mva-report of an NMF-only results file"
else
    ko "mva-report of an NMF-only results file"
fi

# ---- a selection (mva-select --report): the As cluster of a generated map ----
# mva-gen hides As (Ka 10.54 keV, under Pb La) in a small cluster; Poisson-scaled PCA shows
# it in the eigenimage most extreme on few pixels (as tests/cli/test_select.sh finds it).
PY=/usr/bin/python3
if [ -x "$PY" ] && "$PY" -c "import h5py, numpy" 2>/dev/null; then
    "$BIN/mva-gen" -q --rows 30 --cols 40 --channels 1024 --b 0.02 --counts 8000 --seed 4 -o "$T/as.h5" || ko "mva-gen (As map)"
    "$BIN/mva-pca" "$T/as.h5" -k 5 --poisson -q -o "$T/as_res.h5" || ko "mva-pca -k 5 --poisson"
    comp=$("$PY" - "$T/as_res.h5" <<'PYEOF'
import sys, h5py, numpy as np
im = h5py.File(sys.argv[1])["mva_pca/eigenimages/data"][()]
z = [(np.abs(im[q] - np.median(im[q])) / im[q].std()).max() for q in range(im.shape[0])]
print(int(np.argmax(z)))
PYEOF
)
    S="$T/sel_report"
    if "$BIN/mva-select" "$T/as_res.h5" --image "eigenimages/data[$comp]" --above 3sigma --report "$S" >"$T/out" 2>"$T/err" &&
        grep -q "^report  *$S/index.html" "$T/out"; then
        ok "mva-select --report writes the report"
    else
        ko "mva-select --report: $(cat "$T/err")"
    fi
    if [ "$(grep -o '<polyline' "$S/selection.svg" 2>/dev/null | wc -l)" -eq 2 ]; then ok "selection.svg: 2 curves"; else ko "selection.svg curves"; fi
    if grep -q '>As K[ab][ <]' "$S/selection.svg" 2>/dev/null; then
        ok "selection.svg marks As ($(grep -o '>[A-Z][a-z]* K[ab][^<]*<' "$S/selection.svg" | tr -d '<>' | tr '\n' ',' ))"
    else
        ko "selection.svg lines: $(grep -o '>[A-Z][a-z]* [KL][ab][^<]*<' "$S/selection.svg" 2>/dev/null | tr '\n' ' ')"
    fi
    if out=$(check_links "$S"); then ok "selection index.html: $out links, all to files of the report"; else ko "selection index.html: $out"; fi
    if [ "$(png_size "$S/mask.png")" = "280x210" ]; then ok "mask.png: 40x30 pixels times 7"; else ko "mask.png size $(png_size "$S/mask.png")"; fi
    if grep -q "of 1200 valid pixels" "$S/index.html" && grep -q "above\|&gt;= median" "$S/index.html"; then
        ok "selection summary: pixels and selection text"
    else
        ko "selection summary"
    fi
    if command -v xmllint >/dev/null 2>&1; then
        if xmllint --noout "$S/selection.svg" 2>"$T/xml"; then ok "selection.svg well-formed (xmllint)"; else ko "xmllint: $(cat "$T/xml")"; fi
    fi
    if "$BIN/mva-report" "$T/as_res.h5" --entry mva_select --log -o "$T/sel_log" -q &&
        grep -q "log scale" "$T/sel_log/selection.svg" && grep -q '>1e1<' "$T/sel_log/selection.svg"; then
        ok "mva-report --entry mva_select --log: log axis"
    else
        ko "mva-report --log"
    fi
    if "$BIN/mva-select" --help | grep -q -- "--report trace_report"; then ok "mva-select --help: --report example"; else ko "mva-select --help"; fi
else
    skip "python3 with h5py and numpy not installed: no selection report check"
fi

# ---- render in headless Chromium (Debian package chromium) ----
CHROME=$(command -v chromium || command -v chromium-browser || true)
if [ -n "$CHROME" ]; then
    "$BIN/mva-report" "$T/res.h5" -o "$R" -q
    P=$(mktemp -d /tmp/mva-chromium-XXXXXX)
    timeout 90 "$CHROME" --headless --no-sandbox --disable-gpu --disable-background-networking \
        --disable-component-update --disable-sync --no-first-run --user-data-dir="$P" \
        --screenshot="$R/shot.png" --window-size=1200,900 "file://$(cd "$R" && pwd)/index.html" \
        >"$T/chromium.log" 2>&1
    rm -rf "$P"
    # A blank page compresses to a few kB; the report's tables and plots make far more.
    if [ "$(png_size "$R/shot.png" 2>/dev/null)" = "1200x900" ] && [ "$(wc -c <"$R/shot.png")" -gt 20000 ]; then
        ok "chromium renders index.html ($(wc -c <"$R/shot.png") byte screenshot)"
    else
        ko "chromium render: $(tail -3 "$T/chromium.log")"
    fi
    if [ -s "$N/index.html" ]; then
        P=$(mktemp -d /tmp/mva-chromium-XXXXXX)
        timeout 90 "$CHROME" --headless --no-sandbox --disable-gpu --disable-background-networking \
            --disable-component-update --disable-sync --no-first-run --user-data-dir="$P" \
            --screenshot="$N/shot.png" --window-size=1200,900 "file://$(cd "$N" && pwd)/index.html" \
            >"$T/chromium.log" 2>&1
        rm -rf "$P"
        if [ "$(png_size "$N/shot.png" 2>/dev/null)" = "1200x900" ] && [ "$(wc -c <"$N/shot.png")" -gt 20000 ]; then
            ok "chromium renders the NMF index.html ($(wc -c <"$N/shot.png") byte screenshot)"
        else
            ko "chromium render (NMF): $(tail -3 "$T/chromium.log")"
        fi
    fi
else
    skip "chromium not installed (Debian package chromium): no render check"
fi

[ "$fails" -eq 0 ] || { echo "$fails mva-report test(s) failed"; exit 1; }
echo "all mva-report tests passed"
