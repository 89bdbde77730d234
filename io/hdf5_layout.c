/*
 * Facility layouts of the HDF5 reader: files recognised by their structure, without a path,
 * with their detector elements and the datasets that normalise them.  Each layout was read
 * from its writer's code or documentation (the replicas in tests/interop/make_layouts.py
 * cite where):
 *
 *   MAPS_RAW  (APS XRF-Maps raw fly scans)  /MAPS_RAW/data_a..data_z, each (channels, rows,
 *             cols); livetime, realtime, inputcounts, ouputcounts (sic) (elements, rows, cols)
 *   MAPS      (APS MAPS / XRF-Maps)         /MAPS/Spectra/mca_arr or /MAPS/mca_arr (channels,
 *             rows, cols); /MAPS/Spectra/Elapsed_Livetime, Elapsed_Realtime, Input_Counts,
 *             Output_Counts (rows, cols); scalers /MAPS/Scalers/Values + Names (or
 *             /MAPS/scalers + /MAPS/scaler_names) (scalers, rows, cols)
 *   PyXRF     (NSLS-II)                     /xrfmap/detsum/counts (the elements' sum, written
 *             by PyXRF) and /xrfmap/det1..detN/counts (rows, cols, channels); scalers
 *             /xrfmap/scalers/val (rows, cols, scalers) + name
 *   Xspress3 NeXus (Diamond)                the NeXus default plot is 4-D (rows, cols,
 *             elements, channels), with dtc_factors (rows, cols, elements) beside it
 *   Odin/Xspress3                           /data (frames, elements, channels) in a file
 *             without NeXus groups: refused unless --detector (elements) or --channel-axis
 *             (a plain map) says which reading is meant; dtc and the Xspress scalers
 *             (frames, elements) in the meta file PREFIX_meta.h5 beside it (below)
 *   Odin/Xspress3 (xspress-detector)       /mca_N (frames, 1, channels), one dataset a detector
 *             channel N, the meta file's column N
 *
 * Opening one: --detector selects the elements (default: all, summed; PyXRF's own detsum
 * when it exists), each is a plain reader of its dataset (or of its slice of a 4-D one), and
 * src/combine.c sums them with the --norm weights, which the layout's datasets resolve.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "combine.h"
#include "hdf5int.h"
#include "mva/hdf5.h"
#include "stackint.h"

#define MAX_EL 16

struct h5_layout {
    char name[48];
    size_t nel;
    char path[MAX_EL][PATH_CAP]; /* one dataset per element, or path[0] with an element axis */
    char names[MAX_EL][32];
    int eaxis;                   /* element axis of path[0], -1 = one dataset per element */
    int chfirst;                 /* 1 channels first, 0 last */
    char sum[PATH_CAP];          /* a precomputed sum of all elements (PyXRF), "" none */
    char livetime[PATH_CAP], realtime[PATH_CAP], icr[PATH_CAP], ocr[PATH_CAP], dtc[PATH_CAP];
    char scaler_vals[PATH_CAP], scaler_names[PATH_CAP];
    int scalers_last;            /* scaler values (rows, cols, n) rather than (n, rows, cols) */
    char pos[2][PATH_CAP];       /* motor positions of each pixel (rows, cols) or, pos[0]
                                  * alone, both (2, rows, cols): snake rows are found there */
    char reset[PATH_CAP];        /* subtracted from livetime (Xspress reset ticks), "" none */
    char meta[PATH_CAP];         /* the file of the normalisation datasets, "" the input */
    char meta_note[PATH_CAP];    /* Odin: the meta file found and what it holds, or where it
                                  * was looked for */
    char calib[PATH_CAP];        /* [offset, slope, quadratic] keV of every element, "" none */
    size_t frames;               /* Odin mca_N: frames a dataset (read as a 1 x frames map) */
    int meta_col[MAX_EL];        /* Odin mca_N: the meta file's column of each element (N) */
    int by_col;                  /* meta_col holds: elements pick their columns by name */
};

/* ---- small helpers ---- */

static hid_t open_ro(const char *file)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
#if H5_VERSION_GE(1, 10, 7)
    H5Pset_file_locking(fapl, 1, 1);
#endif
    hid_t f = H5Fopen(file, H5F_ACC_RDONLY, fapl);
    H5Pclose(fapl);
    return f;
}

static int is_dataset(hid_t f, const char *path)
{
    return h5_object_type(f, path) == H5I_DATASET;
}

/* Rank and dimensions of the dataset at path; 0 when there is none. */
static int dataset_dims(hid_t f, const char *path, hsize_t *dims)
{
    if (!is_dataset(f, path))
        return 0;
    hid_t d = H5Dopen2(f, path, H5P_DEFAULT);
    if (d < 0)
        return 0;
    hid_t s = H5Dget_space(d);
    int rank = H5Sget_simple_extent_ndims(s);
    if (rank >= 1 && rank <= 4)
        H5Sget_simple_extent_dims(s, dims, NULL);
    else
        rank = 0;
    H5Sclose(s);
    H5Dclose(d);
    return rank;
}

/* Copies the first of the candidate paths that is a dataset into out ("" when none is). */
static void first_of(hid_t f, char *out, const char *const *cand)
{
    out[0] = '\0';
    for (; *cand != NULL; cand++)
        if (is_dataset(f, *cand)) {
            snprintf(out, PATH_CAP, "%s", *cand);
            return;
        }
}

static void add_element(h5_layout *L, const char *path, const char *name)
{
    if (L->nel >= MAX_EL)
        return;
    snprintf(L->path[L->nel], PATH_CAP, "%s", path);
    snprintf(L->names[L->nel], sizeof L->names[0], "%s", name);
    L->nel++;
}

/* ---- recognising ---- */

