/* mva-compress: a map kept as a PCA model, with the error of keeping it that way.  The fit
 * and its options are shared with mva-pca (tools/pca_tool.c); one more streamed pass measures
 * the model against the stack, and both are written here. */
#include <stdio.h>

#include "mva/compress.h"
#include "pca_tool.h"

static const char usage[] =
    "Usage: mva-compress INPUT [options]\n"
    "\n"
    "Keeps a map as a PCA model: mean, scaling, k eigenspectra and k eigenimages, with the\n"
    "calibration, map shape and provenance, in one NeXus file (mva-expand rebuilds the\n"
    "stack).  One more streamed pass measures the model against the stack: compression ratio\n"
    "(numbers and bytes), relative Frobenius error, largest error, and the reduced chi-square\n"
    "per pixel under Poisson statistics (mean, and an image in <entry>/reconstruction).\n"
    "\n" PCA_OPTIONS_HELP
    "\n"
    "Example:\n"
    "  mva-compress map.h5 -k 4 -o map_k4.h5 && mva-expand map_k4.h5 -o map_k4_stack.h5\n"
    "  mva-compress map.h5 -k auto -o map_model.h5\n";

/* The model and its reconstruction statistics, one entry. */
static int write_compressed(pca_tool *t, mva_compress_stats **stats)
{
    cli_progress_label("measuring");
    int rc = mva_compress_measure(t->s, t->m, &t->pca, &t->c.pass, stats, &t->err);
    cli_progress_done();
    t->spec.recon = *stats;
    return rc == MVA_OK ? mva_result_write(t->out, &t->spec, t->entry_made,
                                           sizeof t->entry_made, &t->err)
                        : rc;
}

static void print_compression(const mva_compress_stats *r)
{
    printf("compression %.1fx in numbers, %.1fx in bytes (stack in its stored type, model "
           "in float64)\n", r->values_ratio, r->bytes_ratio);
    printf("error      relative Frobenius %.4g, largest %.4g, reduced chi-square %.4f "
           "(Poisson; 1 = the noise)\n", r->rel_frobenius, r->max_abs, r->chi2_mean);
}

int main(int argc, char **argv)
{
    static const pca_tool_kind kind = {"mva-compress", usage, "_model.h5"};
    pca_tool t;
    int rc;
    int status = pca_tool_fit(&t, &kind, argc, argv, NULL, &rc);
    if (status >= 0)
        return pca_tool_close(&t, MVA_OK), status;
    mva_compress_stats *stats = NULL;
    if (rc == MVA_OK)
        rc = write_compressed(&t, &stats);
    rc = pca_tool_finish(&t, rc);
    if (rc == MVA_OK && !t.c.quiet) {
        pca_tool_print(&t);
        print_compression(stats);
        pca_tool_print_extras(&t);
    }
    mva_compress_stats_free(stats);
    return pca_tool_close(&t, rc);
}
