/*
 * mva/hdf5.h - the HDF5/NeXus stack reader.
 *
 * INPUT is "file.h5" or "file.h5::/path/to/dataset" (silx notation).  A path naming a group
 * is followed the NeXus way from that group.  Without a path the stack is found:
 *   1. NeXus: root @default -> NXentry, its @default -> NXdata (an NXentry without @default:
 *      its first NXdata), the NXdata's @signal -> dataset.  Taken only when that dataset is
 *      numeric and 3-D, or 2-D with @interpretation "spectrum" (a default plot is often an
 *      image or a sum spectrum, not the stack);
 *   2. else the only 3-D integer or float dataset in the file (hard links only);
 *   3. else an error listing the 3-D candidates, or saying there is none.
 * String attributes may be fixed- or variable-length (h5py).
 *
 * Datasets of any integer (1, 2, 4, 8 bytes, signed or not, either byte order) or float (4 or
 * 8 bytes) type; 3-D (rows, cols, channels) or 2-D (pixels, channels), or with channels
 * first.  Channel axis: opts->channel_axis when not MVA_STACK_AXIS_AUTO; for AUTO the first rule
 * that applies decides:
 *   1. @mva_channel_axis on the dataset: 0 or "first" -> first; -1, rank-1 or "last" -> last;
 *   2. @interpretation on the dataset: "spectrum" -> last; "image" (3-D only) -> first;
 *   3. shape: 3-D with dims[0] >= 256 and dims[2] < 64 -> first (channels, rows, cols);
 *   4. otherwise last.
 * A 2-D dataset is a map of 1 x N pixels unless opts give rows x cols (whose product must
 * equal N; also allowed for 3-D datasets).
 *
 * Calibration: opts->calib when known; else @calibration (a, b[, c]) on the dataset, then on
 * its group; a sibling dataset "calibration" (2 or 3 values); the NXdata @axes entry for the
 * channel axis naming a 1-D dataset of p energies (linear fit from its first and last value;
 * @units "eV" divided by 1000, none or "keV" taken as keV).  Otherwise unknown.
 *
 * Blocks are read as at most three hyperslabs through any filter HDF5 can load (gzip,
 * plugins from HDF5_PLUGIN_PATH such as LZ4; a missing one is reported at open with its id),
 * with a chunk cache holding two rows of chunks (at most 256 MiB), so that no chunk is
 * decompressed twice when blocks cut chunks.  HDF5's automatic error printing is turned off.
 *
 * Parallel inflate: when chunks hold whole spectra (channels last) and the filters are
 * deflate or shuffle + deflate, the raw chunks are fetched with H5Dread_chunk in the reading
 * thread (HDF5 calls stay in one thread) and inflated with zlib, unshuffled and converted on
 * a small pool of threads (the online CPUs, at most 4; environment MVA_DECODE_THREADS=N sets
 * N, 0 turns it off).  Values are bit-identical to the H5Dread path; mva-info shows
 * "parallel inflate on N threads" in the storage line when it is used.
 */
#ifndef MVA_HDF5_H
#define MVA_HDF5_H

#include "mva/error.h"
#include "mva/stack.h"

/* Opens an HDF5 stack read-only (see above).  opts may be NULL.  On success *out owns the
 * file and dataset (release with mva_stack_close()); on failure *out is NULL and err names
 * the file, the dataset and what was expected: MVA_ENOTFOUND (file, dataset), MVA_EFORMAT
 * (not HDF5, corrupt, wrong type or rank), MVA_EUNSUPPORTED (filter not loadable),
 * MVA_EINVAL (ambiguous file, bad --shape). */
int mva_hdf5_open(mva_stack **out, const char *input, const mva_open_opts *opts,
                  mva_error *err);

/* Non-zero when the file starts with the HDF5 signature (at offset 0, 512, 1024, ...). */
int mva_hdf5_is_hdf5(const char *file);

/* Splits "file.h5::/path" into file and path (path empty when absent).  Returns MVA_ERANGE
 * when either does not fit its buffer. */
int mva_hdf5_split_input(const char *input, char *file, size_t file_cap, char *path,
                         size_t path_cap);

#endif