static int detect_maps_raw(hid_t f, h5_layout *L)
{
    if (!is_dataset(f, "/MAPS_RAW/data_a"))
        return 0;
    snprintf(L->name, sizeof L->name, "MAPS_RAW (APS XRF-Maps raw)");
    for (char c = 'a'; c <= 'z'; c++) {
        char path[64], name[16];
        snprintf(path, sizeof path, "/MAPS_RAW/data_%c", c);
        snprintf(name, sizeof name, "data_%c", c);
        if (!is_dataset(f, path))
            break;
        add_element(L, path, name);
    }
    L->chfirst = 1;
    first_of(f, L->livetime, (const char *const[]){"/MAPS_RAW/livetime", NULL});
    first_of(f, L->realtime, (const char *const[]){"/MAPS_RAW/realtime", NULL});
    first_of(f, L->icr, (const char *const[]){"/MAPS_RAW/inputcounts", NULL});
    first_of(f, L->ocr, (const char *const[]){"/MAPS_RAW/ouputcounts", "/MAPS_RAW/outputcounts",
                                              NULL});
    return 1;
}

static int detect_maps(hid_t f, h5_layout *L)
{
    char mca[PATH_CAP];
    first_of(f, mca, (const char *const[]){"/MAPS/Spectra/mca_arr", "/MAPS/mca_arr", NULL});
    if (mca[0] == '\0')
        return 0;
    snprintf(L->name, sizeof L->name, "MAPS (APS MAPS / XRF-Maps)");
    add_element(L, mca, "mca_arr");
    L->chfirst = 1;
    /* XRF-Maps' save_energy_calib (src/io/file/hdf5_io.h): Energy_Calibration holds the
     * energy offset, slope and quadratic term (keV), Energy the channels' energies */
    first_of(f, L->calib, (const char *const[]){"/MAPS/Spectra/Energy_Calibration",
                                                "/MAPS/energy_calib", NULL});
    first_of(f, L->livetime, (const char *const[]){"/MAPS/Spectra/Elapsed_Livetime", NULL});
    first_of(f, L->realtime, (const char *const[]){"/MAPS/Spectra/Elapsed_Realtime", NULL});
    first_of(f, L->icr, (const char *const[]){"/MAPS/Spectra/Input_Counts", NULL});
    first_of(f, L->ocr, (const char *const[]){"/MAPS/Spectra/Output_Counts", NULL});
    first_of(f, L->scaler_vals, (const char *const[]){"/MAPS/Scalers/Values", "/MAPS/scalers",
                                                      NULL});
    first_of(f, L->scaler_names, (const char *const[]){"/MAPS/Scalers/Names",
                                                       "/MAPS/scaler_names", NULL});
    /* XRF-Maps writes the positions as /MAPS/Scan/x_axis, y_axis, hard-linked as
     * /MAPS/x_axis, y_axis (src/io/file/hdf5_io.h, _save_scan_meta_data) */
    first_of(f, L->pos[0], (const char *const[]){"/MAPS/Scan/x_axis", "/MAPS/x_axis", NULL});
    first_of(f, L->pos[1], (const char *const[]){"/MAPS/Scan/y_axis", "/MAPS/y_axis", NULL});
    return 1;
}

static int detect_pyxrf(hid_t f, h5_layout *L)
{
    first_of(f, L->sum, (const char *const[]){"/xrfmap/detsum/counts", NULL});
    for (int k = 1; k <= MAX_EL; k++) {
        char path[64], name[16];
        snprintf(path, sizeof path, "/xrfmap/det%d/counts", k);
        snprintf(name, sizeof name, "det%d", k);
        if (!is_dataset(f, path))
            break;
        add_element(L, path, name);
    }
    if (L->nel == 0 && L->sum[0] == '\0')
        return 0;
    if (L->nel == 0)
        add_element(L, L->sum, "detsum");
    snprintf(L->name, sizeof L->name, "PyXRF (NSLS-II)");
    L->chfirst = 0;
    first_of(f, L->scaler_vals, (const char *const[]){"/xrfmap/scalers/val", NULL});
    first_of(f, L->scaler_names, (const char *const[]){"/xrfmap/scalers/name", NULL});
    L->scalers_last = 1;
    /* (2, rows, cols), flipped together with the counts when PyXRF puts snake rows back
     * (pyxrf/model/load_data_from_db.py, flip_data): they run as the stored rows do */
    first_of(f, L->pos[0], (const char *const[]){"/xrfmap/positions/pos", NULL});
    return 1;
}

typedef struct {
    const hsize_t *dims; /* rows, cols, elements the dtc factors must have */
    char found[PATH_CAP];
} dtc_search;

static herr_t find_dtc(hid_t root, const char *name, const H5L_info_t *info, void *data)
{
    dtc_search *s = data;
    const char *base = strrchr(name, '/');
    hsize_t d[4];
    base = base ? base + 1 : name;
    if (info->type != H5L_TYPE_HARD || strcmp(base, "dtc_factors") != 0 ||
        dataset_dims(root, name, d) != 3 || d[0] != s->dims[0] || d[1] != s->dims[1] ||
        d[2] != s->dims[2])
        return 0;
    snprintf(s->found, sizeof s->found, "/%s", name);
    return 1;
}

/* A 4-D dataset (the NeXus default plot, or the path given): Diamond's Xspress3 NeXus
 * when dtc_factors of its (rows, cols, elements) are in the file; any other 4-D dataset only
 * when --detector says that axis 2 holds elements. */
static int detect_4d(hid_t f, const char *want, const mva_open_opts *opts, h5_layout *L)
{
    char path[PATH_CAP];
    hsize_t dims[4];
    if (want[0] != '\0') {
        if (!h5_join_path(path, sizeof path, "/", want))
            return 0;
    } else if (h5_nexus_follow(f, "/", path, sizeof path) <= 0) {
        return 0;
    }
    if (dataset_dims(f, path, dims) != 4 || dims[2] > MAX_EL)
        return 0;
    dtc_search s = {dims, ""};
    H5Lvisit(f, H5_INDEX_NAME, H5_ITER_INC, find_dtc, &s);
    if (s.found[0] == '\0' && opts->detector == NULL)
        return 0;
    snprintf(L->name, sizeof L->name, "%s",
             s.found[0] ? "Xspress3 NeXus (Diamond)" : "4-D (rows, cols, elements, channels)");
    snprintf(L->dtc, sizeof L->dtc, "%s", s.found);
    L->eaxis = 2;
    L->chfirst = 0;
    for (size_t e = 0; e < dims[2]; e++) {
        char name[24];
        snprintf(name, sizeof name, "%u", (unsigned)e);
        add_element(L, path, name);
    }
    return 1;
}

