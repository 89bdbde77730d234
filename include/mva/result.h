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
 * layout (every group, dataset and attribute) is described at the top of io/result.c.
 */
#ifndef MVA_RESULT_H
#define MVA_RESULT_H

#include <stddef.h>

#include "mva/error.h"
#include "mva/nmf.h"
#include "mva/pca.h"
#include "mva/roi.h"
#include "mva/stack.h"

/* One recorded parameter (both strings are copied by the writer). */
typedef struct mva_param {
    const char *key;
    const char *value;
} mva_param;

/* What to write.  pca and roi may each be NULL (but not both); for mva_result_write_nmf both
 * are NULL. */
typedef struct mva_result_spec {
    const char *entry;             /* NXentry name; NULL = "mva_pca" / "mva_roi", made unique */
    const char *program;           /* e.g. "mva-pca" */
    const char *command_line;      /* as the user typed it, may be NULL */
    const mva_stack_info *input;   /* the stack analysed */
    const mva_pca_model *pca;
    const mva_roi_result *roi;
    const mva_param *params;       /* every parameter, recorded in process/parameters */
    size_t nparams;
} mva_result_spec;

/*
 * Writes spec into path (a new file, or a new entry of an existing HDF5 file, whose other
 * entries are kept unchanged; the root's @default then names the new entry).  spec->input
 * is required.  entry_out, when not NULL, receives the name of the entry written (size
 * entry_cap).  Errors: MVA_EINVAL when spec->entry already exists in path, path is not an
 * HDF5 file, or path is the input file; MVA_EIO when the system or HDF5 fails; MVA_ERANGE
 * when the name does not fit entry_out.  On any error path is left as it was.
 */
int mva_result_write(const char *path, const mva_result_spec *spec, char *entry_out,
                     size_t entry_cap, mva_error *err);

/*
 * Writes an NMF model as an entry of its own (default name "mva_nmf", made unique), with
 * spec's entry, program, command line, input and parameters (spec->pca and spec->roi must be
 * NULL), in the same way as mva_result_write and with the same errors.  A separate function
 * rather than a field of mva_result_spec: the positional initialisers of that struct in the
 * tools would otherwise stop compiling (-Wmissing-field-initializers).
 */
int mva_result_write_nmf(const char *path, const mva_result_spec *spec,
                         const mva_nmf_model *nmf, char *entry_out, size_t entry_cap,
                         mva_error *err);

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
 * _NMF, _ROI, _SELECTION or any dataset such as "eigenimages/data".  entry given: it must
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

#endif
