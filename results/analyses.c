/* Writing the part of an entry that each analysis owns: PCA, ROI, NMF.  Layout: write.c. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5.h>
#include <zlib.h>

#include "internal.h"

/* ---------------------------------------------------------------------------------------- */
/* Writing: the PCA                                                                         */
/* ---------------------------------------------------------------------------------------- */

/* The spectral axis of the PCA's variables: energy, or the centre of each binned variable
 * (variable j sums channels var_ch0[j] .. var_ch0[j] + bin - 1); *ch is the caller's. */
int res_pca_axis(wctx *c, const mva_pca_model *m, spec_axis *ax, double **ch)
{
    *ax = (spec_axis){"energy", m->var_energy, m->p};
    *ch = NULL;
    if (m->var_energy != NULL)
        return MVA_OK;
    *ch = malloc(m->p * sizeof **ch);
    if (*ch == NULL)
        return mva_error_set(c->err, MVA_ENOMEM, "%s: out of memory", c->path);
    for (size_t j = 0; j < m->p; j++)
        (*ch)[j] = (double)m->var_ch0[j] + ((double)m->bin - 1.0) / 2.0;
    *ax = (spec_axis){"channel", *ch, m->p};
    return MVA_OK;
}

/* The scree plot: eigenvalue against component index, on a log scale in silx.  Its signal
 * is a hard link to the entry's eigenvalues, so the values are stored once. */
static int pca_scree(wctx *c, hid_t entry, const mva_pca_model *m)
{
    hid_t g = -1;
    const char *axes[1] = {"component"};
    int rc = res_nxdata_new(c, entry, "scree", "Scree: eigenvalues of the covariance", "eigenvalues",
                        axes, 1, &g);
    if (rc == MVA_OK && H5Lcreate_hard(entry, "eigenvalues", g, "eigenvalues", H5P_DEFAULT,
                                       H5P_DEFAULT) < 0)
        rc = res_wfail(c, g, "eigenvalues", "link");
    if (rc == MVA_OK)
        rc = res_dset_index(c, g, "component", m->p, 1);
    if (rc == MVA_OK)
        rc = res_attr_str(c, g, ".", "SILX_style", "{\"signal_scale_type\": \"log\"}");
    h5u_close(g);
    return rc;
}

int res_write_pca(wctx *c, hid_t entry, const mva_pca_model *m)
{
    /* With k = 0 the eigenimages are an empty stack (0, rows, cols) but present, so that
     * reading back never special-cases it; the entry then defaults to the scree. */
    spec_axis ax;
    double *ch = NULL;
    int rc = res_pca_axis(c, m, &ax, &ch);
    if (rc == MVA_OK)
        rc = res_write_arrays(c, entry, &res_pca_schema, m, &ax);
    if (rc == MVA_OK)
        rc = pca_scree(c, entry, m);
    free(ch);
    return rc;
}


/* ---------------------------------------------------------------------------------------- */
/* Writing: the ROI result                                                                  */
/* ---------------------------------------------------------------------------------------- */

static int roi_definitions(wctx *c, hid_t entry, const mva_roi_result *r, const char **names)
{
    hid_t g = -1;
    int rc = MVA_OK;
    size_t n = r->nroi;
    double *from = malloc((n ? n : 1) * sizeof *from), *to = malloc((n ? n : 1) * sizeof *to);
    const char **unit = malloc((n ? n : 1) * sizeof *unit);
    if (from == NULL || to == NULL || unit == NULL) {
        rc = mva_error_set(c->err, MVA_ENOMEM, "%s: out of memory", c->path);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        from[i] = r->defs[i].from;
        to[i] = r->defs[i].to;
        unit[i] = r->defs[i].unit == MVA_ROI_KEV ? "keV" : "channel";
    }
    hsize_t dims[1] = {n};
    rc = res_group_new(c, entry, "roi_definitions", "NXcollection", &g);
    if (rc == MVA_OK)
        rc = res_dset_strv(c, g, "names", names, n);
    if (rc == MVA_OK)
        rc = res_dset_f64(c, g, "from", 1, dims, from);
    if (rc == MVA_OK)
        rc = res_dset_f64(c, g, "to", 1, dims, to);
    if (rc == MVA_OK)
        rc = res_dset_strv(c, g, "unit", unit, n);
    if (rc == MVA_OK)
        rc = res_dset_sizes(c, g, "ch0", 1, dims, r->ch0);
    if (rc == MVA_OK)
        rc = res_dset_sizes(c, g, "ch1", 1, dims, r->ch1);
done:
    h5u_close(g);
    free(from);
    free(to);
    free(unit);
    return rc;
}

/* A link name in g for want (an ROI name, a parameter key): '/' (forbidden in HDF5 link
 * names) replaced, made unique by a suffix _1, _2, ...  out holds LINK_MAX bytes. */
int res_unique_link(wctx *c, hid_t g, const char *want, char *out, size_t cap)
{
    char base[512];
    if (want[0] == '\0' || strcmp(want, ".") == 0 || strcmp(want, "..") == 0)
        snprintf(base, sizeof base, "unnamed");
    else
        snprintf(base, sizeof base, "%s", want);
    for (char *s = base; *s; s++)
        if (*s == '/')
            *s = '_';
    for (unsigned u = 0;; u++) {
        if (u == 0)
            snprintf(out, cap, "%s", base);
        else
            snprintf(out, cap, "%s_%u", base, u);
        htri_t ex = H5Lexists(g, out, H5P_DEFAULT);
        if (ex < 0)
            return res_wfail(c, g, out, "look up");
        if (ex == 0)
            return MVA_OK;
    }
}