/* ---- Odin's meta file ----
 *
 * odin-data's meta writer (python/src/odin_data/meta_writer/meta_writer.py: FILE_SUFFIX
 * "_meta.h5", named from the acquisition's file prefix) and Diamond's Xspress subclass
 * (xspress-detector, python/src/xspress_detector/data/xspress_meta_writer.py) write, at the
 * root of PREFIX_meta.h5: dtc (frames, elements) float64, the dead-time correction factor of
 * each frame and element; scalar_0..scalar_8 (frames, elements) int32, the Xspress scalers
 * (0 time and 1 reset ticks, in clock ticks; 3 all events, 4 all good, 5-6 in-window, 7
 * pile-up); inp_est (frames, elements); sum (frames).  The data files are named from the
 * same prefix plus "_A", "_000001" parts, so the meta file is looked for as STEM_meta.h5 with
 * STEM the file's name less its extension, then less each trailing "_part". */

static int is_odin_meta(const char *path)
{
    if (!mva_hdf5_is_hdf5(path))
        return 0;
    hid_t f = open_ro(path);
    if (f < 0)
        return 0;
    int yes = is_dataset(f, "/dtc") || is_dataset(f, "/scalar_0");
    H5Fclose(f);
    return yes;
}

/* The meta file beside an Odin data file into L->meta ("" when none), and L->meta_note. */
static void odin_meta_find(const char *file, h5_layout *L)
{
    char stem[PATH_CAP], cand[PATH_CAP], tried[PATH_CAP] = "";
    L->meta[0] = '\0';
    if (strlen(file) + 10 >= sizeof stem)
        return;
    snprintf(stem, sizeof stem, "%s", file);
    char *base = strrchr(stem, '/');
    base = base ? base + 1 : stem;
    char *dot = strrchr(base, '.');
    if (dot != NULL && dot != base)
        *dot = '\0';
    for (;;) {
        size_t len = strlen(stem);
        memcpy(cand, stem, len);
        memcpy(cand + len, "_meta.h5", sizeof "_meta.h5");
        if (strcmp(cand, file) != 0 && is_odin_meta(cand)) {
            memcpy(L->meta, cand, len + sizeof "_meta.h5");
            return;
        }
        size_t used = strlen(tried);
        snprintf(tried + used, sizeof tried - used, "%s%s", used ? ", " : "",
                 cand + (base - stem));
        char *cut = strrchr(base, '_');
        if (cut == NULL || cut == base)
            break;
        *cut = '\0';
    }
    snprintf(L->meta_note, sizeof L->meta_note,
             "no Odin meta file beside it: looked for %.960s", tried);
}

/* What the meta file offers, for the summary: "odin_meta.h5: dtc (20, 4), ...". */
static void odin_meta_describe(h5_layout *L)
{
    hid_t f = open_ro(L->meta);
    hsize_t d[4];
    const char *base = strrchr(L->meta, '/');
    size_t len = (size_t)snprintf(L->meta_note, sizeof L->meta_note, "meta file %s:",
                                  base ? base + 1 : L->meta);
    static const char *const what[][2] = {{"/dtc", "dead-time factors"},
                                          {"/scalar_0", "time, clock ticks"},
                                          {"/scalar_1", "reset ticks"},
                                          {"/inp_est", "input count rate estimate"}};
    for (size_t k = 0; f >= 0 && k < sizeof what / sizeof what[0]; k++) {
        int rank = dataset_dims(f, what[k][0], d);
        if (rank != 2 || len >= sizeof L->meta_note)
            continue;
        len += (size_t)snprintf(L->meta_note + len, sizeof L->meta_note - len,
                                "%s %s (%llu, %llu) (%s)", k ? "," : "", what[k][0] + 1,
                                (unsigned long long)d[0], (unsigned long long)d[1], what[k][1]);
        if (k == 0)
            snprintf(L->dtc, sizeof L->dtc, "%s", what[k][0]);
        else if (k == 1)
            snprintf(L->livetime, sizeof L->livetime, "%s", what[k][0]);
        else if (k == 2)
            snprintf(L->reset, sizeof L->reset, "%s", what[k][0]);
    }
    if (f >= 0)
        H5Fclose(f);
    if (L->reset[0] == '\0') /* the time alone is no live time */
        L->livetime[0] = '\0';
}

/* Odin's Xspress3 files hold /data (frames, elements, channels) and nothing says so; a plain
 * (rows, cols, channels) map at /data looks the same.  Either option decides. */
