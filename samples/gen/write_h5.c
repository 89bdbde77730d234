/*
 * mva-gen's output: one NeXus HDF5 file, the stack at /entry/data/data (in the stored type,
 * layout, chunks and filter the options ask for), the calibration, instrument and process
 * groups, and the ground truth under /truth (phase maps and spectra, the trace's mask, map
 * and spectrum, the mean expected spectrum).  Written under a temporary name that main
 * renames (src/commit.h); only the main thread calls HDF5.
 */
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <time.h>

#include "gen.h"

/* ------------------------------------------------------------------------------------------ */
/* Errors: the most specific message on HDF5's error stack                                    */

static herr_t h5_innermost(unsigned n, const H5E_error2_t *e, void *data)
{
    /* Walked upwards, entry 0 is the most specific error.  System errors read "file write
     * failed: time = ..., errno = 27, error message = 'File too large', ...": keep the
     * head and the quoted message. */
    if (n != 0 || e->desc == NULL)
        return 0;
    const char *msg = strstr(e->desc, "error message = '"), *colon = strchr(e->desc, ':');
    if (msg != NULL && colon != NULL) {
        msg += strlen("error message = '");
        const char *end = strchr(msg, '\'');
        snprintf(data, 512, "%.*s: %.*s", (int)(colon - e->desc), e->desc,
                 (int)(end ? end - msg : (ptrdiff_t)strlen(msg)), msg);
    } else {
        snprintf(data, 512, "%s", e->desc);
    }
    return 0;
}

/* Like gen_fail(), appending the most specific message on HDF5's error stack.  Call it right
 * after the failed call: any HDF5 API call that succeeds (even H5Sclose) clears the stack. */
static int h5fail(const char *what)
{
    char detail[512] = "";
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, h5_innermost, detail);
    H5Eclear2(H5E_DEFAULT);
    if (detail[0] != '\0')
        return gen_fail("HDF5 failed %s: %s", what, detail);
    return gen_fail("HDF5 failed %s", what);
}

static hid_t dtype_mem(int dt)
{
    switch (dt) {
    case DT_UINT8: return H5T_NATIVE_UINT8;
    case DT_UINT16: return H5T_NATIVE_UINT16;
    case DT_UINT32: return H5T_NATIVE_UINT32;
    case DT_INT32: return H5T_NATIVE_INT32;
    case DT_INT64: return H5T_NATIVE_INT64;
    case DT_FLOAT32: return H5T_NATIVE_FLOAT;
    default: return H5T_NATIVE_DOUBLE;
    }
}

