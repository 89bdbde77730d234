/* Internal pieces of the report module: text buffers, atomic files, SVG plots, the results
 * file's descriptive fields. */
#ifndef MVA_REPORT_INTERNAL_H
#define MVA_REPORT_INTERNAL_H

#include <stdio.h>

#include "commit.h"
#include "mva/nmf.h"
#include "mva/report.h"

/* ---- growable text buffer; a failed append sets failed and keeps what it had ---- */
typedef struct rpt_buf {
    char *s;
    size_t len, cap;
    int failed;
} rpt_buf;

void rpt_printf(rpt_buf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Appends s with &, <, >, " escaped for HTML/XML text and attributes. */
void rpt_escape(rpt_buf *b, const char *s);
/* Appends v with up to digits significant digits ("NaN", "Inf" when not finite).  Callers
 * run under the C locale (mva_report_write switches with uselocale), so the point is '.'. */
void rpt_num(rpt_buf *b, double v, int digits);
void rpt_buf_free(rpt_buf *b);

/* ---- files written under a temporary name beside the final one, then renamed ---- */
typedef struct rpt_file {
    FILE *fp;
    mva_commit c;
} rpt_file;

int rpt_file_open(rpt_file *f, const char *path, mva_error *err);
/* Flushes, closes and renames onto the final path; removes the temporary on failure. */
int rpt_file_commit(rpt_file *f, mva_error *err);
/* Closes and removes the temporary (no-op when not open). */
void rpt_file_abort(rpt_file *f);
/* Writes the whole buffer to path atomically. */
int rpt_write_text(const char *path, const rpt_buf *b, mva_error *err);

/* ---- RGB raster, for single images and the montage ---- */
typedef struct rpt_raster {
    size_t w, h;
    unsigned char *rgb; /* h x w x 3 */
} rpt_raster;

int rpt_raster_new(rpt_raster *r, size_t w, size_t h, unsigned char fill, mva_error *err);
void rpt_raster_free(rpt_raster *r);
/* Paints values (rows x cols) scaled by scale at (x0, y0) of r. */
void rpt_raster_paint(rpt_raster *r, size_t x0, size_t y0, const double *values, size_t rows,
                      size_t cols, int cmap, double lo, double hi, size_t scale);
int rpt_raster_write_png(const rpt_raster *r, const char *path, mva_error *err);
/* Writes s in dark grey at (x0, y0) with a 3 x 5 font magnified px times, as many characters
 * as fit max_w pixels (letters are drawn in upper case). */
void rpt_raster_text(rpt_raster *r, size_t x0, size_t y0, const char *s, size_t px,
                     size_t max_w);

/* ---- SVG line plots ---- */
typedef struct rpt_series {
    const double *x, *y; /* n points; non-finite points are skipped */
    size_t n;
    const char *label;   /* legend text, or NULL */
} rpt_series;

typedef struct rpt_band {
    double x0, x1;
    const char *label;
} rpt_band;

typedef struct rpt_marker {
    double x;
    char label[32];
} rpt_marker;

typedef struct rpt_plot {
    const char *title, *xlabel, *ylabel;
    int logy;                 /* y drawn as log10 (non-positive values skipped) */
    double logy_span;         /* log y: show at most this many decades below the top (0: all) */
    const rpt_series *series;
    size_t nseries;
    const rpt_band *bands;    /* shaded x ranges (ROIs) */
    size_t nbands;
    const rpt_marker *markers; /* dashed vertical lines with a label (element lines), sorted
                                  by x so that neighbours' labels alternate in height */
    size_t nmarkers;
    double mark_x;            /* a circled point on series 0 at this x (chosen k); NaN: none */
} rpt_plot;

/* Draws p as an SVG document into b. */
void rpt_svg_plot(rpt_buf *b, const rpt_plot *p);

/* ---- what a results entry says about itself (process group), read with HDF5 ---- */
typedef struct rpt_param {
    char key[128];
    char value[512];
} rpt_param;

typedef struct rpt_info {
    char entry[256];                 /* the entry's name, without '/' */
    char program[64], version[64], date[64], command_line[2048];
    char input_file[4096], input_dataset[1024], input_format[32], input_dtype[32];
    size_t shape[3];                 /* rows, cols, channels of the input; 0 when unknown */
    double calib[3];                 /* E = a + b ch + c ch^2 (keV) */
    int has_calib;
    rpt_param *params;               /* parameters as recorded, in order */
    size_t nparams;
    int has_pca, has_roi;
    int has_nmf;                     /* an NMF entry (process/nmf, results/write.c) */
    int has_select;                  /* a selection entry (results/select.c's layout) */
    int has_cluster;                 /* a clustering entry (results/cluster.c's layout) */
    char selection[2048];            /* its process/selection text */
    double *roi_axis;                /* energy (keV) or channel of the ROI spectra, or NULL */
    size_t roi_axis_n;
    int roi_axis_kev;
} rpt_info;

/* Finds entry (NULL: the root's @default, else the first entry holding a PCA, ROI, NMF or
 * selection result) and reads its description.  Missing descriptive fields stay empty; a
 * missing file or entry is an error. */
int rpt_info_read(const char *path, const char *entry, rpt_info *info, mva_error *err);
void rpt_info_free(rpt_info *info);

/* ---- a selection entry (io/select.c's layout), read with HDF5 ---- */
typedef struct rpt_selection {
    size_t p;                 /* channels */
    double *axis;             /* p: energy (keV) when axis_kev, else channel */
    int axis_kev;
    double *avg, *map_avg;    /* p: average spectrum of the selected pixels, of the map */
    double *sum;              /* p: cumulative spectrum of the selected pixels */
    unsigned char *mask;      /* rows x cols, 1 = selected */
    size_t rows, cols;
    double n_selected, n_valid;
} rpt_selection;

/* Reads the spectra, mask and counts of selection entry info->entry of path.  MVA_EFORMAT
 * names a missing or misshapen dataset. */
int rpt_selection_read(const char *path, const rpt_info *info, rpt_selection *sel,
                       mva_error *err);
void rpt_selection_free(rpt_selection *sel);

/* Writes the report of a selection entry into the existing directory dir: selection.svg
 * (the selection's average spectrum against the map's, element lines at the enriched
 * peaks), mask.png and index.html. */
int rpt_selection_report(const char *results, const rpt_info *info, const char *dir,
                         const mva_report_opts *o, mva_error *err);

/* Writes the report of a clustering entry into the existing directory dir: labels.png (the
 * label map in discrete colours with a legend), clusters.svg (each cluster's average
 * spectrum against the map's) and index.html (report/cluster.c). */
int rpt_cluster_report(const char *results, const rpt_info *info, const char *dir,
                       const mva_report_opts *o, mva_error *err);

/* ---- the NMF parts of a report (report/nmf.c) ---- */
#define RPT_NMF_LINES 3 /* element lines named per component at most */

typedef struct rpt_nmf_lines {
    const mva_report_line *(*line)[RPT_NMF_LINES]; /* k: each component's lines, strongest
                                                       peak first; NULL when uncalibrated */
    size_t *n;                                     /* k: how many of each */
} rpt_nmf_lines;

/* The element lines within tol keV of the strongest peaks of each component's spectrum
 * (none without an energy axis).  Free with rpt_nmf_lines_free. */
int rpt_nmf_find_lines(const mva_nmf_model *m, double tol, rpt_nmf_lines *out, mva_error *err);
void rpt_nmf_lines_free(rpt_nmf_lines *l);
/* Writes nmf_spectra.svg (lines marked when o->markers) and, when there is a history,
 * convergence.svg into dir; *spectra and *convergence say which were written. */
int rpt_nmf_plots(const mva_nmf_model *m, const rpt_nmf_lines *l, const char *dir,
                  const mva_report_opts *o, int *spectra, int *convergence, mva_error *err);
/* The NMF rows of the summary table: method, start, k, passes, convergence, objective,
 * valid pixels, time. */
void rpt_nmf_summary(rpt_buf *b, const mva_nmf_model *m);
/* The components table (share of counts, counts, lines) and the plots' sections. */
void rpt_nmf_html(rpt_buf *b, const mva_nmf_model *m, const rpt_nmf_lines *l, int spectra,
                  int convergence, double line_tol);

/* Automatic scaling keeps the long side of an image within this many pixels. */
#define RPT_MAX_SIDE 2400

/* ---- index.html pieces shared by the reports ---- */
extern const char *const rpt_css;
/* A <tr> of the summary table: key and value, escaped. */
void rpt_row(rpt_buf *b, const char *key, const char *value);
/* The "input" row: the map's file and, when recorded, ::dataset (process/input_*). */
void rpt_input_row(rpt_buf *b, const rpt_info *in);

/* The alpha lines of the table within RPT_OVERLAP keV of l, other than l (lines that a
 * detector cannot separate, such as As Ka and Pb La); returns their count (at most cap). */
#define RPT_OVERLAP 0.05
size_t rpt_line_overlaps(const mva_report_line *l, const mva_report_line **out, size_t cap);

#endif