static int detect_odin(hid_t f, const mva_open_opts *opts, h5_layout *L, const char *file,
                       mva_error *err)
{
    hsize_t d[4];
    char s[64];
    if (dataset_dims(f, "/data", d) != 3 || d[1] > MAX_EL || d[2] < 64)
        return 0;
    hid_t ds = H5Dopen2(f, "/data", H5P_DEFAULT);
    int marked = h5_attr_str(ds, "interpretation", 0, s, sizeof s, NULL) ||
                 h5_attr_str(ds, "mva_channel_axis", 0, s, sizeof s, NULL) ||
                 h5_attr_nums(ds, "mva_channel_axis", (double[1]){0}, 1);
    H5Dclose(ds);
    if (marked || opts->channel_axis != MVA_STACK_AXIS_AUTO)
        return 0;
    if (opts->detector == NULL)
        return mva_error_set(err, MVA_EINVAL,
                             "%s::/data: shape %llux%llux%llu reads two ways: Odin/Xspress3 "
                             "(%llu frames of %llu detector elements, %llu channels) or a map of "
                             "%llu x %llu pixels of %llu channels; say which: --detector sum (or "
                             "N) for detector elements, --channel-axis last for a map",
                             file, (unsigned long long)d[0], (unsigned long long)d[1],
                             (unsigned long long)d[2], (unsigned long long)d[0],
                             (unsigned long long)d[1], (unsigned long long)d[2],
                             (unsigned long long)d[0], (unsigned long long)d[1],
                             (unsigned long long)d[2]);
    snprintf(L->name, sizeof L->name, "Odin/Xspress3 (frames, elements, channels)");
    L->eaxis = 1;
    L->chfirst = 0;
    for (size_t e = 0; e < d[1]; e++) {
        char name[24];
        snprintf(name, sizeof name, "%u", (unsigned)e);
        add_element(L, "/data", name);
    }
    odin_meta_find(file, L);
    if (L->meta[0] != '\0')
        odin_meta_describe(L);
    return 1;
}

/* xspress-detector's frame processor (cpp/data/frameProcessor/src/XspressProcessPlugin.cpp,
 * example/xspress3/fp1.json) has odin-data write one dataset a detector channel, /mca_N
 * (frames, aux, channels) with aux 1 unless resolution grades are kept, N the channel's
 * number across all the frame processors (file PREFIX_A_000001.h5 holds mca_0..3,
 * PREFIX_B_000001.h5 mca_4..7): the meta file's column N is that element's. */
static int detect_odin_mca(hid_t f, const char *file, h5_layout *L)
{
    hsize_t d[4], d0[4] = {0, 0, 0, 0};
    for (int k = 0; k < 64 && L->nel < MAX_EL; k++) {
        char path[24], name[24];
        snprintf(path, sizeof path, "/mca_%d", k);
        if (!is_dataset(f, path))
            continue;
        if (dataset_dims(f, path, d) != 3 || d[1] != 1 || d[2] < 64 ||
            (L->nel > 0 && (d[0] != d0[0] || d[2] != d0[2]))) {
            L->nel = 0;
            return 0; /* not as the writer makes them: the plain reader lists them */
        }
        memcpy(d0, d, sizeof d0);
        L->meta_col[L->nel] = k;
        snprintf(name, sizeof name, "mca_%d", k);
        add_element(L, path, name);
    }
    if (L->nel == 0)
        return 0;
    snprintf(L->name, sizeof L->name, "Odin/Xspress3 (mca_N per element)");
    L->chfirst = 0;
    L->frames = (size_t)d0[0];
    L->by_col = 1;
    odin_meta_find(file, L);
    if (L->meta[0] != '\0')
        odin_meta_describe(L);
    return 1;
}

int h5_layout_detect(const char *file, const char *want, const mva_open_opts *opts,
                     h5_layout **lay, mva_error *err)
{
    *lay = NULL;
    if (!mva_hdf5_is_hdf5(file))
        return MVA_OK; /* the plain reader says why */
    hid_t f = open_ro(file);
    if (f < 0)
        return MVA_OK;
    h5_layout *L = calloc(1, sizeof *L);
    if (L == NULL) {
        H5Fclose(f);
        return mva_error_set(err, MVA_ENOMEM, "%s: out of memory", file);
    }
    L->eaxis = -1;
    int found;
    if (want[0] == '\0')
        found = detect_maps_raw(f, L) || detect_maps(f, L) || detect_pyxrf(f, L) ||
                detect_odin_mca(f, file, L) || detect_4d(f, want, opts, L);
    else
        found = detect_4d(f, want, opts, L);
    int rc = MVA_OK;
    if (!found && want[0] == '\0' && h5_nexus_follow(f, "/", (char[PATH_CAP]){0}, PATH_CAP) == 0) {
        int o = detect_odin(f, opts, L, file, err);
        found = o > 0;
        if (o < 0)
            rc = o;
    }
    H5Fclose(f);
    if (found && rc == MVA_OK)
        *lay = L;
    else
        free(L);
    return rc;
}

/* ---- normalisation datasets ---- */

typedef struct {
    const h5_layout *L;
    const char *file;
    size_t rows, cols;
} norm_ctx;

/* Element k of a 1-D string dataset (fixed or variable length) into buf; 0 when absent. */
static int string_at(hid_t f, const char *path, size_t k, char *buf, size_t cap, size_t *n)
{
    int ok = 0;
    hid_t d = H5Dopen2(f, path, H5P_DEFAULT);
    if (d < 0)
        return 0;
    hid_t ft = H5Dget_type(d), sp = H5Dget_space(d), mt = H5Tcopy(H5T_C_S1);
    hssize_t cnt = H5Sget_simple_extent_npoints(sp);
    void *data = NULL;
    if (H5Tget_class(ft) != H5T_STRING || cnt < 1 || k >= (size_t)cnt)
        goto done;
    *n = (size_t)cnt;
    H5Tset_cset(mt, H5Tget_cset(ft));
    if (H5Tis_variable_str(ft) > 0) {
        H5Tset_size(mt, H5T_VARIABLE);
        char **vl = data = calloc((size_t)cnt, sizeof(char *));
        if (vl == NULL || H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, vl) < 0)
            goto done;
        snprintf(buf, cap, "%s", vl[k] ? vl[k] : "");
        H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, vl);
    } else {
        /* one byte more than the file's: a name that fills its field (NULLPAD "time" in 4
         * bytes) would lose its last character to the terminator of a same-size C string */
        size_t size = H5Tget_size(ft) + 1;
        H5Tset_size(mt, size);
        if ((data = calloc((size_t)cnt, size)) == NULL ||
            H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
            goto done;
        size_t len = 0;
        const char *s = (const char *)data + k * size;
        while (len < size && s[len] != '\0')
            len++;
        while (len > 0 && s[len - 1] == ' ')
            len--;
        snprintf(buf, cap, "%.*s", (int)len, s);
    }
    ok = 1;
done:
    free(data);
    H5Tclose(mt);
    H5Sclose(sp);
    H5Tclose(ft);
    H5Dclose(d);
    return ok;
}