static hid_t dtype_file(int dt)
{
    switch (dt) {
    case DT_UINT8: return H5T_STD_U8LE;
    case DT_UINT16: return H5T_STD_U16LE;
    case DT_UINT32: return H5T_STD_U32LE;
    case DT_INT32: return H5T_STD_I32LE;
    case DT_INT64: return H5T_STD_I64LE;
    case DT_FLOAT32: return H5T_IEEE_F32LE;
    default: return H5T_IEEE_F64LE;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Shape of the stored stack                                                                  */

static void row_slab(const options *o, size_t r, hsize_t start[3])
{
    if (o->flat) {
        start[0] = o->channel_first ? 0 : (hsize_t)(r * o->cols);
        start[1] = o->channel_first ? (hsize_t)(r * o->cols) : 0;
    } else {
        start[0] = o->channel_first ? 0 : (hsize_t)r;
        start[1] = o->channel_first ? (hsize_t)r : 0;
        start[2] = 0;
    }
}

int gen_shape_plan(shape *s, const options *o)
{
    hsize_t R = o->rows, C = o->cols, P = o->channels, N = R * C;
    const hsize_t *u = (const hsize_t[3]){o->chunk_user[0], o->chunk_user[1], o->chunk_user[2]};
    memset(s, 0, sizeof *s);
    if (o->flat) {
        s->rank = 2;
        hsize_t un = o->chunk_user_n == 3 ? u[0] * u[1] : u[0];
        hsize_t up = o->chunk_user_n == 3 ? u[2] : u[1];
        int f = o->channel_first; /* channel axis at index 0 instead of 1 */
        s->dims[f] = N, s->dims[!f] = P;
        s->count[f] = C, s->count[!f] = P;
        s->chunk[f] = un, s->chunk[!f] = up;
        s->axis[f] = "pixels", s->axis[!f] = "channels";
    } else {
        s->rank = 3;
        if (o->chunk == CHUNK_USER && o->chunk_user_n != 3)
            return gen_fail("--chunk: expected R,C,P (three sizes) for a 3-D map, got %d",
                            o->chunk_user_n);
        /* Logical axes (rows, cols, channels) -> stored positions. */
        int pr = o->channel_first ? 1 : 0, pc = pr + 1, pp = o->channel_first ? 0 : 2;
        s->dims[pr] = R, s->dims[pc] = C, s->dims[pp] = P;
        s->count[pr] = 1, s->count[pc] = C, s->count[pp] = P;
        s->chunk[pr] = u[0], s->chunk[pc] = u[1], s->chunk[pp] = u[2];
        s->axis[pr] = "rows", s->axis[pc] = "cols", s->axis[pp] = "channels";
    }
    s->chunked = o->chunk != CHUNK_NONE;
    if (o->chunk == CHUNK_ROW)
        memcpy(s->chunk, s->count, sizeof s->chunk);
    if (!s->chunked)
        return 0;
    hsize_t bytes = gen_dtypes[o->dtype].size;
    for (int d = 0; d < s->rank; d++) {
        if (s->chunk[d] < 1 || s->chunk[d] > s->dims[d])
            return gen_fail("--chunk: %llu %s per chunk, but the map has %llu",
                            (unsigned long long)s->chunk[d], s->axis[d],
                        (unsigned long long)s->dims[d]);
        bytes *= s->chunk[d];
    }
    if (bytes >= (hsize_t)1 << 32)
        return gen_fail("--chunk: a chunk of %llu bytes exceeds HDF5's 4 GiB limit; give smaller "
                        "R,C,P",
                    (unsigned long long)bytes);
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* HDF5 helpers: each closes what it opens.                                                   */

static hid_t str_type(void)
{
    /* Variable-length UTF-8, as h5py writes Python str. */
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t >= 0 && (H5Tset_size(t, H5T_VARIABLE) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0)) {
        H5Tclose(t);
        return -1;
    }
    return t;
}

/* Attribute (is_attr) or dataset named name on obj: one string (rank 0) or n (rank 1). */
static int put_strings(hid_t obj, const char *name, int rank, const char *const *v, size_t n,
                       int is_attr)
{
    hsize_t dim = n;
    hid_t t = str_type(), sp = rank ? H5Screate_simple(1, &dim, NULL) : H5Screate(H5S_SCALAR);
    hid_t h = -1;
    herr_t rc = -1;
    if (t >= 0 && sp >= 0) {
        if (is_attr) {
            h = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
            rc = h >= 0 ? H5Awrite(h, t, v) : -1;
        } else {
            h = H5Dcreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
            rc = h >= 0 ? H5Dwrite(h, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) : -1;
        }
    }
    if (rc < 0) {
        char what[300];
        snprintf(what, sizeof what, "writing %s '%s'", is_attr ? "attribute" : "dataset", name);
        h5fail(what);
    }
    if (h >= 0)
        (is_attr ? H5Aclose : H5Dclose)(h);
    if (sp >= 0)
        H5Sclose(sp);
    if (t >= 0)
        H5Tclose(t);
    return rc < 0 ? -1 : 0;
}

static int attr_str(hid_t obj, const char *name, const char *value)
{
    return put_strings(obj, name, 0, &value, 1, 1);
}

static int dset_str(hid_t obj, const char *name, const char *value)
{
    return put_strings(obj, name, 0, &value, 1, 0);
}

/* Numeric attribute (is_attr) or dataset: rank 0 (scalar) or 1..3 with dims; mtype in memory,
 * ftype in the file.  Optional units attribute on datasets. */
static int put_numbers(hid_t obj, const char *name, hid_t ftype, hid_t mtype, int rank,
                       const hsize_t *dims, const void *buf, const char *units, int is_attr)
{
    hid_t sp = rank ? H5Screate_simple(rank, dims, NULL) : H5Screate(H5S_SCALAR), h = -1;
    herr_t rc = -1;
    if (sp >= 0 && is_attr) {
        h = H5Acreate2(obj, name, ftype, sp, H5P_DEFAULT, H5P_DEFAULT);
        rc = h >= 0 ? H5Awrite(h, mtype, buf) : -1;
    } else if (sp >= 0) {
        h = H5Dcreate2(obj, name, ftype, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        rc = h >= 0 ? H5Dwrite(h, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) : -1;
    }
    if (rc < 0) {
        char what[300];
        snprintf(what, sizeof what, "writing %s '%s'", is_attr ? "attribute" : "dataset", name);
        h5fail(what);
    } else if (!is_attr && units != NULL && attr_str(h, "units", units) < 0) {
        rc = -1;
    }
    if (h >= 0)
        (is_attr ? H5Aclose : H5Dclose)(h);
    if (sp >= 0)
        H5Sclose(sp);
    return rc < 0 ? -1 : 0;
}

static int dset_f64(hid_t obj, const char *name, int rank, const hsize_t *dims, const double *buf,
                    const char *units)
{
    return put_numbers(obj, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, rank, dims, buf, units, 0);
}

static int attr_i64(hid_t obj, const char *name, int rank, const hsize_t *dims, const int64_t *buf)
{
    return put_numbers(obj, name, H5T_STD_I64LE, H5T_NATIVE_INT64, rank, dims, buf, NULL, 1);
}

static hid_t group_new(hid_t parent, const char *name, const char *nx_class)
{
    hid_t g = H5Gcreate2(parent, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) {
        char what[300];
        snprintf(what, sizeof what, "creating group '%s'", name);
        h5fail(what);
        return -1;
    }
    if (attr_str(g, "NX_class", nx_class) < 0) {
        H5Gclose(g);
        return -1;
    }
    return g;
}

/* An empty dataset written later row by row; contiguous, no fill (every value is written). */
static hid_t dset_empty(hid_t parent, const char *name, hid_t ftype, int rank, const hsize_t *dims)
{
    hid_t sp = H5Screate_simple(rank, dims, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE), d = -1;
    if (sp >= 0 && dcpl >= 0 && H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER) >= 0)
        d = H5Dcreate2(parent, name, ftype, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (d < 0) {
        char what[300];
        snprintf(what, sizeof what, "creating dataset '%s'", name);
        h5fail(what);
    }
    if (dcpl >= 0)
        H5Pclose(dcpl);
    if (sp >= 0)
        H5Sclose(sp);
    return d;
}

/* Writes buf (shape count) at start of dataset d. */
static int write_slab(hid_t d, hid_t mtype, int rank, const hsize_t *start, const hsize_t *count,
                      const void *buf, const char *what)
{
    hid_t fs = H5Dget_space(d), ms = H5Screate_simple(rank, count, NULL);
    herr_t rc = -1;
    if (fs >= 0 && ms >= 0 &&
        H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) >= 0)
        rc = H5Dwrite(d, mtype, ms, fs, H5P_DEFAULT, buf);
    if (rc < 0)
        h5fail(what);
    if (ms >= 0)
        H5Sclose(ms);
    if (fs >= 0)
        H5Sclose(fs);
    return rc < 0 ? -1 : 0;
}

/* ------------------------------------------------------------------------------------------ */
/* The output file                                                                            */

static int create_stack(writer *w, hid_t nxdata, const options *o, const shape *s)
{
    hid_t sp = H5Screate_simple(s->rank, s->dims, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE), dapl = H5Pcreate(H5P_DATASET_ACCESS);
    int ok = sp >= 0 && dcpl >= 0 && dapl >= 0 && H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER) >= 0;
    if (ok && s->chunked) {
        /* Cache every chunk one map row touches, so that chunks spanning several rows are
         * compressed once, when full (w0 = 1 evicts fully written chunks first). */
        hsize_t touched = 1, bytes = gen_dtypes[o->dtype].size;
        for (int d = 0; d < s->rank; d++) {
            touched *= (s->count[d] + s->chunk[d] - 1) / s->chunk[d] + (s->chunk[d] > 1);
            bytes *= s->chunk[d];
        }
        size_t cache =
            (size_t)(touched * bytes > ((hsize_t)1 << 30) ? (hsize_t)1 << 30 : touched * bytes);
        ok = H5Pset_chunk(dcpl, s->rank, s->chunk) >= 0 &&
             H5Pset_chunk_cache(dapl, (size_t)(touched * 10 + 521), cache + (1 << 20), 1.0) >= 0;
        if (ok && o->comp == COMP_GZIP)
            ok = H5Pset_shuffle(dcpl) >= 0 && H5Pset_deflate(dcpl, (unsigned)o->gzip_level) >= 0;
        if (ok && o->comp == COMP_LZ4)
            ok = H5Pset_shuffle(dcpl) >= 0 &&
                 H5Pset_filter(dcpl, LZ4_FILTER, H5Z_FLAG_MANDATORY, 0, NULL) >= 0;
    }
    if (ok)
        w->data = H5Dcreate2(nxdata, "data", dtype_file(o->dtype), sp, H5P_DEFAULT, dcpl, dapl);
    if (w->data < 0)
        h5fail("creating /entry/data/data");
    if (dapl >= 0)
        H5Pclose(dapl);
    if (dcpl >= 0)
        H5Pclose(dcpl);
    if (sp >= 0)
        H5Sclose(sp);
    if (w->data < 0)
        return -1;

    const char *axis = o->channel_first ? "first" : "last";
    if (attr_str(w->data, "units", "counts") < 0 || attr_str(w->data, "mva_channel_axis", axis) < 0)
        return -1;
    /* NeXus/silx: "spectrum" says the last axis is a spectrum. */
    if (!o->channel_first && attr_str(w->data, "interpretation", "spectrum") < 0)
        return -1;
    if (o->flat) {
        hsize_t two = 2;
        int64_t map[2] = {(int64_t)o->rows, (int64_t)o->cols};
        if (attr_i64(w->data, "mva_map_shape", 1, &two, map) < 0)
            return -1;
    }
    return 0;
}

static int write_nxdata(writer *w, hid_t entry, const options *o, const model *m, const shape *s)
{
    hid_t g = group_new(entry, "data", "NXdata");
    if (g < 0)
        return -1;
    const char *axes[3] = {".", ".", "."};
    int64_t eidx = o->channel_first ? 0 : s->rank - 1;
    axes[eidx] = "energy";
    hsize_t naxes = (hsize_t)s->rank, p = m->p, three = 3;
    double cal[3] = {o->a, o->b, o->c};
    int rc = 0;
    if (attr_str(g, "signal", "data") < 0 || put_strings(g, "axes", 1, axes, naxes, 1) < 0 ||
        attr_i64(g, "energy_indices", 0, NULL, &eidx) < 0 || create_stack(w, g, o, s) < 0 ||
        dset_f64(g, "energy", 1, &p, m->energy, "keV") < 0 ||
        dset_f64(g, "calibration", 1, &three, cal, NULL) < 0)
        rc = -1;
    if (rc == 0) {
        hid_t d = H5Dopen2(g, "calibration", H5P_DEFAULT);
        rc = d < 0 ? h5fail("reopening calibration")
                   : attr_str(d, "formula", "E(keV) = a + b*ch + c*ch^2, calibration = [a, b, c]");
        if (d >= 0)
            H5Dclose(d);
    }
    H5Gclose(g);
    return rc;
}

static int write_instrument(hid_t entry, const options *o)
{
    hid_t ins = group_new(entry, "instrument", "NXinstrument"), mono = -1, det = -1;
    int rc = -1;
    if (ins >= 0 && (mono = group_new(ins, "monochromator", "NXmonochromator")) >= 0 &&
        (det = group_new(ins, "detector", "NXdetector")) >= 0 &&
        dset_f64(mono, "energy", 0, NULL, &o->excitation, "keV") >= 0 &&
        dset_str(det, "description",
                 "simulated Si detector: Gaussian lines, FWHM 100 eV noise + Fano (F = 0.114, "
                 "3.85 eV/pair), 156 eV at Mn Ka") >= 0)
        rc = 0;
    if (det >= 0)
        H5Gclose(det);
    if (mono >= 0)
        H5Gclose(mono);
    if (ins >= 0)
        H5Gclose(ins);
    return rc;
}

static int write_process(hid_t entry, const options *o, const char *cmdline)
{
    char date[64], comp[32];
    time_t now = time(NULL);
    struct tm tm;
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S%z", localtime_r(&now, &tm));
    int64_t seed = (int64_t)o->seed;
    hid_t g = group_new(entry, "process", "NXprocess");
    int rc = 0;
    if (g < 0 || dset_str(g, "program", PROG) < 0 ||
        dset_str(g, "version", MVA_VERSION_STRING) < 0 || dset_str(g, "date", date) < 0 ||
        dset_str(g, "command_line", cmdline) < 0 ||
        put_numbers(g, "seed", H5T_STD_I64LE, H5T_NATIVE_INT64, 0, NULL, &seed, NULL, 0) < 0 ||
        dset_f64(g, "counts", 0, NULL, &o->counts, "counts") < 0 ||
        dset_str(g, "noise", o->noise == NOISE_POISSON ? "poisson" : "none") < 0 ||
        dset_str(g, "dtype", gen_dtypes[o->dtype].name) < 0 ||
        dset_str(g, "compression", gen_comp_name(o, comp, sizeof comp)) < 0)
        rc = -1;
    if (g >= 0)
        H5Gclose(g);
    return rc;
}

static int write_truth_static(writer *w, const options *o, const model *m)
{
    hid_t t = w->truth;
    const char *names[NPHASE], *elems[NPHASE];
    for (int k = 0; k < NPHASE; k++) {
        names[k] = gen_phase_name(k);
        elems[k] = m->phase_elements[k];
    }
    hsize_t ps[2] = {NPHASE, m->p}, p = m->p, nl = (hsize_t)m->nlines;
    hsize_t maps[3] = {NPHASE, o->rows, o->cols}, img[2] = {o->rows, o->cols};
    const char *trace = o->trace >= 0 ? gen_element_symbol(o->trace) : "none";
    static const char *const about =
        "expected[r,c,:] = sum_k phase_maps[k,r,c] * phase_spectra[k,:] + trace_map[r,c] * "
        "trace_spectrum[:]; data = Poisson(expected) (or rounded with --noise none). "
        "mean_expected is the mean of expected over all pixels.";
    if (attr_str(t, "description", about) < 0 ||
        put_strings(t, "phase_names", 1, names, NPHASE, 0) < 0 ||
        put_strings(t, "phase_elements", 1, elems, NPHASE, 0) < 0 ||
        dset_f64(t, "phase_spectra", 2, ps, m->S, "counts") < 0 ||
        dset_f64(t, "trace_spectrum", 1, &p, m->S + (size_t)NPHASE * m->p, "counts") < 0 ||
        dset_str(t, "trace_element", trace) < 0 ||
        put_strings(t, "line_names", 1, m->line_names, nl, 0) < 0 ||
        dset_f64(t, "line_energies", 1, &nl, m->line_energies, "keV") < 0 ||
        dset_f64(t, "energy", 1, &p, m->energy, "keV") < 0)
        return -1;
    if ((w->maps = dset_empty(t, "phase_maps", H5T_IEEE_F64LE, 3, maps)) < 0 ||
        (w->mask = dset_empty(t, "trace_mask", H5T_STD_U8LE, 2, img)) < 0 ||
        (w->trace = dset_empty(t, "trace_map", H5T_IEEE_F64LE, 2, img)) < 0)
        return -1;
    return 0;
}

int gen_writer_close(writer *w, int report)
{
    hid_t *ids[] = {&w->data, &w->maps, &w->mask, &w->trace, &w->truth};
    int bad = 0;
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        if (*ids[i] >= 0 && (ids[i] == &w->truth ? H5Gclose : H5Dclose)(*ids[i]) < 0 && !bad++ &&
            report)
            h5fail("closing the output file");
        *ids[i] = -1;
    }
    /* Nothing may stay open, or H5Fclose would defer the flush past the rename. */
    if (w->file >= 0 && H5Fget_obj_count(w->file, H5F_OBJ_ALL) != 1 && !bad++ && report)
        gen_fail("internal error: HDF5 objects left open in the output file");
    if (w->file >= 0 && H5Fclose(w->file) < 0 && !bad++ && report)
        h5fail("closing the output file");
    w->file = -1;
    return bad ? -1 : 0;
}

