/* mva-compress: a map kept as a PCA model, with the error of keeping it that way.  The
 * implementation, shared with mva-pca, is in pca_tool.c. */
#include "pca_tool.h"

int main(int argc, char **argv)
{
    return pca_tool_main(argc, argv, 1);
}