/* The scaler called name ("i0" also matches the usual names of the incoming-beam monitor):
 * its index, or -1; known gets the names for the message. */
static long find_scaler(hid_t f, const h5_layout *L, const char *name, char *known, size_t cap)
{
    static const char *i0_names[] = {"i0", "iodet", "us_ic", "sclr_i0", "I0", NULL};
    size_t n = 0;
    char s[64];
    known[0] = '\0';
    for (size_t k = 0; string_at(f, L->scaler_names, k, s, sizeof s, &n); k++) {
        size_t used = strlen(known);
        snprintf(known + used, cap - used, "%s%s", used ? ", " : "", s);
        if (strcasecmp(s, name) == 0)
            return (long)k;
        if (strcmp(name, "i0") == 0)
            for (const char **c = i0_names; *c; c++)
                if (strcasecmp(s, *c) == 0)
                    return (long)k;
    }
    return -1;
}

static int read_scaler(const norm_ctx *c, const char *name, double **v, char *src, size_t cap,
                       mva_error *err)
{
    const h5_layout *L = c->L;
    char known[512];
    hsize_t d[4];
    if (L->scaler_vals[0] == '\0' || L->scaler_names[0] == '\0')
        return mva_error_set(err, MVA_ENOTFOUND, "--norm %s: %s (%s layout) has no scalers",
                             name, c->file, L->name);
    hid_t f = open_ro(c->file);
    if (f < 0)
        return mva_error_set(err, MVA_EIO, "%s: cannot open", c->file);
    long k = find_scaler(f, L, name, known, sizeof known);
    int rank = dataset_dims(f, L->scaler_vals, d);
    size_t n = c->rows * c->cols, ns = L->scalers_last ? (size_t)d[2] : (size_t)d[0];
    int rc = MVA_OK;
    double *all = NULL;
    if (k < 0)
        rc = mva_error_set(err, MVA_ENOTFOUND, "--norm %s: no such scaler in %s::%s (it has %s)",
                           name, c->file, L->scaler_names, known);
    else if (rank != 3 || d[L->scalers_last ? 0 : 1] * d[L->scalers_last ? 1 : 2] != n ||
             (size_t)k >= ns)
        rc = mva_error_set(err, MVA_EFORMAT, "%s::%s: scalers not of the map's %zu pixels",
                           c->file, L->scaler_vals, n);
    else if ((all = malloc(n * ns * sizeof *all)) == NULL || (*v = malloc(n * sizeof **v)) == NULL)
        rc = mva_error_set(err, MVA_ENOMEM, "out of memory");
    else {
        hid_t ds = H5Dopen2(f, L->scaler_vals, H5P_DEFAULT);
        if (H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, all) < 0)
            rc = mva_error_set(err, MVA_EIO, "%s::%s: cannot read", c->file, L->scaler_vals);
        H5Dclose(ds);
        for (size_t i = 0; i < n && rc == MVA_OK; i++)
            (*v)[i] = L->scalers_last ? all[i * ns + (size_t)k] : all[(size_t)k * n + i];
        snprintf(src, cap, "%s[%s]", L->scaler_vals, name);
    }
    free(all);
    H5Fclose(f);
    return rc;
}

/* The file of the layout's normalisation datasets (Odin's meta file, else the input). */
static const char *norm_file(const norm_ctx *c)
{
    return c->L->meta[0] ? c->L->meta : c->file;
}

/* The source of a layout dataset for the description: "/x", or "meta.h5::/x". */
static void norm_source(const norm_ctx *c, const char *path, char *src, size_t cap)
{
    if (c->L->meta[0])
        snprintf(src, cap, "%s::%s", c->L->meta, path);
    else
        snprintf(src, cap, "%s", path);
}

/* A (frames, columns) dataset of the meta file for the elements of an mca_N layout: element
 * e takes column meta_col[e].  *v element-major (nel x n). */
static int read_meta_columns(const norm_ctx *c, const char *path, double **v, size_t *vnel,
                             mva_error *err)
{
    const h5_layout *L = c->L;
    size_t n = c->rows * c->cols, ncol = 0;
    double *all = NULL;
    hsize_t d[4];
    hid_t f = open_ro(L->meta);
    int rank = f >= 0 ? dataset_dims(f, path, d) : 0;
    if (f >= 0)
        H5Fclose(f);
    /* any other shape: the generic reader's message, with the shapes expected */
    size_t want = rank == 2 && d[0] == n && d[1] >= 2 ? (size_t)d[1] : L->nel;
    int rc = mva_norm_read_dataset(L->meta, path, -1, c->rows, c->cols, want, &all, &ncol, err);
    if (rc != MVA_OK)
        return rc;
    if ((*v = malloc(L->nel * n * sizeof **v)) == NULL) {
        free(all);
        return mva_error_set(err, MVA_ENOMEM, "out of memory");
    }
    for (size_t e = 0; e < L->nel && rc == MVA_OK; e++) {
        size_t col = (size_t)L->meta_col[e];
        if (col >= ncol)
            rc = mva_error_set(err, MVA_EFORMAT, "%s::%s has %zu column%s (elements); %s of %s "
                               "needs column %zu", L->meta, path, ncol, ncol == 1 ? "" : "s",
                               L->names[e], c->file, col);
        else
            memcpy(*v + e * n, all + col * n, n * sizeof **v);
    }
    free(all);
    if (rc != MVA_OK) {
        free(*v);
        *v = NULL;
    }
    *vnel = L->nel;
    return rc;
}

/* A per-element dataset of the layout: by column from Odin's meta file for mca_N, else read
 * whole against the map and its elements. */
