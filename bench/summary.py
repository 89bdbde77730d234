"""Tables of bench.sh's runs (bench/summary.py LOG [big huge]): the range of wall times per
job, peak RSS, and the ratios the project's goals are stated in."""
import re
import sys

runs, errors, rate = {}, {}, None
for line in open(sys.argv[1]):
    m = re.match(r"(\S+) wall ([\d.]+) s, cpu ([\d.]+) s, peak RSS ([\d.]+) MB", line)
    if m:
        runs.setdefault(m.group(1), []).append((float(m.group(2)), float(m.group(3)),
                                                float(m.group(4))))
    m = re.search(r"(mva-nmf|scikit-learn NMF).*relative error ([\d.]+)", line)
    if m:
        errors.setdefault(m.group(1), []).append(float(m.group(2)))
    m = re.search(r"one core: ([\d.e+]+) multiply-adds", line)
    if m:  # the last one printed: the kernel mva uses on this machine
        rate = float(m.group(1))


def span(label):
    r = runs.get(label)
    if not r:
        return None
    w = [x[0] for x in r]
    return min(w), max(w), max(x[2] for x in r)


def fmt(label):
    s = span(label)
    if s is None:
        return "-"
    lo, hi, rss = s
    t = "%.2f s" % lo if hi - lo < 0.005 else "%.2f-%.2f s" % (lo, hi)
    return "%s, %.0f MB" % (t, rss)


if len(sys.argv) > 2:
    print("== big maps (wall, peak RSS)")
    for big in sys.argv[2:]:
        for m in ("auto", "exact", "randomized", "pymca", "sklearn"):
            if span("%s-%s" % (big, m)):
                print("  %-6s %-11s %s" % (big, m, fmt("%s-%s" % (big, m))))
        peers = [span("%s-%s" % (big, p)) for p in ("pymca", "sklearn")]
        peers = [p for p in peers if p]
        a = span(big + "-auto")
        if peers and a:
            p = min(peers, key=lambda s: s[0])
            print("  goal 2 on %s: faster peer / mva-pca %.1fx (faster peer %.2f s, mva-pca "
                  "%.2f s), mva-pca RSS %.0f MB" % (big, p[0] / a[1], p[0], a[1], a[2]))
    sys.exit(0)

maps = ("dim", "bright")
print("== summary (range over the runs; wall time, peak RSS)")
print("%-44s %-28s %-28s" % ("", *maps))
rows = [("floor: plain H5Dread (decompress only)", "floor"),
        ("mva-pca -k 10 (default method)", "pca"),
        ("PyMca numpyCovariancePCA (whole process)", "pymca"),
        ("scikit-learn PCA randomized (whole process)", "sklearn"),
        ("mva-nmf -k 6", "nmf"),
        ("scikit-learn NMF cd/nndsvda (whole process)", "sknmf")]
for name, key in rows:
    print("%-44s %-28s %-28s" % (name, *(fmt("%s-%s" % (key, m)) for m in maps)))


def ratio(num, den):
    """best run over best run, and the range pairing best with worst"""
    a, b = span(num), span(den)
    if a is None or b is None:
        return "-"
    return "%.2fx (%.2f-%.2f)" % (a[0] / b[0], a[0] / b[1], a[1] / b[0])


def cpu(label):
    r = runs.get(label)
    return min(x[1] for x in r) if r else None


def faster_peer(m):
    peers = [span("%s-%s" % (p, m)) for p in ("pymca", "sklearn")]
    peers = [p for p in peers if p]
    return min(peers, key=lambda s: s[0]) if peers else None


print()
print("goal 1, mva-pca / floor <= 2x:")
for m in maps:
    print("  %-7s %s" % (m, ratio("pca-" + m, "floor-" + m)))
print("goal 2, faster peer / mva-pca >= 3x, mva-pca RSS <= 100 MB:")
for m in maps:
    p, s = faster_peer(m), span("pca-" + m)
    if p and s:
        print("  %-7s %.1fx (faster peer %.2f s, mva-pca %.2f-%.2f s), RSS %.0f MB" %
              (m, p[0] / s[1], p[0], s[0], s[1], s[2]))
print("goal 3, scikit-learn NMF / mva-nmf >= 5x at <= its error:")
e_mva, e_sk = errors.get("mva-nmf", []), errors.get("scikit-learn NMF", [])
for i, m in enumerate(maps):
    a, b = span("sknmf-" + m), span("nmf-" + m)
    if a and b:
        print("  %-7s %.1fx (scikit-learn %.2f s, mva-nmf %.2f-%.2f s); relative error "
              "mva-nmf %s, scikit-learn %s" %
              (m, a[0] / b[1], a[0], b[0], b[1],
               "%.6f" % e_mva[i] if i < len(e_mva) else "-",
               "%.6f" % e_sk[i] if i < len(e_sk) else "-"))
if rate:
    print("limit 4, mva-pca -k 10 on 2 cores with perfect overlap: covariance pass >= "
          "(inflate + Gram) / 2, + eigen 0.15 s:")
    n, p = 101 * 200, 1750  # live channels of both maps (the others are dead)
    gram = n * p * (p + 1) / 2 / rate
    for m in maps:
        f, s = cpu("floor-" + m), span("pca-" + m)
        if f and s:
            lim = (f + gram) / 2 + 0.15
            print("  %-7s inflate %.2f core-s (the floor's CPU time) + Gram %.2f core-s -> "
                  "limit %.2f s; mva-pca %.2f s (CPU %.2f s) = %.2fx the limit" %
                  (m, f, gram, lim, s[0], cpu("pca-" + m), s[0] / lim))
