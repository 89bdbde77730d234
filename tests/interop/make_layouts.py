"""Small faithful replicas of the HDF5 layouts facilities write, for tests/cli/test_layouts.sh.

Usage: make_layouts.py DIR.  Each file holds a known map (counts from a fixed seed) so the
test can compute what mva must read with numpy.  Where each structure was read:

- MAPS (APS MAPS / XRF-Maps): AdvancedPhotonSource/XRF-Maps, src/io/file/hdf5_io.cpp (the
  "/MAPS/Spectra/mca_arr" (channels, rows, cols) spectra, "/MAPS/Spectra/Elapsed_Livetime",
  "Elapsed_Realtime", "Input_Counts", "Output_Counts" (rows, cols), "/MAPS/Scalers/Values"
  (scalers, rows, cols) with "Names"); src/io/file/hdf5_io.h save_energy_calib
  ("/MAPS/Spectra/Energy_Calibration" = [offset, slope, quadratic], "Energy" per channel).
- MAPS_RAW: the real file ../shared/realdata/2xfm_0011_2xfm3__0.h5 written by XRF-Maps
  (data_a..data_d (channels, rows, cols) int16; livetime etc. (elements, rows, cols)).
- PyXRF (NSLS-II): NSLS-II/PyXRF docs/data_input.rst ("spectrum from 3 detectors, positions
  of x,y motors and scalers"), xrfmap/detsum/counts and xrfmap/detN/counts (rows, cols,
  channels), xrfmap/scalers/name + val (rows, cols, scalers), xrfmap/positions/name + pos
  (2, rows, cols).  pyxrf/model/load_data_from_db.py flips the positions together with the
  counts when it puts snake rows back (flip_data), so the positions run as the stored rows:
  pyxrf_snake.h5 holds rows as a snake scan records them, positions alike.
- MAPS positions: XRF-Maps src/io/file/hdf5_io.h (_save_scan_meta_data writes
  /MAPS/Scan/x_axis and y_axis, 2-D; hdf5_io.cpp hard-links them as /MAPS/x_axis, y_axis):
  maps_snake.h5 has (rows, cols) positions of a snake scan; maps_row0.h5 the (rows, cols)
  x_axis with only its first row filled, as XRF-Maps' Xspress reader leaves it.
- Diamond Xspress3 NeXus: the NeXus default plot leading to a 4-D data (rows, cols,
  elements, channels) with dtc_factors (rows, cols, elements), as issue 15 describes it.
- Odin/Xspress3: /data (frames, elements, channels) alone in the file (odin-data's file
  writer names the frame dataset "data"), and beside it PREFIX_meta.h5, read from
  DiamondLightSource/xspress-detector python/src/xspress_detector/data/xspress_meta_writer.py
  (XspressMetaWriter._define_detector_datasets: scalar_0..scalar_8 int32 (frames, channels),
  dtc and inp_est float64 (frames, channels), sum int32 (frames,), data_version and
  meta_version int64; the scaler indices from cpp/common/include/xspress3MagicNumbers.h:
  0 time, 1 reset ticks, 2 reset count, 3 all events, 4 all good, 5-6 in window, 7 pile-up)
  and odin-detector/odin-data python/src/odin_data/meta_writer/meta_writer.py (FILE_SUFFIX
  "_meta.h5" after the file prefix; frame, offset and the *_duration datasets, int64).
- PyMca's HDF5 stack (PyMca5 "HDF5 XRF Stack" note): an NXdata whose channel axis dataset
  holds channel numbers without @units.
"""
import os
import sys

import h5py
import numpy as np

D = sys.argv[1]
os.makedirs(D, exist_ok=True)
rng = np.random.default_rng(15)
R, C, P, E = 4, 5, 256, 3


def counts(shape, scale=20.0):
    return rng.poisson(scale, size=shape).astype(np.uint32)


def nxdata(f, entry, name):
    """root @default -> NXentry entry @default -> NXdata name @signal data."""
    f.attrs["default"] = entry
    e = f.create_group(entry)
    e.attrs["NX_class"] = "NXentry"
    e.attrs["default"] = name
    g = e.create_group(name)
    g.attrs["NX_class"] = "NXdata"
    g.attrs["signal"] = "data"
    return g


