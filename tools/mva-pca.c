/* mva-pca: principal component analysis of an XRF map, streamed, into a NeXus HDF5 file.
 * The implementation, shared with mva-compress, is in pca_tool.c. */
#include "pca_tool.h"

int main(int argc, char **argv)
{
    return pca_tool_main(argc, argv, 0);
}
