/* mva-pca: principal component analysis of an XRF map, streamed, into a NeXus HDF5 file.
 * The fit and its options are shared with mva-compress (tools/pca_tool.c); writing the
 * result, --rotate/--ica and --report happen here. */
#include "par.h"
#include "pca_tool.h"

static const char usage[] =
    "Usage: mva-pca INPUT [options]\n"
    "\n"
    "Principal component analysis of an X-ray fluorescence map, read in blocks (memory does\n"
    "not grow with the map).  Writes eigenimages, eigenspectra, eigenvalues, explained\n"
    "variance, mean spectrum (and ROI images when asked) to a NeXus HDF5 file that silx,\n"
    "PyMca and h5py open, and prints a summary.\n"
    "\n" PCA_OPTIONS_HELP
    "\n"
    "Example:\n"
    "  mva-gen -o map.h5 && mva-pca map.h5 -k 4 --poisson -o map_pca.h5\n"
    "  mva-pca map.h5::/entry/data/data --channels 100:1800 --bin 2 --roi Fe=6.2:6.6keV\n"
    "  mva-pca big.h5 -k 10 --method randomized --passes 6\n";

/* par: one of several processes (MPI, mpi/mva-pca-mpi.c), else NULL.  Each process reads
 * its own slab; rank 0 alone writes the output and prints. */
int mva_pca_tool(int argc, char **argv, tool_par *par)
{
    static const pca_tool_kind kind = {"mva-pca", usage, "_pca.h5"};
    pca_tool t;
    int rc;
    int status = pca_tool_fit(&t, &kind, argc, argv, par, &rc);
    if (status >= 0)
        return pca_tool_close(&t, MVA_OK), status;
    if (rc == MVA_OK && t.root)
        rc = mva_result_write(t.out, &t.spec, t.entry_made, sizeof t.entry_made, &t.err);
    rc = pca_tool_finish(&t, rc);
    if (rc == MVA_OK && !t.c.quiet) {
        pca_tool_print(&t);
        pca_tool_print_extras(&t);
    }
    return pca_tool_close(&t, rc);
}

#ifndef MVA_PCA_NO_MAIN
int main(int argc, char **argv)
{
    return mva_pca_tool(argc, argv, NULL);
}
#endif