static int read_layout_dataset(const norm_ctx *c, const char *path, double **v, size_t *vnel,
                               mva_error *err)
{
    const h5_layout *L = c->L;
    if (L->by_col && L->meta[0] != '\0')
        return read_meta_columns(c, path, v, vnel, err);
    return mva_norm_read_dataset(L->meta[0] ? L->meta : c->file, path, -1, c->rows, c->cols,
                                 L->nel, v, vnel, err);
}

/* Odin without its meta file: where it was looked for and how to name the factors. */
static int no_meta(const norm_ctx *c, const char *name, mva_error *err)
{
    return mva_error_set(err, MVA_ENOTFOUND,
                         "--norm %s: %s (%s layout): %s; Odin's meta writer puts the dead-time "
                         "factors (/dtc) and the scalers (/scalar_0 time, /scalar_1 reset ticks) "
                         "there: put it beside the data file, or name the factors: --norm "
                         "dtc:FILE_meta.h5::/dtc", name, c->file, c->L->name, c->L->meta_note);
}

/* Dead-time factors: the layout's own, else ICR/OCR x realtime/livetime from its counters. */
static int read_dtc(const norm_ctx *c, double **v, size_t *vnel, char *src, size_t cap,
                    mva_error *err)
{
    const h5_layout *L = c->L;
    if (L->dtc[0] != '\0') {
        norm_source(c, L->dtc, src, cap);
        return read_layout_dataset(c, L->dtc, v, vnel, err);
    }
    if (L->meta_note[0] != '\0' && L->meta[0] == '\0')
        return no_meta(c, "dtc", err);
    if (L->icr[0] == '\0' || L->ocr[0] == '\0')
        return mva_error_set(err, MVA_ENOTFOUND,
                             "--norm dtc: %s (%s layout) has neither dead-time factors nor "
                             "input/output count rates", c->file, L->name);
    const char *paths[4] = {L->icr, L->ocr, L->realtime, L->livetime};
    double *a[4] = {NULL, NULL, NULL, NULL};
    size_t an[4] = {0, 0, 0, 0};
    int rc = MVA_OK;
    for (int k = 0; k < 4 && rc == MVA_OK; k++)
        if (paths[k][0] != '\0')
            rc = mva_norm_read_dataset(c->file, paths[k], -1, c->rows, c->cols, L->nel, &a[k],
                                       &an[k], err);
    size_t n = c->rows * c->cols, m = an[0];
    for (int k = 1; k < 4 && rc == MVA_OK; k++)
        if (a[k] != NULL && an[k] != m)
            rc = mva_error_set(err, MVA_EFORMAT, "%s: %s and %s differ in elements", c->file,
                               paths[0], paths[k]);
    if (rc == MVA_OK && (*v = malloc(n * m * sizeof **v)) == NULL)
        rc = mva_error_set(err, MVA_ENOMEM, "out of memory");
    if (rc == MVA_OK) {
        mva_norm_dtc_from_rates(a[0], a[1], a[2], a[3], n * m, *v);
        *vnel = m;
        snprintf(src, cap, "%s/%s x %s/%s", L->icr, L->ocr,
                 L->realtime[0] ? L->realtime : "1", L->livetime[0] ? L->livetime : "1");
    }
    for (int k = 0; k < 4; k++)
        free(a[k]);
    return rc;
}

/* Xspress live time (xspress-detector's dead-time code: dt = (time - reset ticks) x clock
 * period): time minus reset ticks, per element and frame, in clock ticks. */
static int read_live_ticks(const norm_ctx *c, double **v, size_t *vnel, char *src, size_t cap,
                           mva_error *err)
{
    const h5_layout *L = c->L;
    double *reset = NULL;
    size_t rnel = 0;
    int rc = read_layout_dataset(c, L->livetime, v, vnel, err);
    if (rc == MVA_OK)
        rc = read_layout_dataset(c, L->reset, &reset, &rnel, err);
    if (rc == MVA_OK && rnel != *vnel)
        rc = mva_error_set(err, MVA_EFORMAT, "%s: %s and %s differ in elements", norm_file(c),
                           L->livetime, L->reset);
    for (size_t i = 0; rc == MVA_OK && i < c->rows * c->cols * rnel; i++)
        (*v)[i] -= reset[i];
    if (rc == MVA_OK) {
        norm_source(c, L->livetime, src, cap);
        size_t len = strlen(src);
        snprintf(src + len, cap - len, " - %s (clock ticks)", L->reset);
    } else {
        free(*v);
        *v = NULL;
    }
    free(reset);
    return rc;
}

static int resolve_norm(void *ctx, const mva_norm_term *t, double **v, size_t *vnel, char *src,
                        size_t cap, mva_error *err)
{
    const norm_ctx *c = ctx;
    const h5_layout *L = c->L;
    *vnel = 1;
    if (strcmp(t->name, "livetime") == 0) {
        if (L->livetime[0] == '\0' && L->meta_note[0] != '\0' && L->meta[0] == '\0')
            return no_meta(c, "livetime", err);
        if (L->livetime[0] == '\0')
            return mva_error_set(err, MVA_ENOTFOUND, "--norm livetime: %s (%s layout) has no "
                                 "live time", c->file, L->name);
        if (L->reset[0] != '\0')
            return read_live_ticks(c, v, vnel, src, cap, err);
        norm_source(c, L->livetime, src, cap);
        return read_layout_dataset(c, L->livetime, v, vnel, err);
    }
    if (strcmp(t->name, "dtc") == 0)
        return read_dtc(c, v, vnel, src, cap, err);
    return read_scaler(c, t->name, v, src, cap, err);
}

/* ---- opening ---- */

/* Elements with their own energy calibrations: where the used ones differ, the warning says
 * so and names the one the sum carries (the first used element's), since a channel-by-channel
 * sum then blurs the peaks. */
