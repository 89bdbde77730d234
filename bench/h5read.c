/* h5read FILE DATASET: the floor for a pass over an HDF5 stack -- reads (and decompresses)
 * the whole dataset chunk row by chunk row in its native type, with plain HDF5 calls and no
 * conversion, and prints the throughput. */
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: h5read FILE DATASET\n");
        return 2;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    hid_t f = H5Fopen(argv[1], H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = f < 0 ? -1 : H5Dopen2(f, argv[2], H5P_DEFAULT);
    if (d < 0)
        return 1;
    hid_t sp = H5Dget_space(d), type = H5Dget_type(d);
    hsize_t dims[3] = {1, 1, 1};
    int rank = H5Sget_simple_extent_dims(sp, dims, NULL);
    hid_t mtype = H5Tget_native_type(type, H5T_DIR_ASCEND);
    size_t esz = H5Tget_size(mtype);
    hsize_t slab = 1; /* first-axis slices per read: one chunk row, or 1 */
    hid_t dcpl = H5Dget_create_plist(d);
    if (H5Pget_layout(dcpl) == H5D_CHUNKED) {
        hsize_t cd[3];
        H5Pget_chunk(dcpl, 3, cd);
        slab = cd[0];
    }
    size_t per = esz;
    for (int i = 1; i < rank; i++)
        per *= dims[i];
    void *buf = malloc(per * slab);
    double bytes = 0;
    for (hsize_t r = 0; r < dims[0]; r += slab) {
        hsize_t start[3] = {r, 0, 0}, count[3] = {slab, dims[1], dims[2]};
        if (r + slab > dims[0])
            count[0] = dims[0] - r;
        hid_t ms = H5Screate_simple(rank, count, NULL);
        H5Sselect_hyperslab(sp, H5S_SELECT_SET, start, NULL, count, NULL);
        if (H5Dread(d, mtype, ms, sp, H5P_DEFAULT, buf) < 0)
            return 1;
        H5Sclose(ms);
        bytes += (double)per * (double)count[0];
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    printf("h5read: %.1f MB in %.3f s = %.0f MB/s\n", bytes / 1e6, s, bytes / 1e6 / s);
    free(buf);
    H5Pclose(dcpl);
    H5Tclose(mtype);
    H5Tclose(type);
    H5Sclose(sp);
    H5Dclose(d);
    H5Fclose(f);
    return 0;
}
