/*
 * The parts of the SPEC stack reader, shared by its files.  Internal: not installed.
 *
 *   io/spec.c        the reader: open (map, index, plan, describe), read, close; mva-info's list
 *   io/spec_text.c   numbers, tokens and spectra of the text, and places in it for messages
 *   io/spec_scan.c   a scan's header (#@CHANN, #@CALIB, mesh command) and its first spectrum
 *   io/spec_map.c    which scans form the map, its shape, channels, warnings and description
 *   io/spec_norm.c   --norm: counters of the #L line as per-pixel factors
 *   io/specindex.c   the index of the file's lines (specint.h)
 */
#ifndef MVA_IO_SPECREAD_H
#define MVA_IO_SPECREAD_H

#include <locale.h>
#include <stddef.h>
#include <stdint.h>

#include "mva/stack.h"
#include "specint.h"

#define FILE_CAP 4096         /* = sizeof(mva_stack_info.source) */
#define TOKEN_MAX 128         /* longest number accepted */
#define LABEL_MAX SPEC_LABEL_MAX
#define SHOW_MAX 24           /* characters of a bad token quoted in a message */
#define WARN_CAP 1024         /* = sizeof(mva_stack_info.warnings) */
#define WHY_CAP 512           /* one reason a scan is not read */
#define LIST_MAX 8            /* scans named in one grouped warning */
#define MVA_SPEC_DET_MAX 256  /* MCAs per point described one by one */

typedef struct spec_reader {
    const char *map;          /* the whole file, PROT_READ */
    size_t size;
    int fd;                   /* kept open to notice a file truncated under the map */
    spec_index ix;
    uint64_t *pt;             /* per pixel: index in ix.mca of its point's first MCA line */
    size_t n;                 /* pixels */
    size_t p;                 /* channels */
    size_t ndet;              /* MCA lines per point in the chosen scans */
    size_t *det;              /* the MCAs read (added) of each point, ascending */
    size_t ndet_read;
    double *weight;           /* --norm: per pixel factor (NaN masks), NULL when none */
    mva_norm_factors *factors; /* their record, handed to the stack at open */
    int p_from_chann;         /* p was given by #@CHANN (else by the first spectrum) */
    locale_t c_locale;        /* for the rare strtod fallback */
    char file_name[FILE_CAP];
    char warn[WARN_CAP];      /* "; "-separated sentences */
} spec_reader;

/* ---- characters, numbers, tokens (spec_text.c) ---- */

static inline int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

/* What may follow a value: a blank, the end of the line, or the continuation mark. */
static inline int ends_value(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\\';
}

static inline int is_digit(char c)
{
    return (unsigned char)(c - '0') < 10;
}

static inline const char *line_end(const spec_reader *r, const char *s)
{
    return spec_line_end(&r->ix, s);
}

/* A decimal number in t[0, len), exactly rounded; 0 on success, -1 when not a number. */
int spec_parse_decimal(locale_t loc, const char *t, size_t len, double *v);

/* Next blank-separated token of [*q, e): 1 and its bounds, or 0 at the end. */
int spec_next_token(const char **q, const char *e, const char **t, size_t *len);

/* The token as a number (spec_parse_decimal in the reader's locale); 0 on success. */
int spec_token_number(const spec_reader *r, const char *t, size_t len, double *v);

/* A non-negative integer token that fits size_t; 0 on success. */
int spec_token_size(const char *t, size_t len, size_t *v);

/* Up to max numbers after the keyword of the line [s, e); returns how many, -1 when a
 * token is not a number. */
int spec_line_numbers(const spec_reader *r, const char *s, const char *e, double *v, int max);

/* "FILE: line L[, column C] (scan K)" for the byte at p, into buf. */
void spec_where(const spec_reader *r, const char *p, int with_col, char *buf, size_t cap);

/* The token at p for a message (at most SHOW_MAX characters, unprintable bytes as '?'). */
void spec_show_token(const char *p, const char *end, char *buf);

/* How a walk over a spectrum ended. */
enum { WALK_OK = 0, WALK_BAD, WALK_TRUNC };

/* Counts the values of the spectrum whose MCA line starts at q into *nval; *stop gets where
 * the walk ended (the offending byte when not WALK_OK). */
int spec_count_values(const spec_reader *r, const char *q, size_t *nval, const char **stop);

/* Parses the spectrum at q into out (r->p values, added when add), checking its length;
 * MVA_EFORMAT naming the line and column otherwise. */
int spec_parse_spectrum(const spec_reader *r, const char *q, double *out, int add,
                        mva_error *err);

/* ---- a scan's header and first spectrum (spec_scan.c) ---- */

/* The header lines of a scan for detector det: its own #@CHANN / #@CALIB line when the scan
 * has one per detector (PyMca writes them so), else the first; NULL when there is none. */
typedef struct scan_head {
    const char *chann, *calib;
} scan_head;

void spec_pick_header(const spec_reader *r, const spec_scan *sc, size_t det, scan_head *h);

/* What #@CHANN says of the stored spectra: p values, of channels first, first + step, ... */
typedef struct chan_info {
    size_t p, first, step;
    int from_chann;
} chan_info;

/* "#@CALIB a b c" at s, rewritten for the value index of spectra described by ch ("0 1 0":
 * not a calibration).  0, or -1 with the reason in why (WHY_CAP). */
int spec_read_calib(const spec_reader *r, const char *s, const chan_info *ch, mva_calib *cal,
                    char *why);