void h5_note_calibrations(mva_stack *const *st, size_t nused, const char *const *names,
                          mva_stack_info *info)
{
    const mva_calib *c0 = &mva_stack_get_info(st[0])->calib;
    for (size_t k = 1; k < nused; k++) {
        const mva_calib *ck = &mva_stack_get_info(st[k])->calib;
        if (ck->known == c0->known && ck->a == c0->a && ck->b == c0->b && ck->c == c0->c)
            continue;
        size_t len = strlen(info->warnings);
        snprintf(info->warnings + len, sizeof info->warnings - len,
                 "the elements' energy calibrations differ (%s: E = %g + %g ch, %s: E = %g + %g "
                 "ch); the sum uses %s's, and its peaks are blurred: pick one element with "
                 "--detector N for exact energies\n",
                 names[0], c0->a, c0->b, names[k], ck->a, ck->b, names[0]);
        return;
    }
}

/* The layout's energy calibration into info (when the user gave none): three finite values,
 * an increasing slope; otherwise the file's is left unused and the note says why. */
static void layout_calibration(const char *file, const h5_layout *L, const mva_open_opts *opts,
                               mva_stack_info *info)
{
    double v[3];
    if (L->calib[0] == '\0' || opts->calib.known)
        return;
    hid_t f = open_ro(file);
    int ok = f >= 0 && h5_read_small(f, L->calib, v, 3) == 3 && isfinite(v[0]) &&
             isfinite(v[1]) && isfinite(v[2]) && v[1] > 0;
    if (f >= 0)
        H5Fclose(f);
    if (ok) {
        info->calib = (mva_calib){1, v[0], v[1], v[2]};
        return;
    }
    size_t len = strlen(info->warnings);
    snprintf(info->warnings + len, sizeof info->warnings - len,
             "%s is not 3 finite values [offset, slope > 0, quadratic]: no energy calibration "
             "(give one with --calib)\n", L->calib);
}

/* What --norm can use in this layout and where it comes from, for the summary ("" when
 * nothing): " livetime (/MAPS_RAW/livetime), dtc (...), i0 and monitor:NAME (...: names)".
 * With Odin's meta file the names alone (its note lists the datasets). */
static void norm_sources(const char *file, const h5_layout *L, char *buf, size_t cap)
{
    int dtc = L->dtc[0] || (L->icr[0] && L->ocr[0]), brief = L->meta[0] != '\0';
    buf[0] = '\0';
    if (L->livetime[0])
        mva_text_append(buf, cap, brief ? " livetime" : " livetime (%s)", L->livetime);
    if (dtc && (brief || L->dtc[0]))
        mva_text_append(buf, cap, brief ? "%s dtc" : "%s dtc (%s)", buf[0] ? "," : "",
                        L->dtc);
    else if (dtc)
        mva_text_append(buf, cap, "%s dtc (%s / %s x %s / %s)", buf[0] ? "," : "", L->icr,
                        L->ocr, L->realtime[0] ? L->realtime : "1",
                        L->livetime[0] ? L->livetime : "1");
    if (L->scaler_vals[0] == '\0')
        return;
    char known[512] = "";
    hid_t f = open_ro(file);
    if (f >= 0) {
        find_scaler(f, L, "", known, sizeof known);
        H5Fclose(f);
    }
    mva_text_append(buf, cap, "%s i0 and monitor:NAME (%s: %s)", buf[0] ? "," : "",
                    L->scaler_vals, known);
}

static int open_elements(mva_stack **st, const char *file, const h5_layout *L,
                         const unsigned char *use, const mva_open_opts *opts, size_t *nused,
                         mva_error *err)
{
    int rc = MVA_OK;
    /* the elements of one dataset are read together, each chunk once */
    h5_eshare *share = L->eaxis >= 0 ? h5_eshare_new() : NULL;
    if (L->eaxis >= 0 && share == NULL)
        return mva_error_set(err, MVA_ENOMEM, "%s: out of memory", file);
    /* Odin's mca_N (frames, 1, channels): frames are pixels, one row of them as for /data */
    mva_open_opts one = *opts;
    if (L->frames > 0 && one.rows == 0) {
        one.rows = 1;
        one.cols = L->frames;
    }
    *nused = 0;
    for (size_t e = 0; e < L->nel && rc == MVA_OK; e++) {
        if (!use[e])
            continue;
        h5_select sel = {L->eaxis, L->eaxis >= 0 ? e : 0, L->chfirst, share};
        rc = h5_open_one(&st[*nused], file, L->path[e], &sel, &one, err);
        if (rc == MVA_OK)
            (*nused)++;
    }
    h5_eshare_release(share);
    return rc;
}

/* ---- snake rows from the positions ---- */

/* 1 when the stored rows run back and forth along x (rows x cols positions of one motor):
 * every odd row opposite to row 0, every even row with it.  0 when they all run one way, or
 * the positions do not say (a row without movement, NaN: an aborted scan's zeros). */
static int rows_alternate(const double *x, size_t rows, size_t cols)
{
    double d0 = x[cols - 1] - x[0];
    size_t odd = 0;
    if (rows < 2 || cols < 2 || !isfinite(d0) || d0 == 0)
        return 0;
    for (size_t r = 1; r < rows; r++) {
        double d = x[r * cols + cols - 1] - x[r * cols];
        if (!isfinite(d) || d == 0)
            continue;
        int same = (d > 0) == (d0 > 0);
        if ((int)(r % 2) == same)
            return 0;
        odd += r % 2;
    }
    return odd > 0;
}

/* Snake rows from the layout's positions: the motor that moves along row 0 is the fast one;
 * 1 when its rows alternate.  Positions missing or of another shape: 0 (nothing said). */
