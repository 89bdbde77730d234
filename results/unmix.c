/*
 * Rotated and independent components added to a PCA entry of a results file (layout in
 * mva/rotate.h): spectra over the model's energy (or channel) axis, images, and the
 * rotation or ICA matrices with their convergence.  Through the commit helper, as every
 * output: a temporary copy renamed under the lock.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commit.h"
#include "internal.h"
#include "mva/rotate.h"

/* k spectra (k x p) over the model's energy (or channel) axis, and k images. */
static int component_pair(wctx *c, hid_t e, const mva_pca_model *m, const char *spectra_name,
                          const char *images_name, const char *what, const double *spectra,
                          const double *images)
{
    double *axis = malloc(m->p * sizeof *axis);
    if (axis == NULL)
        return mva_error_set(c->err, MVA_ENOMEM, "%s: out of memory", c->path);
    for (size_t j = 0; j < m->p; j++)
        axis[j] = m->var_energy ? m->var_energy[j] : (double)m->var_ch0[j];
    char t1[128], t2[128];
    snprintf(t1, sizeof t1, "%s spectra", what);
    snprintf(t2, sizeof t2, "%s images", what);
    spec_axis ax = {m->var_energy ? "energy" : "channel", axis, m->p};
    const char *data[1] = {"data"};
    hsize_t di[3] = {m->k, m->rows, m->cols};
    int rc = res_curves_nxdata(c, e, spectra_name, t1, data, (const double *const[]){spectra}, 1,
                               m->k, &ax);
    if (rc == MVA_OK)
        rc = res_plain_nxdata(c, e, images_name, t2, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 3, di,
                              images);
    free(axis);
    return rc;
}

/* Named scalars of one NXcollection: int64 counts and float64 values. */
typedef struct {
    const char *name;
    int64_t i;
    double d;
    int is_int;
} scalar;

static int scalars(wctx *c, hid_t g, const scalar *v, size_t n)
{
    int rc = MVA_OK;
    for (size_t i = 0; rc == MVA_OK && i < n; i++)
        rc = v[i].is_int ? res_dset_i64(c, g, v[i].name, 0, NULL, &v[i].i)
                         : res_scalar_f64(c, g, v[i].name, v[i].d);
    return rc;
}

static int rotation_group(wctx *c, hid_t e, const mva_pca_model *m, const mva_rotate_result *r,
                          const char *method)
{
    hsize_t kk[2] = {r->k, r->k};
    const scalar v[] = {{"gamma", 0, r->gamma, 0},
                        {"iterations", (int64_t)r->iterations, 0, 1},
                        {"converged", r->converged, 0, 1},
                        {"criterion", 0, r->criterion, 0}};
    hid_t g = -1;
    int rc = res_group_new(c, e, "rotation", "NXcollection", &g);
    if (rc == MVA_OK)
        rc = res_dset_f64(c, g, "matrix", 2, kk, r->rotation);
    if (rc == MVA_OK)
        rc = res_dset_str(c, g, "method", method);
    if (rc == MVA_OK)
        rc = scalars(c, g, v, sizeof v / sizeof v[0]);
    if (rc == MVA_OK)
        rc = res_dset_str(c, g, "description",
                          "orthomax rotation of the eigenspectra: rotated spectra = matrix^T "
                          "eigenspectra, rotated images = matrix^T eigenimages");
    h5u_close(g);
    if (rc == MVA_OK)
        rc = component_pair(c, e, m, "rotated_eigenspectra", "rotated_eigenimages", method,
                            r->spectra, r->images);
    return rc;
}

static int ica_matrices(wctx *c, hid_t g, const mva_ica *a)
{
    hsize_t kk[2] = {a->k, a->k}, k1[1] = {a->k};
    const struct {
        const char *name;
        const double *v;
    } mats[] = {{"unmixing", a->unmixing}, {"mixing", a->mixing}, {"whitening", a->whitening},
                {"w", a->w},               {"w_init", a->w_init}};
    int rc = MVA_OK;
    for (size_t i = 0; rc == MVA_OK && i < sizeof mats / sizeof mats[0]; i++)
        rc = res_dset_f64(c, g, mats[i].name, 2, kk, mats[i].v);
    if (rc == MVA_OK)
        rc = res_dset_f64(c, g, "mean", 1, k1, a->mean);
    return rc;
}