/* Why a scan is not read: the line at fault and one sentence. */
typedef struct fault {
    size_t at;
    char why[WHY_CAP];
} fault;

/* Sets f; returns 1 (a scan's "cannot join" answer). */
int spec_set_fault(fault *f, size_t at, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* "line L (scan K): why" into buf. */
void spec_fault_text(const spec_reader *r, const spec_scan *sc, const fault *f, char *buf,
                     size_t cap);

/* The channels of a scan's spectra of detector det, from its #@CHANN line, else from its
 * first spectrum; that first spectrum must be numbers and agree.  0, or 1 with f set. */
int spec_scan_channels(const spec_reader *r, const spec_scan *sc, size_t det, chan_info *c,
                       fault *f);

/* The map shape of a mesh command on the #S line at s for a scan of `points` points: 1 and
 * rows x cols, 0 when the command is no such mesh. */
int spec_mesh_shape(const spec_reader *r, const char *s, size_t points, size_t *rows,
                    size_t *cols);

/* ---- the map (spec_map.c) ---- */

/* A scan chosen for the map, and how: from the whole file, named, or inside a named range. */
enum { FROM_FILE = 0, NAMED, IN_RANGE };

typedef struct pick {
    size_t scan; /* index in ix.scan */
    int how;
} pick;

/* The scans of "N", "N.K", "N,M,..." and "N:M" (file order from N to M), or of the whole
 * file when spec is NULL or empty, into *out (free it).  A scan named twice is an error. */
int spec_choose_scans(const spec_reader *r, const char *spec, pick **out, size_t *nout,
                      mva_error *err);

/* The chosen scans that can be read, and what was left out. */
typedef struct plan {
    size_t *scan;      /* the scans of the map, in map order (indices in ix.scan) */
    size_t nscan;
    chan_info ch;      /* channels of the first, for detector det[0] */
    size_t *no_mca;    /* scans of the whole file or a range without MCA data */
    size_t nno_mca;
    size_t *extra;     /* scans of the map with MCA lines after their last point */
    size_t nextra;
    size_t skipped;    /* scans of the whole file skipped as malformed */
    char first_skip[WHY_CAP + 64];
} plan;

void spec_plan_free(plan *pl);

/* Goes through the chosen scans: a named scan that cannot be read is an error; one of the
 * whole file is skipped and said in the warnings; scans without MCA data are left out.
 * Chooses the detectors (opts->detector) on the first.  Free pl with spec_plan_free. */
int spec_plan_map(spec_reader *r, const pick *p, size_t np, const mva_open_opts *opts,
                  plan *pl, mva_error *err);

/* Per pixel, the index of its point's first MCA line, scan after scan (r->pt, r->n). */
int spec_index_pixels(spec_reader *r, const plan *pl, mva_error *err);

/* The map shape: a single chosen scan's mesh command, else one row per scan when the chosen
 * scans have the same length, else one row; opts->rows x cols overrides. */
int spec_set_shape(spec_reader *r, const plan *pl, const mva_open_opts *opts,
                   mva_stack_info *info, mva_error *err);

/* Channel count and calibration, from the first scan of the map; a warning when the
 * detectors summed carry different #@CALIB lines. */
int spec_set_channels(spec_reader *r, const plan *pl, const mva_open_opts *opts,
                      mva_stack_info *info, mva_error *err);

/* The grouped warnings: scans without MCA data, spectra that belong to no point. */
void spec_say_left_out(spec_reader *r, const plan *pl);

/* The rest of info: which scans and detectors, warnings, format, storage. */
void spec_describe(const spec_reader *r, const plan *pl, mva_stack_info *info);

/* ---- --norm (spec_norm.c) ---- */

#define COLS_MAX 8 /* columns of one name compared */

/* The columns (0-based) of counter `name` in the scan's #L line: the exact name, else the
 * name in any case (so that --norm i0 finds I0).  Returns how many (<= COLS_MAX), -1 when
 * the scan has no #L line; all gets the labels, ", "-separated, for a message. */
int spec_counter_columns(const spec_reader *r, const spec_scan *sc, const char *name,
                         size_t *col, char *all, size_t cap);

/* Value of column col (0-based, blank-separated) of the counter line at s.  0, or 1 when the
 * line is shorter, 2 when the value is not a number (*at: the token). */
int spec_counter_value(const spec_reader *r, const char *s, size_t col, double *v,
                       const char **at);

/* Per-pixel weights (r->weight) from opts->norm, its names being counters of the #L line. */
int spec_set_norm(spec_reader *r, const plan *pl, const mva_open_opts *opts,
                  mva_stack_info *info, mva_error *err);

/* ---- scan geometry (spec_grid.c) ---- */

/* From the fast motor's positions (a counter column: the mesh's first motor, or the motor of
 * the scans forming the rows): *snake when odd rows run back the other way; MVA_EFORMAT
 * naming the file, scan and point when the positions are not on the rows x cols grid of
 * info.  Only with opts->snake auto; nothing said when the positions do not tell. */
/* 1 when the map's scans (two or more) are scans of one motor, none a mesh: rows of a map
 * ("ascan samy 0 6 6 0.1" a row); motor gets its name. */
int spec_row_scans(const spec_reader *r, const plan *pl, char *motor, size_t cap);

int spec_check_grid(const spec_reader *r, const plan *pl, const mva_open_opts *opts,
                    const mva_stack_info *info, int *snake, mva_error *err);

#endif