# MAPS: one element, channel-first, 2048-like ambiguity: P=256 channels of a 70 x 80 map
# would also read as 256 rows x 70 cols x 80 channels; here the layout decides.
with h5py.File(f"{D}/maps.h5", "w") as f:
    mca = counts((P, 70, 80), 3.0)
    f["MAPS/Spectra/mca_arr"] = mca
    f["MAPS/Spectra/Elapsed_Livetime"] = rng.uniform(0.5, 1.5, (70, 80))
    f["MAPS/Spectra/Elapsed_Realtime"] = f["MAPS/Spectra/Elapsed_Livetime"][()] * 1.1
    f["MAPS/Spectra/Input_Counts"] = rng.uniform(1e4, 2e4, (70, 80))
    f["MAPS/Spectra/Output_Counts"] = f["MAPS/Spectra/Input_Counts"][()] * 0.9
    f["MAPS/Scalers/Values"] = rng.uniform(1e5, 2e5, (3, 70, 80))
    f["MAPS/Scalers/Names"] = np.array([b"SRcurrent", b"US_IC", b"DS_IC"])
    cal = np.array([0.012, 0.0101, 2e-7])        # offset, slope, quadratic (keV)
    f["MAPS/Spectra/Energy_Calibration"] = cal
    f["MAPS/Spectra/Energy"] = cal[0] + cal[1] * np.arange(P) + cal[2] * np.arange(P) ** 2
# The same array without the layout around it: two readings, refused.
with h5py.File(f"{D}/maps_bare.h5", "w") as f:
    f["spectra/mca_arr"] = mca

# PyXRF: three elements and their precomputed sum.
with h5py.File(f"{D}/pyxrf.h5", "w") as f:
    dets = [counts((R, C, P)) for _ in range(E)]
    for k, d in enumerate(dets):
        f[f"xrfmap/det{k + 1}/counts"] = d
    f["xrfmap/detsum/counts"] = sum(d.astype(np.uint64) for d in dets).astype(np.uint32)
    f["xrfmap/scalers/name"] = np.array([b"i0", b"time"])
    f["xrfmap/scalers/val"] = rng.uniform(1e3, 2e3, (R, C, 2))
    f["xrfmap/positions/name"] = np.array([b"x_pos", b"y_pos"])
    f["xrfmap/positions/pos"] = np.stack(np.meshgrid(np.arange(C) * 0.1, np.arange(R) * 0.1))

# Snake scans, rows stored as recorded (odd rows right to left), positions alike.
xs = np.arange(C) * 0.1
with h5py.File(f"{D}/pyxrf_snake.h5", "w") as f:
    f["xrfmap/detsum/counts"] = counts((R, C, P))
    x, y = np.meshgrid(xs, np.arange(R) * 0.2)
    x[1::2] = x[1::2, ::-1]
    f["xrfmap/positions/name"] = np.array([b"x_pos", b"y_pos"])
    f["xrfmap/positions/pos"] = np.stack([x, y]) + rng.normal(0, 0.002, (2, R, C))
with h5py.File(f"{D}/maps_snake.h5", "w") as f:
    f["MAPS/Spectra/mca_arr"] = counts((P, R, C), 3.0)
    y, x = np.meshgrid(np.arange(R) * 0.2, xs[::-1], indexing="ij")   # rows run right to left
    x[1::2] = x[1::2, ::-1]
    f["MAPS/Scan/x_axis"], f["MAPS/Scan/y_axis"] = x, y
    f["MAPS/x_axis"], f["MAPS/y_axis"] = f["MAPS/Scan/x_axis"], f["MAPS/Scan/y_axis"]
with h5py.File(f"{D}/maps_row0.h5", "w") as f:
    f["MAPS/Spectra/mca_arr"] = counts((P, R, C), 3.0)
    x, y = np.zeros((R, C)), np.zeros((R, C))
    x[0], y[:, 0] = xs, np.arange(R) * 0.2
    f["MAPS/Scan/x_axis"], f["MAPS/Scan/y_axis"] = x, y

