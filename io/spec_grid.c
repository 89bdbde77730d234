/*
 * The scan geometry of a SPEC map: the fast motor's positions (a counter column of the scans'
 * #L line) say whether the rows were recorded back and forth (snake) and whether the points
 * lie on the grid of the map's shape at all.  See specread.h.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "specread.h"

/* The motor a scan's command moves first ("ascan eta 1 2 10 1", "mesh eta ... chi ..."):
 * 1 and its name, 0 when the command names none (a number follows it, or nothing). */
static int scan_motor(const spec_reader *r, const spec_scan *sc, char *name, size_t cap,
                      int *mesh)
{
    const char *s = r->map + sc->hdr, *e = line_end(r, s), *t = NULL;
    size_t len = 0;
    double v;
    for (int k = 0; k < 4; k++) { /* "#S", N, the command, its first argument */
        if (!spec_next_token(&s, e, &t, &len))
            return 0;
        if (k == 2)
            *mesh = len >= 4 && memcmp(t + len - 4, "mesh", 4) == 0;
    }
    if (spec_token_number(r, t, len, &v) == 0)
        return 0;
    snprintf(name, cap, "%.*s", (int)(len < cap ? len : cap - 1), t);
    return 1;
}

int spec_row_scans(const spec_reader *r, const plan *pl, char *motor, size_t cap)
{
    for (size_t k = 0; k < pl->nscan; k++) {
        char name[64];
        int mesh = 0;
        if (!scan_motor(r, &r->ix.scan[pl->scan[k]], name, sizeof name, &mesh) || mesh ||
            (k > 0 && strcmp(name, motor) != 0))
            return 0;
        if (k == 0)
            snprintf(motor, cap, "%s", name);
    }
    return pl->nscan > 1;
}

/* The #L column of the scan's motor: its name, else the first column (SPEC writes the
 * scanned motors first, by their names where the command has their mnemonics: "del" moves
 * the column "delta").  -1 when the scan has no #L line or no counter lines. */
static long motor_column(const spec_reader *r, const spec_scan *sc, const char *motor)
{
    size_t col[COLS_MAX];
    char all[8];
    int n = spec_counter_columns(r, sc, motor, col, all, sizeof all);
    if (n < 0 || sc->ndata < sc->points)
        return -1;
    return n > 0 ? (long)col[0] : 0;
}

/* The positions of the map's pixels (file order) into x: 1, or 0 when a scan names no motor,
 * the map's scans do not move the same one, or a value cannot be read (nothing said then). */
static int read_positions(const spec_reader *r, const plan *pl, double *x, char *motor,
                          size_t cap, int *mesh)
{
    size_t i = 0;
    for (size_t k = 0; k < pl->nscan; k++) {
        const spec_scan *sc = &r->ix.scan[pl->scan[k]];
        char name[64];
        int m = 0;
        if (!scan_motor(r, sc, name, sizeof name, &m) || (k > 0 && strcmp(name, motor) != 0))
            return 0;
        if (k == 0) {
            snprintf(motor, cap, "%s", name);
            *mesh = m;
        }
        long col = motor_column(r, sc, name);
        if (col < 0)
            return 0;
        for (size_t j = 0; j < sc->points; j++) {
            const char *at;
            if (spec_counter_value(r, r->map + r->ix.data[sc->data0 + j], (size_t)col, &x[i++],
                                   &at) != 0)
                return 0;
        }
    }
    return 1;
}

/* The scan holding pixel i (file order) and the line of its counter line. */
static const spec_scan *scan_of(const spec_reader *r, const plan *pl, size_t i, size_t *line)
{
    size_t k = 0, col;
    while (k + 1 < pl->nscan && i >= r->ix.scan[pl->scan[k]].points)
        i -= r->ix.scan[pl->scan[k++]].points;
    const spec_scan *sc = &r->ix.scan[pl->scan[k]];
    spec_locate(r->map, r->map + r->ix.data[sc->data0 + i], line, &col);
    return sc;
}

int spec_check_grid(const spec_reader *r, const plan *pl, const mva_open_opts *opts,
                    const mva_stack_info *info, int *snake, mva_error *err)
{
    size_t rows = info->rows, cols = info->cols, n = r->n;
    char motor[64] = "";
    int mesh = 0, rc = MVA_OK;
    *snake = 0;
    if (opts->snake != MVA_SNAKE_AUTO || opts->rows != 0 || rows < 2 || cols < 2 || n / cols < 2)
        return MVA_OK;
    double *x = malloc(n * sizeof *x);
    if (x == NULL)
        return mva_error_set(err, MVA_ENOMEM, "%s: out of memory", r->file_name);
    /* one scan: only a mesh says which motor is the fast one */
    if (!read_positions(r, pl, x, motor, sizeof motor, &mesh) || (pl->nscan == 1 && !mesh))
        goto done;
    double d0 = x[cols - 1] - x[0], d1 = x[2 * cols - 1] - x[cols];
    if (!isfinite(d0) || d0 == 0) /* row 0 does not move it: not the fast motor */
        goto done;
    /* Encoder jitter of real meshes reaches two steps (APS 33-ID's eta): a point is off the
     * grid when it is further than a quarter of the row's travel (at least half a step) from
     * its column's point in row 0 -- rows read the wrong way or shifted are further. */
    double step = d0 / (double)(cols - 1), tol = fmax(0.25 * fabs(d0), 0.5 * fabs(step));
    *snake = d1 * d0 < 0;
    for (size_t i = cols; i < n; i++) {
        size_t row = i / cols, c = i % cols, at = *snake && row % 2 ? cols - 1 - c : c;
        if (!(fabs(x[i] - x[at]) > tol))
            continue;
        size_t line, hl, col;
        char key[LABEL_MAX], shape[96];
        const spec_scan *sc = scan_of(r, pl, i, &line);
        spec_scan_key(&r->ix, sc, key);
        spec_locate(r->map, r->map + sc->hdr, &hl, &col);
        if (pl->nscan > 1)
            snprintf(shape, sizeof shape, "one row per scan");
        else
            snprintf(shape, sizeof shape, "from the mesh command on line %zu", hl);
        rc = mva_error_set(err, MVA_EFORMAT,
                           "%s: line %zu (scan %s): the positions of %s are not on a grid: "
                           "point %zu of the map (row %zu%s) is at %.10g, column %zu of row 0 at "
                           "%.10g (row 0 moves %.10g a point; tolerance %.10g); mva reads maps "
                           "on a grid of %zu x %zu (%s) only: give the shape with --shape "
                           "ROWSxCOLS, or read the spectra as recorded with --snake off (or odd "
                           "rows reversed with --snake on)",
                           r->file_name, line, key, motor, i, row,
                           *snake && row % 2 ? ", read back as row 1 runs" : "", x[i], at, x[at],
                           step, tol, rows, cols, shape);
        *snake = 0;
        break;
    }
done:
    free(x);
    return rc;
}
