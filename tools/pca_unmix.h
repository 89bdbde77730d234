/* mva-pca --rotate / --ica: readable components computed from the fitted model (k x p
 * eigenspectra, k x n eigenimages, never the map) and written beside the principal ones. */
#ifndef MVA_TOOLS_PCA_UNMIX_H
#define MVA_TOOLS_PCA_UNMIX_H

#include "mva/rotate.h"

typedef struct pca_unmix {
    char method[32];  /* --rotate as given ("varimax", "orthomax=0.5"), "" = none */
    double gamma;     /* < 0: equamax, k / 2 once k is known */
    int ica;          /* --ica */
    uint64_t ica_seed;
    int ica_seed_set;
    mva_rotate_result *rot;
    mva_ica *res;
} pca_unmix;

/* Long options (codes first, first + 1, first + 2) and their help. */
#define PCA_UNMIX_LONGOPTS(first)                                                                \
    {"rotate", required_argument, NULL, (first)}, {"ica", no_argument, NULL, (first) + 1},     \
        {"ica-seed", required_argument, NULL, (first) + 2}

#define PCA_UNMIX_HELP                                                                          \
    "Readable components (from the k eigenspectra and eigenimages, not the map):\n"           \
    "  --rotate M             orthomax rotation of the eigenspectra: varimax, quartimax,\n"   \
    "                         equamax or orthomax=GAMMA; written as rotated_eigenspectra,\n"  \
    "                         rotated_eigenimages and the rotation matrix\n"                  \
    "  --ica                  FastICA (log cosh) of the eigenimages: independent_images,\n"   \
    "                         independent_spectra and the unmixing matrix, with convergence\n"\
    "  --ica-seed N           seed of FastICA's start (default 20261206)\n"

/* Handles option code `which` (0 --rotate, 1 --ica, 2 --ica-seed); 0 or -1 after a message. */
int pca_unmix_option(pca_unmix *u, const char *prog, int which, const char *arg);

/* Computes what was asked from m and adds it to entry of out.  MVA_OK when nothing asked. */
int pca_unmix_run(pca_unmix *u, const mva_pca_model *m, const char *out, const char *entry,
                  mva_error *err);

/* Summary lines (nothing when nothing was asked). */
void pca_unmix_print(const pca_unmix *u);

void pca_unmix_free(pca_unmix *u);

#endif
