/* The PCA command-line tools share one implementation: mva-pca fits and writes the model,
 * mva-compress also measures the reconstruction against the stack. */
#ifndef MVA_TOOLS_PCA_TOOL_H
#define MVA_TOOLS_PCA_TOOL_H

/* main() of mva-pca (compress = 0) and mva-compress (compress = 1). */
int pca_tool_main(int argc, char **argv, int compress);

/* The options both tools take, for their --help. */
#include "pca_unmix.h"

#define PCA_OPTIONS_HELP \
    "PCA options:\n" \
    "  -k, --components N     components to keep (default 10), or a rule:\n" \
    "                         auto: the eigenvalues above the Poisson noise edge\n" \
    "                         (Marchenko-Pastur; turns --poisson on: counts data);\n" \
    "                         0.99: the fewest explaining 99%% of the variance;\n" \
    "                         elbow: where the log scree bends\n" \
    "  --k-max N              the most components a rule may keep (default 30)\n" \
    "  --channels A:B         analyse channels A..B only (inclusive)\n" \
    "  --bin B                sum B adjacent channels into one variable (default 1)\n" \
    "  --poisson              Poisson scaling of pixels and channels (Keenan & Kotula),\n" \
    "                         for raw counts; results are un-weighted after\n" \
    "  --uncentred            eigenimages from the uncentred data (as PyMca's covariance\n" \
    "                         method); the default centres on the mean spectrum\n" \
    "  --roi [NAME=]A:B[keV]  also compute this ROI image in the same pass (repeatable)\n" \
    "  --method M             exact: covariance + LAPACK, 2 passes, n*p^2 flops;\n" \
    "                         randomized: block Krylov, one pass per block of k+10\n" \
    "                         vectors, ~4*n*p*(k+10) flops a pass; auto (default): the one\n" \
    "                         estimated faster for this map, and exact after all if\n" \
    "                         randomized stops short of --tol (the summary says so)\n" \
    "  --passes N             randomized: at most N range-finder passes (default 8)\n" \
    "  --tol T                randomized: stop when the k leading eigenvalues' estimated\n" \
    "                         error is below T, relative (default 1e-8): their last change\n" \
    "                         extrapolated over the rate of the last two passes\n" \
    "  --oversample N         randomized: basis of k + N vectors (default 10)\n" \
    "  --seed N               randomized: seed of the Gaussian start (default 20261125)\n" \
    "\n" PCA_UNMIX_HELP \
    "\n" \
    "Output:\n" \
    "  -o, --output FILE      HDF5 file to write (default: INPUT's name + _pca.h5 here); an\n" \
    "                         existing HDF5 file gets a new entry, other entries are kept\n" \
    "  --entry NAME           name of the NXentry (default mva_pca, made unique)\n" \
    "  --report DIR           also write an HTML report of the result into DIR (PNG images,\n" \
    "                         SVG plots, index.html; see mva-report)\n" \
    "\n" CLI_SPILL_HELP \
    "\n" CLI_COMMON_HELP

#endif
