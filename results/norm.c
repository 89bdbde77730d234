/*
 * process/normalisation of a result entry: the factors the reader stage multiplied the counts
 * by (--norm), so that a user can check them against the file's live times or monitor:
 *
 *   process/normalisation  NXdata @signal=factor @axes=[y, x] (one factor a pixel, shared by
 *                          the elements summed) or [element, y, x] (per-element factors)
 *     factor               (rows, cols) | (elements, rows, cols) float64, map order (after
 *                          snake reordering), NaN where the pixel is masked or was not
 *                          recorded; @interpretation=image, and per --norm term (a scalar for
 *                          one term, else one value per term, in order): @kind ("monitor",
 *                          "live time", "dead-time factors"), @source (the dataset read,
 *                          "/MAPS_RAW/livetime", "f.h5::/i0"), @reference (the value divided
 *                          by the factor's source: counts * reference / value; NaN for dtc)
 *     element              (elements) uint64, the detector element of each image (per-element)
 *     y, x                 pixel indices; title
 */
#include <stdio.h>

#include "internal.h"

int res_write_norm(wctx *c, hid_t proc, const mva_stack_info *in)
{
    const mva_norm_factors *f = in->norm_factors;
    if (f == NULL || f->nterms == 0 || f->rows != in->rows || f->cols != in->cols)
        return MVA_OK;
    hid_t g = -1;
    int per = f->nel > 1;
    const char *axes[3] = {"element", "y", "x"};
    hsize_t dims[3] = {f->nel, f->rows, f->cols}, one[1] = {f->nel}, nt = f->nterms;
    const char *kind[MVA_NORM_TERMS_MAX], *src[MVA_NORM_TERMS_MAX];
    double ref[MVA_NORM_TERMS_MAX];
    for (size_t k = 0; k < f->nterms; k++) {
        kind[k] = f->term[k].kind;
        src[k] = f->term[k].source;
        ref[k] = f->term[k].reference;
    }
    int rc = res_nxdata_new(c, proc, "normalisation", "normalisation factors (counts x factor)",
                            "factor", per ? axes : axes + 1, per ? 3 : 2, &g);
    if (rc == MVA_OK)
        rc = res_dset_f64(c, g, "factor", per ? 3 : 2, per ? dims : dims + 1, f->factor);
    if (rc == MVA_OK)
        rc = res_attr_str(c, g, "factor", "interpretation", "image");
    if (rc == MVA_OK)
        rc = nt == 1 ? res_attr_str(c, g, "factor", "kind", kind[0])
                     : res_attr_strv(c, g, "factor", "kind", kind, f->nterms);
    if (rc == MVA_OK)
        rc = nt == 1 ? res_attr_str(c, g, "factor", "source", src[0])
                     : res_attr_strv(c, g, "factor", "source", src, f->nterms);
    if (rc == MVA_OK)
        rc = res_attr_write(c, g, "factor", "reference", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE,
                            nt == 1 ? 0 : nt, ref);
    if (rc == MVA_OK && per)
        rc = res_dset_sizes(c, g, "element", 1, one, f->element);
    if (rc == MVA_OK)
        rc = res_pixel_axes(c, g, f->rows, f->cols);
    h5u_close(g);
    return rc;
}