/* roi/<name>: one titled NXdata per ROI, raw image as signal and net as auxiliary signal. */
static int roi_images(wctx *c, hid_t entry, const mva_roi_result *r)
{
    hid_t coll = -1, g = -1;
    size_t n = r->rows * r->cols;
    hsize_t dims[2] = {r->rows, r->cols};
    const char *axes[2] = {"y", "x"}, *aux[1] = {"net"};
    int rc = res_group_new(c, entry, "roi", "NXcollection", &coll);
    for (size_t i = 0; rc == MVA_OK && i < r->nroi; i++) {
        char name[LINK_MAX];
        rc = res_unique_link(c, coll, r->defs[i].name, name, sizeof name);
        if (rc == MVA_OK)
            rc = res_nxdata_new(c, coll, name, r->defs[i].name, "raw", axes, 2, &g);
        if (rc == MVA_OK)
            rc = res_attr_strv(c, g, ".", "auxiliary_signals", aux, 1);
        if (rc == MVA_OK)
            rc = res_dset_f64(c, g, "raw", 2, dims, r->raw + i * n);
        if (rc == MVA_OK)
            rc = res_dset_f64(c, g, "net", 2, dims, r->net + i * n);
        if (rc == MVA_OK)
            rc = res_attr_str(c, g, "raw", "interpretation", "image");
        if (rc == MVA_OK)
            rc = res_pixel_axes(c, g, r->rows, r->cols);
        h5u_close(g);
        g = -1;
    }
    h5u_close(coll);
    return rc;
}

static int roi_spectra(wctx *c, hid_t entry, const mva_roi_result *r, const mva_calib *cal)
{
    double *v = NULL;
    spec_axis ax;
    int rc = res_calib_axis(c, cal, r->p, &ax, &v);
    if (rc == MVA_OK)
        rc = res_spectrum_nxdata(c, entry, "sum_spectrum", "Sum spectrum of the valid pixels",
                             r->sum_spectrum, &ax);
    if (rc == MVA_OK)
        rc = res_spectrum_nxdata(c, entry, "average_spectrum",
                             "Average spectrum of the valid pixels", r->avg_spectrum, &ax);
    if (rc == MVA_OK)
        rc = res_spectrum_nxdata(c, entry, "max_spectrum",
                             "Per-channel maximum over the valid pixels", r->max_spectrum, &ax);
    free(v);
    return rc;
}

/* share_mask: -1 no PCA in the entry (write mask, n_valid_pixels); 1 the PCA already wrote
 * an identical mask and count; 0 they differ (write roi_mask, roi_n_valid_pixels). */
int res_write_roi(wctx *c, hid_t entry, const mva_roi_result *r, const mva_calib *cal,
                  int share_mask)
{
    int rc = MVA_OK;
    const char **names = malloc((r->nroi ? r->nroi : 1) * sizeof *names);
    if (names == NULL)
        return mva_error_set(c->err, MVA_ENOMEM, "%s: out of memory", c->path);
    for (size_t i = 0; i < r->nroi; i++)
        names[i] = r->defs[i].name;
    rc = roi_definitions(c, entry, r, names);
    if (rc == MVA_OK && r->nroi > 0)
        rc = res_images_nxdata(c, entry, "roi_raw", "ROI images (raw counts)", r->raw, r->nroi,
                           r->rows, r->cols, ".", names);
    if (rc == MVA_OK && r->nroi > 0)
        rc = res_images_nxdata(c, entry, "roi_net", "ROI images (background subtracted)", r->net,
                           r->nroi, r->rows, r->cols, ".", names);
    if (rc == MVA_OK && r->nroi > 0)
        rc = roi_images(c, entry, r);
    if (rc == MVA_OK)
        rc = res_images_nxdata(c, entry, "total_counts", "Total counts", r->total, 0, r->rows,
                           r->cols, NULL, NULL);
    if (rc == MVA_OK)
        rc = roi_spectra(c, entry, r, cal);
    if (rc == MVA_OK && share_mask != 1)
        rc = res_dset_mask(c, entry, share_mask < 0 ? "mask" : "roi_mask", r->rows, r->cols,
                       r->mask);
    if (rc == MVA_OK && share_mask != 1)
        rc = res_scalar_size(c, entry, share_mask < 0 ? "n_valid_pixels" : "roi_n_valid_pixels",
                         r->n_valid);
    free(names);
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* Writing: the NMF                                                                         */
/* ---------------------------------------------------------------------------------------- */

int res_write_nmf(wctx *c, hid_t entry, const mva_nmf_model *m)
{
    double *ch = NULL;
    spec_axis ax = {"energy", m->energy, m->p};
    if (m->energy == NULL) {
        ch = malloc(m->p * sizeof *ch);
        if (ch == NULL)
            return mva_error_set(c->err, MVA_ENOMEM, "%s: out of memory", c->path);
        for (size_t j = 0; j < m->p; j++)
            ch[j] = (double)j;
        ax = (spec_axis){"channel", ch, m->p};
    }
    int rc = res_write_arrays(c, entry, &res_nmf_schema, m, &ax);
    free(ch);
    return rc;
}