int gen_writer_open(writer *w, const options *o, const model *m, const shape *s,
                    const char *cmdline)
{
    mva_error e;
    w->file = w->data = w->maps = w->mask = w->trace = w->truth = -1;
    if (mva_commit_begin(&w->commit, o->output, MVA_COMMIT_NEW, &e) != MVA_OK)
        return gen_fail("-o %s", e.msg);
    if ((w->file = H5Fcreate(w->commit.tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT)) < 0)
        return h5fail("creating the output file");

    char creator[64];
    snprintf(creator, sizeof creator, "%s %s", PROG, MVA_VERSION_STRING);
    if (attr_str(w->file, "default", "entry") < 0 || attr_str(w->file, "creator", creator) < 0)
        return -1;
    hid_t entry = group_new(w->file, "entry", "NXentry");
    if (entry < 0)
        return -1;
    int rc = 0;
    if (attr_str(entry, "default", "data") < 0 ||
        dset_str(entry, "title", "synthetic XRF map with ground truth (mva-gen)") < 0 ||
        write_nxdata(w, entry, o, m, s) < 0 || write_instrument(entry, o) < 0 ||
        write_process(entry, o, cmdline) < 0)
        rc = -1;
    H5Gclose(entry);
    if (rc < 0 || (w->truth = group_new(w->file, "truth", "NXcollection")) < 0)
        return -1;
    return write_truth_static(w, o, m);
}