static int positions_snake(const char *file, const h5_layout *L, size_t rows, size_t cols)
{
    double *v[2] = {NULL, NULL}, travel[2] = {0, 0};
    size_t vnel = 0, n = rows * cols;
    mva_error quiet;
    int fast = -1, snake = 0, one = L->pos[0][0] != '\0' && L->pos[1][0] == '\0';
    if (one) { /* both motors in one dataset */
        if (mva_norm_read_dataset(file, L->pos[0], -1, rows, cols, 2, &v[0], &vnel,
                                  &quiet) == MVA_OK && vnel == 2)
            v[1] = v[0] + n;
    } else {
        for (int k = 0; k < 2; k++)
            if (L->pos[k][0] == '\0' ||
                mva_norm_read_dataset(file, L->pos[k], -1, rows, cols, 1, &v[k], &vnel,
                                      &quiet) != MVA_OK || vnel != 1)
                break;
    }
    for (int k = 0; k < 2 && v[0] != NULL && v[1] != NULL; k++) {
        travel[k] = fabs(v[k][cols - 1] - v[k][0]);
        if (isfinite(travel[k]) && travel[k] > 0 && (fast < 0 || travel[k] > travel[fast]))
            fast = k;
    }
    if (fast >= 0)
        snake = rows_alternate(v[fast], rows, cols);
    if (!one)
        free(v[1]);
    free(v[0]);
    return snake;
}

int h5_layout_open(mva_stack **out, const char *file, h5_layout *L, const mva_open_opts *opts,
                   mva_error *err)
{
    unsigned char use[MAX_EL];
    mva_stack *st[MAX_EL] = {NULL};
    size_t nused = 0;
    double *w = NULL;
    mva_norm_factors *factors = NULL;
    char desc[512] = "", avail[768];
    const char *names[MAX_EL];
    int rc = MVA_OK;
    *out = NULL;
    if (opts->scan != NULL) {
        rc = mva_error_set(err, MVA_EINVAL, "%s: --scan %s: a %s file holds one map, no scans",
                           file, opts->scan, L->name);
        goto done;
    }
    if ((rc = mva_detector_select(opts->detector, L->nel, use, err)) < 0) {
        mva_error_prefix(err, rc, "%s (%s layout): ", file, L->name);
        goto done;
    }
    rc = MVA_OK;
    /* PyXRF's own sum of every element, when that is what is asked and no per-element
     * normalisation needs the elements apart. */
    h5_layout sum;
    int use_sum = L->sum[0] != '\0' && L->nel > 1 && opts->detector == NULL;
    if (use_sum) {
        sum = *L;
        sum.nel = 1;
        snprintf(sum.path[0], PATH_CAP, "%s", L->sum);
        unsigned char one = 1;
        rc = open_elements(st, file, &sum, &one, opts, &nused, err);
    } else {
        rc = open_elements(st, file, L, use, opts, &nused, err);
    }
    if (rc != MVA_OK)
        goto done;
    mva_stack_info info = *mva_stack_get_info(st[0]);
    norm_ctx nc = {L, file, info.rows, info.cols};
    rc = mva_norm_build_factors(opts->norm, file, info.rows, info.cols, use_sum ? 1 : L->nel,
                                use_sum ? NULL : use, resolve_norm, &nc, &w, &factors, desc,
                                sizeof desc, err);
    if (rc != MVA_OK)
        goto done;
    snprintf(info.layout_name, sizeof info.layout_name, "%s", L->name);
    for (size_t e = 0; e < L->nel; e++)
        names[e] = L->names[e];
    if (L->nel > 1) {
        mva_detector_describe(use, L->nel, names, info.elements, sizeof info.elements);
        if (use_sum) {
            size_t len = strlen(info.elements);
            snprintf(info.elements + len, sizeof info.elements - len, " (precomputed: %s)",
                     L->sum);
        }
    }
    snprintf(info.norm, sizeof info.norm, "%s", desc);
    layout_calibration(file, L, opts, &info);
    if (nused > 1) {
        const char *used_names[MAX_EL];
        for (size_t e = 0, k = 0; e < L->nel; e++)
            if (use[e])
                used_names[k++] = L->names[e];
        h5_note_calibrations(st, nused, used_names, &info);
    }
    if (strncmp(L->name, "Odin", 4) == 0 && opts->rows == 0) /* nothing in it says the map */
        mva_text_append(info.warnings, sizeof info.warnings, "the map shape is not in an Odin "
                        "file: its %zu frames read as one row; give the map with --shape "
                        "ROWSxCOLS\n", info.cols);
    norm_sources(file, L, avail, sizeof avail);
    if (opts->norm == NULL && (avail[0] != '\0' || L->meta_note[0] != '\0')) {
        size_t len = strlen(info.warnings);
        snprintf(info.warnings + len, sizeof info.warnings - len,
                 "not normalised; this %s file offers %s%s%s%s%s\n", L->name,
                 avail[0] ? "--norm" : "no --norm", avail, L->meta_note[0] ? " (" : "",
                 L->meta_note, L->meta_note[0] ? ")" : "");
    }
    if (nused > 1 || w != NULL) {
        if (nused > 1 && L->eaxis < 0)
        {
            char a[PATH_CAP];
            snprintf(a, sizeof a, "%s", mva_stack_get_info(st[0])->path);
            size_t len = strlen(a);
            snprintf(info.path, sizeof info.path, "%s", a);
            if (len + 8 < sizeof info.path)
                snprintf(info.path + len, sizeof info.path - len, " .. %s",
                         strrchr(mva_stack_get_info(st[nused - 1])->path, '/') + 1);
        }
        rc = mva_combine_open(out, st, nused, w, &info, err);
        w = NULL;
        nused = 0;
        if (rc == MVA_OK) {
            mva_stack_set_norm(*out, factors);
            factors = NULL;
        }
    } else {
        *mva_stack_info_edit(st[0]) = info;
        *out = st[0];
        nused = 0;
    }
    if (rc == MVA_OK && opts->snake == MVA_SNAKE_AUTO &&
        positions_snake(file, L, info.rows, info.cols) &&
        (rc = mva_snake_wrap(*out, err)) != MVA_OK) {
        mva_stack_close(*out);
        *out = NULL;
    }
done:
    for (size_t k = 0; k < nused; k++)
        mva_stack_close(st[k]);
    free(w);
    free(factors);
    free(L);
    return rc;
}
