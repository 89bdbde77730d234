/*
 * The index of a SPEC file, shared by the reader (io/spec.c) and the indexer (io/specindex.c).
 * Internal: not installed.
 *
 * One memchr pass over the lines records, for the whole file, the byte offset of every MCA
 * line ('@...', the first line of a spectrum) and of every counter line, and per scan ("#S")
 * where its lines are and what its points are.  8 bytes per MCA line and per counter line,
 * about 100 bytes per scan: the values themselves are parsed later, on demand.
 */
#ifndef MVA_IO_SPECINT_H
#define MVA_IO_SPECINT_H

#include <stddef.h>
#include <stdint.h>

#include "mva/error.h"

#define SPEC_LABEL_MAX 32 /* a scan's key as written, "12" or "12.2" */

/* Why a scan gives no points. */
typedef enum spec_problem {
    SPEC_SCAN_OK = 0,
    SPEC_SCAN_NO_MCA,    /* no '@A' lines: not part of a map, never an error unless named */
    SPEC_SCAN_NO_NUMBER, /* "#S" not followed by a scan number */
    SPEC_SCAN_UNEVEN,    /* counter lines with different numbers of MCA lines */
    SPEC_SCAN_UNDIVIDED, /* no counter lines, and the MCA lines do not divide by #@CHANN */
    SPEC_SCAN_CONTINUED, /* a '\' continuation runs into a '#' or '@' line */
    SPEC_SCAN_TRUNCATED  /* a '\' continuation at the end of the file */
} spec_problem;

typedef struct spec_scan {
    size_t hdr;          /* byte offset of its "#S" line */
    size_t labels;       /* byte offset of its "#L" line, SIZE_MAX when none */
    size_t body;         /* byte offset of its first MCA or counter line (the header ends) */
    long number;         /* N of "#S N" (-1 when none) */
    unsigned order;      /* 1 for the first scan numbered N in the file, 2 for the next... */
    unsigned copies;     /* scans numbered N in the file */
    size_t mca0, nmca;   /* its MCA lines: index->mca[mca0 .. mca0 + nmca) */
    size_t data0, ndata; /* its counter lines: index->data[data0 .. data0 + ndata) */
    size_t nchann;       /* its #@CHANN lines */
    /* what the points are (when problem is SPEC_SCAN_OK) */
    size_t ndet;         /* MCA lines per point */
    size_t points;       /* points (pixels) */
    size_t extra;        /* MCA lines after the last counter line: no point's, not read */
    /* why not (otherwise) */
    spec_problem problem;
    size_t problem_at;   /* byte offset of the line at fault */
    size_t got, want;    /* MCA lines found and expected there */
} spec_scan;

typedef struct spec_index {
    const char *map;   /* the file's text (not owned) */
    size_t size;
    const char *name;  /* the file name, for messages (not owned) */
    spec_scan *scan;
    size_t nscan, scan_cap;
    uint64_t *mca;     /* offsets of every MCA line of every scan, in file order */
    size_t nmca, mca_cap;
    uint64_t *data;    /* offsets of every counter line of every scan */
    size_t ndata, data_cap;
} spec_index;

/* Indexes map[0, size) (name for messages).  Only MVA_ENOMEM fails: what is wrong with a
 * scan is recorded in its problem field.  Free with spec_index_free (also on failure). */
int spec_index_build(spec_index *ix, const char *map, size_t size, const char *name,
                     mva_error *err);
void spec_index_free(spec_index *ix);

/* 1-based line and column of p (counts newlines from the start: for messages only). */
void spec_locate(const char *map, const char *p, size_t *line, size_t *col);

/* The scan's key: "N" when N is the only scan so numbered, else silx's "N.order". */
void spec_scan_key(const spec_index *ix, const spec_scan *s, char *key);

/* Why the scan gives no points, one sentence ("" when it does); *at gets the byte offset of
 * the line at fault. */
void spec_scan_problem(const spec_index *ix, const spec_scan *s, char *buf, size_t cap,
                       size_t *at);

/* The end of the line starting at s (its '\n' or the end of the map). */
const char *spec_line_end(const spec_index *ix, const char *s);

#endif
