/*
 * mva/result.h - analysis results in NeXus HDF5, and reading them back.
 *
 * One analysis is one NXentry: NXdata groups that silx and PyMca show without help
 * (eigenimages k x rows x cols, eigenspectra k x p over an energy or channel axis,
 * mean_spectrum, ROI images and spectra), datasets eigenvalues and explained_variance_ratio,
 * and an NXprocess "process" holding program, version, date, input file, dataset path and
 * every parameter.  The file is written under a temporary name in the same directory and
 * renamed at the end, so a failed write never leaves a partial file under the requested name.
 * Writing into an existing file adds a new NXentry and keeps every other entry.  The full
 * layout (every group, dataset and attribute) is described at the top of results/write.c;
 * each analysis's fields are named once, in results/schema.c.
 */
#ifndef MVA_RESULT_H
#define MVA_RESULT_H

#include <stddef.h>

#include "mva/cluster.h"
#include "mva/compress.h"
#include "mva/error.h"
#include "mva/nmf.h"
#include "mva/pca.h"
#include "mva/roi.h"
#include "mva/select.h"
#include "mva/stack.h"

/* One recorded parameter (both strings are copied by the writer). */
typedef struct mva_param {
    const char *key;
    const char *value;
} mva_param;

/*
 * The parts of one entry of a result file, for mva_result_write.  Set the fields with
 * designated initialisers (mva_result_parts p = {.program = "mva-pca", .pca = m, ...}): the
 * struct grows a pointer for each new kind of part, and fields left out are NULL / 0.
 *
 * The common provenance: entry, program, command_line, params, and the input, as a stack
 * description (input: required for PCA, ROI and NMF; the process group records its file,
 * dataset, format, shape, calibration and reader stage, for a selection or a clustering too
 * when given) or, when no map was read, as a name (input_name, "file[::/dataset]", recorded
 * as input_file).
 *
 * Which parts go together in one entry: pca and/or roi (one entry, default name mva_pca or
 * mva_roi; recon with pca only); nmf alone (mva_nmf); selection alone (mva_select); cluster
 * alone (mva_cluster).  Any other mix is refused with MVA_EINVAL.
 */
typedef struct mva_result_parts {
    const char *entry;             /* NXentry name; NULL = the part's default, made unique */
    const char *program;           /* e.g. "mva-pca" (NULL: "mva") */
    const char *command_line;      /* as the user typed it, may be NULL */
    const mva_stack_info *input;   /* the stack analysed (PCA, ROI, NMF); selection, cluster:
                                    * the map read, may be NULL (then input_name) */
    const char *input_name;        /* selection, cluster without input: "file[::/dataset]" */
    const mva_param *params;       /* every parameter, recorded in process/parameters */
    size_t nparams;
    const mva_pca_model *pca;
    const mva_roi_result *roi;
    const mva_nmf_model *nmf;
    const mva_compress_stats *recon;  /* with pca: <entry>/reconstruction (mva-compress) */
    const mva_select_output *selection;
    const mva_cluster_output *cluster;
} mva_result_parts;

/*
 * Writes parts as a new NXentry of path (a new file, or a new entry of an existing HDF5 file,
 * whose other entries are kept unchanged; the root's @default then names the new entry),
 * through a temporary copy renamed at the end under a lock, so that concurrent writers never
 * lose each other's entries.  entry_out, when not NULL, receives the name of the entry
 * written (size entry_cap).  Errors: MVA_EINVAL when the parts do not go together or are
 * inconsistent, parts->entry already exists in path (PCA, ROI, NMF; a selection or a
 * clustering gets the next free name_1, name_2, ...), path is not an HDF5 file, or path is
 * the input file; MVA_EIO when the system or HDF5 fails; MVA_ERANGE when the name does not
 * fit entry_out.  On any error path is left as it was.
 */
int mva_result_write(const char *path, const mva_result_parts *parts, char *entry_out,
                     size_t entry_cap, mva_error *err);

/*
 * Reads the PCA model of entry (NULL = the file's default entry when it holds a PCA, else the
 * first entry by name that does) back from path, every field as written.  *out is a new
 * model, free with mva_pca_model_free; untouched on error.  MVA_ENOTFOUND names the missing
 * file, entry or dataset ("out.h5: /mva_pca/eigenvalues missing"); MVA_EFORMAT a dataset
 * of the wrong shape or type.
 */
int mva_result_read_pca(const char *path, const char *entry, mva_pca_model **out,
                        mva_error *err);

/* Reads the ROI result of entry (NULL as above, for an entry holding ROIs) back from path.
 * *out is a new result, free with mva_roi_result_free; errors as for mva_result_read_pca. */
int mva_result_read_roi(const char *path, const char *entry, mva_roi_result **out,
                        mva_error *err);

/* Reads the NMF model of entry (NULL = the default entry when it holds an NMF, else the first
 * entry by name that does) back from path, every field as written.  *out is a new model, free
 * with mva_nmf_model_free; errors as for mva_result_read_pca. */
int mva_result_read_nmf(const char *path, const char *entry, mva_nmf_model **out,
                        mva_error *err);

/* The entry of result file path that holds `holds`, a path inside an entry: MVA_RESULT_PCA,
 * _NMF, _ROI, _SELECTION, _CLUSTER or any dataset such as "eigenimages/data"; NULL = any
 * kind of result (the report's choice).  entry given: it must
 * hold it; else the file's @default when it does (the newest entry), else the first entry by
 * name that does, so that a selection that became the default does not hide the PCA before
 * it.  Every reader of results (tools, report, mva_result_read_*) chooses this way.  The name
 * goes into out (cap bytes); MVA_ENOTFOUND when no entry holds it. */
int mva_result_find_entry(const char *path, const char *entry, const char *holds, char *out,
                          size_t cap, mva_error *err);
#define MVA_RESULT_PCA "eigenspectra"
#define MVA_RESULT_NMF "process/nmf"
#define MVA_RESULT_ROI "roi_definitions"
#define MVA_RESULT_SELECTION "selected_vs_map"
#define MVA_RESULT_CLUSTER "cluster_sizes"

#endif