static int ica_group(wctx *c, hid_t e, const mva_pca_model *m, const mva_ica *a, double tol)
{
    size_t k = a->k;
    double *spec = malloc((k ? k : 1) * m->p * sizeof *spec);
    if (spec == NULL)
        return mva_error_set(c->err, MVA_ENOMEM, "%s: out of memory", c->path);
    for (size_t q = 0; q < k; q++) /* independent spectra = mixing^T C */
        for (size_t j = 0; j < m->p; j++) {
            double s = 0;
            for (size_t i = 0; i < k; i++)
                s += a->mixing[i * k + q] * m->components[i * m->p + j];
            spec[q * m->p + j] = s;
        }
    const scalar v[] = {{"iterations", (int64_t)a->iterations, 0, 1},
                        {"converged", a->converged, 0, 1},
                        {"final_change", 0, a->final_change, 0},
                        {"tol", 0, tol, 0},
                        {"seed", (int64_t)a->seed, 0, 1},
                        {"n_used", (int64_t)a->n_used, 0, 1}};
    hid_t g = -1;
    int rc = res_group_new(c, e, "ica", "NXcollection", &g);
    if (rc == MVA_OK)
        rc = ica_matrices(c, g, a);
    if (rc == MVA_OK)
        rc = scalars(c, g, v, sizeof v / sizeof v[0]);
    if (rc == MVA_OK)
        rc = res_dset_str(c, g, "description",
                          "FastICA (symmetric, G = log cosh) of the eigenimages: sources = "
                          "unmixing (eigenimages - mean), unmixing = w whitening; independent "
                          "spectra = mixing^T eigenspectra");
    h5u_close(g);
    if (rc == MVA_OK)
        rc = component_pair(c, e, m, "independent_spectra", "independent_images",
                            "independent component", spec, a->sources);
    free(spec);
    return rc;
}

/* The groups into entry of the open temporary c->file, which must not hold them yet. */
static int add_groups(wctx *c, const char *entry, const mva_pca_model *m,
                      const mva_rotate_result *rot, const char *method, const mva_ica *ica,
                      double tol)
{
    hid_t e = H5Lexists(c->file, entry, H5P_DEFAULT) > 0 ? H5Gopen2(c->file, entry, H5P_DEFAULT)
                                                         : -1;
    int rc = MVA_OK;
    if (e < 0)
        rc = mva_error_set(c->err, MVA_ENOTFOUND, "%s: no entry /%s to add components to",
                           c->path, entry);
    else if ((rot && H5Lexists(e, "rotation", H5P_DEFAULT) > 0) ||
             (ica && H5Lexists(e, "ica", H5P_DEFAULT) > 0))
        rc = mva_error_set(c->err, MVA_EINVAL, "%s: /%s already holds a %s", c->path, entry,
                           rot ? "rotation" : "ICA");
    if (rc == MVA_OK && rot)
        rc = rotation_group(c, e, m, rot, method);
    if (rc == MVA_OK && ica)
        rc = ica_group(c, e, m, ica, tol);
    h5u_close(e);
    return rc;
}

int mva_rotate_write(const char *path, const char *entry, const mva_pca_model *m,
                     const mva_rotate_result *rot, const char *method, const mva_ica *ica,
                     double ica_tol, mva_error *err)
{
    if ((rot && (rot->k != m->k || rot->p != m->p || rot->n != m->rows * m->cols)) ||
        (ica && (ica->k != m->k || ica->n != m->rows * m->cols)))
        return mva_error_set(err, MVA_EINVAL, "%s: the rotation or ICA does not match the "
                             "model of /%s", path, entry);
    if (access(path, F_OK) != 0)
        return mva_error_set(err, MVA_ENOTFOUND, "%s: no such results file", path);
    h5u_quiet q;
    h5u_quiet_on(&q);
    if (H5Fis_hdf5(path) <= 0) {
        h5u_quiet_off(&q);
        return mva_error_set(err, MVA_EINVAL, "%s exists and is not an HDF5 file: not "
                             "overwritten", path);
    }
    /* Uncompressed, as these groups have always been written. */
    wctx c = {-1, path, err, h5u_utf8_type(), 0};
    mva_commit cm = {0};
    int rc = c.str_t < 0 ? mva_error_set(err, MVA_EIO, "%s: cannot start writing", path)
                         : mva_commit_begin(&cm, path, MVA_COMMIT_ADD, err);
    if (rc == MVA_OK && !cm.existed)
        rc = mva_error_set(err, MVA_ENOTFOUND, "%s: no such results file", path);
    if (rc == MVA_OK) {
        c.file = H5Fopen(cm.tmp, H5F_ACC_RDWR, H5P_DEFAULT);
        if (c.file < 0)
            rc = mva_error_set(err, MVA_EIO, "%s: cannot write (temporary %s)", path, cm.tmp);
    }
    if (rc == MVA_OK)
        rc = add_groups(&c, entry, m, rot, method, ica, ica_tol);
    if (c.file >= 0 && H5Fclose(c.file) < 0 && rc == MVA_OK)
        rc = mva_error_set(err, MVA_EIO, "%s: closing failed", path);
    if (rc == MVA_OK)
        rc = mva_commit_finish(&cm, err);
    mva_commit_abort(&cm);
    h5u_close(c.str_t);
    h5u_quiet_off(&q);
    return rc;
}