# Diamond Xspress3 NeXus: the default plot is 4-D, dtc_factors beside it.
with h5py.File(f"{D}/xspress3.h5", "w") as f:
    g = nxdata(f, "entry", "xspress3")
    g["data"] = counts((R, C, 4, P))
    g["dtc_factors"] = rng.uniform(1.0, 1.2, (R, C, 4))
# The same with no dtc_factors: the 4-D default plot is refused (no fallback).
with h5py.File(f"{D}/nexus4d.h5", "w") as f:
    g = nxdata(f, "entry", "plot")
    g["data"] = counts((R, C, 4, P))
    g["other"] = counts((R, C, 4))  # the old reader fell back to this as 4 "channels"

# Odin/Xspress3: frames x elements x channels.
with h5py.File(f"{D}/odin.h5", "w") as f:
    f["data"] = counts((20, 4, P))


def odin_meta(path, frames, nel):
    """The meta writer's file: per frame and element dtc factors and the nine scalers."""
    with h5py.File(path, "w") as f:
        for name in ("frame", "offset"):
            f[name] = np.arange(frames, dtype=np.int64)
        for name in ("create_duration", "write_duration", "flush_duration", "close_duration"):
            f[name] = rng.integers(10, 100, 1).astype(np.int64)
        time = rng.integers(7_900_000, 8_100_000, (frames, nel))   # 0.1 s of 80 MHz ticks
        reset = (time * rng.uniform(0.01, 0.2, (frames, nel))).astype(np.int64)
        events = rng.integers(10_000, 200_000, (frames, nel))
        sc = [time, reset, events // 50, events, events * 9 // 10, events // 3, events // 4,
              events // 20, time]
        for k, v in enumerate(sc):
            f[f"scalar_{k}"] = v.astype(np.int32)
        f["dtc"] = rng.uniform(1.0, 1.4, (frames, nel))
        f["inp_est"] = events * f["dtc"][()] / 0.1
        f["sum"] = rng.integers(0, 10**6, frames).astype(np.int32)
        f["data_version"] = np.array([1], dtype=np.int64)
        f["meta_version"] = np.array([1], dtype=np.int64)


odin_meta(f"{D}/odin_meta.h5", 20, 4)
# A data file named PREFIX_000001.h5 finds PREFIX_meta.h5 (not odin_meta.h5); this one's
# meta file stopped two frames short: refused.
with h5py.File(f"{D}/odin_short_000001.h5", "w") as f:
    f["data"] = counts((20, 4, P))
odin_meta(f"{D}/odin_short_meta.h5", 18, 4)
# xspress-detector's own layout (cpp/data/frameProcessor/src/XspressProcessPlugin.cpp pushes
# one frame a channel named "mca_<channel>", (aux, energy bins); example/xspress3/fp1.json and
# fp2.json have odin-data write mca_0..3 to the "_A" file and mca_4..7 to the "_B" one,
# (frames, 1, 4096) uint32): two data files of four elements each, one meta file of eight.
for part, first in (("A", 0), ("B", 4)):
    with h5py.File(f"{D}/xsp_{part}_000001.h5", "w") as f:
        for k in range(first, first + 4):
            f[f"mca_{k}"] = counts((20, 1, P))
odin_meta(f"{D}/xsp_meta.h5", 20, 8)
# No meta file beside it.
os.makedirs(f"{D}/lone", exist_ok=True)
with h5py.File(f"{D}/lone/xsp3.h5", "w") as f:
    f["data"] = counts((20, 4, P))

# PyMca HDF5 stack: channel axis without units.
with h5py.File(f"{D}/pymca.h5", "w") as f:
    g = nxdata(f, "stack", "data")
    g.attrs["axes"] = ["dim_0", "dim_1", "channels"]
    g["data"] = counts((R, C, P))
    g["channels"] = np.arange(P, dtype=np.float64)
    g["dim_0"] = np.arange(R)
    g["dim_1"] = np.arange(C)

# A 3-D map of four elements without a layout, for --detector refusal.
with h5py.File(f"{D}/single.h5", "w") as f:
    f["data"] = counts((R, C, P))
    f["data"].attrs["interpretation"] = "spectrum"

# No layout, several candidates: mva-info lists each once (a hard link twice is one dataset),
# 2-D (pixels, channels) ones included.
with h5py.File(f"{D}/cand.h5", "w") as f:
    f["a/stack"] = counts((R, C, P))
    f["b/link"] = f["a/stack"]
    f["c/other"] = counts((R, C, P))
    f["d/spectra"] = counts((10, P))

# ESRF BLISS scan file (the layout of BLISS's HDF5 writer: one NXentry "N.1" a scan, its
# "title" the scan command, measurement/mca_detK (points, channels) and the counters and
# motor positions a point, instrument/mca_detK/live_time).  Scan 1.1: a complete amesh of
# 3 x 4 points recorded back and forth (snake), two MCA elements; 2.1: the same stopped after
# 9 of 12 points; 3.1: positions off the grid.
def bliss_scan(f, name, npts, snake=True, jitter=None):
    e = f.create_group(name)
    e.attrs["NX_class"] = "NXentry"
    e["title"] = "amesh sy 0 3 3 sz 0 2 2 0.1"
    m = e.create_group("measurement")
    ins = e.create_group("instrument")
    for k in range(2):
        m[f"mca_det{k}"] = counts((npts, P))
        ins.create_group(f"mca_det{k}")[f"live_time"] = rng.uniform(0.05, 0.1, npts)
    m["iodet"] = rng.uniform(1e4, 2e4, npts)
    sy = np.tile(np.arange(4.0), 3).reshape(3, 4)
    if snake:
        sy[1] = sy[1][::-1]
    sy = sy.ravel()[:npts].copy()
    if jitter is not None:
        sy[jitter] += 0.7
    m["sy"] = sy
    m["sz"] = np.repeat(np.arange(3.0), 4)[:npts]


with h5py.File(f"{D}/bliss.h5", "w") as f:
    bliss_scan(f, "1.1", 12)
    # elements with their own gains (mva's generic @calibration rule): the sum must say so
    f["1.1/measurement/mca_det0"].attrs["calibration"] = [0.0, 0.010]
    f["1.1/measurement/mca_det1"].attrs["calibration"] = [0.005, 0.0101]
    bliss_scan(f, "2.1", 9)
    bliss_scan(f, "3.1", 12, snake=False, jitter=6)

# BLISS scans whose title is no mesh (a fly scan): the scanned motors are the names of
# instrument/positioners_start (start positions, one value each) that measurement also holds
# (ESRF's ewoksfluo reads them so: get_scan_position_suburis).  1.1 snake, 2.1 raster,
# 3.1 without positioners_start (nothing says the shape).  4.1 a snake fly scan whose encoders
# jitter (the slow motor by up to a tenth of its step, the fast one by 0.05 of its own): the
# shape still holds.  5.1 the slow motor ramping all along the scan (no rows: refused), 6.1
# the slow motor jittering by up to 0.4 of its step (too much to tell rows: refused).
with h5py.File(f"{D}/bliss_fly.h5", "w") as f:
    for name, snake in (("1.1", True), ("2.1", False), ("3.1", True), ("4.1", True),
                        ("5.1", True), ("6.1", False)):
        bliss_scan(f, name, 12, snake=snake)
        f[name + "/title"][()] = "fscan2d sy 0 1 4 sz 0 1 3 0.1"
        if name != "3.1":
            p = f.create_group(name + "/instrument/positioners_start")
            p["sy"], p["sz"], p["energy"] = 0.0, 0.0, 17.5
    m = f["4.1/measurement"]       # the snake's turn: sy's jitter moves it on (3 -> 3.04)
    m["sy"][...] = m["sy"][()] + np.array([-4, 3, -1, -2, 4, 1, -3, 2, 0, -2, 3, 1]) * 0.01
    m["sz"][...] = m["sz"][()] + np.array([-3, 6, -4, 7, 3, -8, 0, -6, -5, 0, -9, -9]) * 0.01
    f["5.1/measurement/sz"][...] = np.arange(12) / 4.0
    f["6.1/measurement/sz"][...] = f["6.1/measurement/sz"][()] + np.tile([0.4, -0.4, 0, 0], 3)