int gen_put_row(writer *w, const slot *k, const options *o, const shape *s)
{
    hsize_t start[3], mstart[3] = {0, k->row, 0}, mcount[3] = {NPHASE, 1, o->cols};
    row_slab(o, k->row, start);
    if (write_slab(w->data, dtype_mem(o->dtype), s->rank, start, s->count, k->out,
                   "writing a row of /entry/data/data") < 0 ||
        write_slab(w->maps, H5T_NATIVE_DOUBLE, 3, mstart, mcount, k->maps,
                   "writing /truth/phase_maps") < 0 ||
        write_slab(w->mask, H5T_NATIVE_UINT8, 2, mstart + 1, mcount + 1, k->mask,
                   "writing /truth/trace_mask") < 0 ||
        write_slab(w->trace, H5T_NATIVE_DOUBLE, 2, mstart + 1, mcount + 1, k->trace,
                   "writing /truth/trace_map") < 0)
        return -1;
    return 0;
}

/* Mean expected spectrum = (sum of abundances) . S / n: exact, without a pass over X. */
int gen_write_mean(writer *w, const options *o, const model *m, const double Fsum[NCOMP])
{
    double *mean = calloc(m->p, sizeof *mean);
    double n = (double)o->rows * (double)o->cols;
    hsize_t p = m->p;
    if (mean == NULL)
        return gen_fail("out of memory");
    for (size_t ch = 0; ch < m->p; ch++)
        for (int j = 0; j < NCOMP; j++)
            mean[ch] += Fsum[j] * m->S[(size_t)j * m->p + ch] / n;
    int rc = dset_f64(w->truth, "mean_expected", 1, &p, mean, "counts");
    free(mean);
    return rc;
}
