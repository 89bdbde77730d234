/* example: the library in twenty lines -- open a stack (any format), fit a PCA with ROI
 * images in the same pass, print the explained variance, write the NeXus file.
 *
 *   cc example.c $(pkg-config --cflags --libs mva) -o example
 *   ./example map.h5 out.h5
 */
#include <stdio.h>

#include <mva.h>

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: example INPUT OUTPUT.h5\n");
        return 2;
    }
    mva_error err;
    mva_stack *s = NULL;
    mva_roi_acc *roi = NULL;
    mva_roi_result *rr = NULL;
    mva_pca_model *m = NULL;
    mva_roi_def fe;
    mva_pca_opts o = mva_pca_opts_default();
    o.k = 4;
    int rc = mva_stack_open(&s, argv[1], NULL, &err);
    if (rc == MVA_OK)
        rc = mva_roi_parse("Fe=6.2:6.6keV", &fe, &err);
    if (rc == MVA_OK)
        rc = mva_roi_acc_new(&roi, mva_stack_get_info(s), &fe, 1, &err);
    if (rc == MVA_OK) {
        mva_accum extra = mva_roi_acc_accum(roi); /* shares the first PCA pass */
        rc = mva_pca_fit(s, &o, &extra, 1, NULL, &m, &err);
    }
    if (rc == MVA_OK)
        rc = mva_roi_acc_take(roi, &rr, &err);
    if (rc == MVA_OK) {
        for (size_t q = 0; q < m->k; q++)
            printf("PC%zu %.4f%%\n", q + 1, 100.0 * m->explained[q]);
        mva_result_parts spec = {.program = "example", .input = mva_stack_get_info(s), .pca = m,
                                .roi = rr};
        rc = mva_result_write(argv[2], &spec, NULL, 0, &err);
    }
    if (rc != MVA_OK)
        fprintf(stderr, "example: %s\n", err.msg);
    mva_pca_model_free(m);
    mva_roi_result_free(rr);
    mva_roi_acc_free(roi);
    mva_stack_close(s);
    return rc == MVA_OK ? 0 : 1;
}
