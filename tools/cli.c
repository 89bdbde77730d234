/* Shared helpers of the command-line tools. */
#include <errno.h>
#include <hdf5.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "scratch.h"
#include "combine.h"
#include "numparse.h"
#include "par.h"

void cli_fail(const char *prog, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int cli_parse_shape(const char *prog, const char *s, size_t *rows, size_t *cols)
{
    char buf[64];
    const char *x = strpbrk(s, "xX");
    if (x == NULL || (size_t)(x - s) >= sizeof buf)
        goto bad;
    memcpy(buf, s, (size_t)(x - s));
    buf[x - s] = '\0';
    if (mva_parse_size(buf, rows) != 0 || mva_parse_size(x + 1, cols) != 0 || *rows == 0 ||
        *cols == 0)
        goto bad;
    return 0;
bad:
    cli_fail(prog, "--shape '%s': expected ROWSxCOLS with positive integers, e.g. 101x200", s);
    return -1;
}

int cli_parse_calib(const char *prog, const char *s, mva_calib *cal)
{
    char buf[256];
    double v[3] = {0, 0, 0};
    size_t nv = 0;
    if (strlen(s) >= sizeof buf)
        goto bad;
    strcpy(buf, s);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        if (nv == 3 || mva_parse_double(tok, &v[nv]) != 0)
            goto bad;
        nv++;
    }
    if (nv < 2 || (v[1] == 0.0 && v[2] == 0.0))
        goto bad;
    cal->known = 1;
    cal->a = v[0];
    cal->b = v[1];
    cal->c = v[2];
    return 0;
bad:
    cli_fail(prog, "--calib '%s': expected A,B[,C] (E = A + B*ch + C*ch^2 in keV), e.g. 0,0.01",
             s);
    return -1;
}

int cli_parse_size(const char *prog, const char *opt, const char *s, size_t min, size_t *out)
{
    if (mva_parse_size(s, out) != 0 || *out < min) {
        cli_fail(prog, "%s '%s': expected an integer >= %zu", opt, s, min);
        return -1;
    }
    return 0;
}

int cli_parse_double(const char *prog, const char *opt, const char *s, double min, double *out)
{
    if (mva_parse_double(s, out) != 0 || !(*out >= min)) {
        cli_fail(prog, "%s '%s': expected a number >= %g", opt, s, min);
        return -1;
    }
    return 0;
}

int cli_add_roi(const char *prog, const char *arg, mva_roi_def *defs, size_t *n, size_t max)
{
    mva_error err;
    if (*n == max) {
        cli_fail(prog, "at most %zu ROIs", max);
        return -1;
    }
    if (mva_roi_parse(arg, &defs[*n], &err) != MVA_OK) {
        cli_fail(prog, "%s", err.msg);
        return -1;
    }
    (*n)++;
    return 0;
}

int cli_parse_range(const char *prog, const char *opt, const char *s, size_t *a, size_t *b)
{
    char buf[64];
    const char *colon = strchr(s, ':');
    if (colon == NULL || (size_t)(colon - s) >= sizeof buf)
        goto bad;
    memcpy(buf, s, (size_t)(colon - s));
    buf[colon - s] = '\0';
    if (mva_parse_size(buf, a) != 0 || mva_parse_size(colon + 1, b) != 0 || *b < *a)
        goto bad;
    return 0;
bad:
    cli_fail(prog, "%s '%s': expected FIRST:LAST channels (inclusive), e.g. 100:1800", opt, s);
    return -1;
}

int cli_parse_axis(const char *prog, const char *s, mva_stack_axis *axis)
{
    if (strcmp(s, "first") == 0)
        *axis = MVA_STACK_AXIS_FIRST;
    else if (strcmp(s, "last") == 0)
        *axis = MVA_STACK_AXIS_LAST;
    else {
        cli_fail(prog, "--channel-axis '%s': expected 'first' or 'last'", s);
        return -1;
    }
    return 0;
}

size_t cli_reader_params(const cli_common *c, const char *input, mva_param *pr, size_t n,
                         cli_reader_text *t)
{
    const mva_open_opts *o = &c->open;
    if (input != NULL && c->nlist == 0 && !o->use_pattern)
        pr[n++] = (mva_param){"reader_input", input};
    if (o->detector != NULL)
        pr[n++] = (mva_param){"reader_detector", o->detector};
    if (o->norm != NULL)
        pr[n++] = (mva_param){"reader_norm", o->norm};
    if (o->snake != MVA_SNAKE_AUTO)
        pr[n++] = (mva_param){"reader_snake", o->snake == MVA_SNAKE_ON ? "on" : "off"};
    if (o->scan != NULL)
        pr[n++] = (mva_param){"reader_scan", o->scan};
    if (o->channel_axis != MVA_STACK_AXIS_AUTO)
        pr[n++] = (mva_param){"reader_channel_axis",
                              o->channel_axis == MVA_STACK_AXIS_FIRST ? "first" : "last"};
    if (o->rows != 0 || o->cols != 0) {
        snprintf(t->shape, sizeof t->shape, "%zux%zu", o->rows, o->cols);
        pr[n++] = (mva_param){"reader_shape", t->shape};
    }
    if (o->calib.known) {
        snprintf(t->calib, sizeof t->calib, "%.17g,%.17g,%.17g", o->calib.a, o->calib.b,
                 o->calib.c);
        pr[n++] = (mva_param){"reader_calib", t->calib};
    }
    return n;
}

void cli_common_free(cli_common *c)
{
    for (size_t i = 0; i < c->nlist; i++)
        free(c->list[i]);
    free(c->list);
    c->list = NULL;
    c->nlist = 0;
}

/* --list FILE: one file name per line (blank lines and '#' comments skipped). */
static int read_list(cli_common *c, const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        cli_fail(c->prog, "--list %s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    char line[4096];
    size_t lineno = 0;
    int rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        lineno++;
        size_t len = strcspn(line, "\r\n");
        line[len] = '\0';
        if (len == 0 || line[0] == '#')
            continue;
        char **grown = realloc(c->list, (c->nlist + 1) * sizeof *grown);
        char *copy = strdup(line);
        if (grown == NULL || copy == NULL) {
            free(copy);
            if (grown)
                c->list = grown;
            cli_fail(c->prog, "--list %s: out of memory at line %zu", path, lineno);
            rc = -1;
            break;
        }
        c->list = grown;
        c->list[c->nlist++] = copy;
    }
    fclose(f);
    if (rc == 0 && c->nlist == 0) {
        cli_fail(c->prog, "--list %s: no file names in it", path);
        rc = -1;
    }
    c->open.files = (const char *const *)c->list;
    c->open.nfiles = c->nlist;
    return rc;
}

static int parse_series(cli_common *c, const char *arg)
{
    char *end;
    long first = strtol(arg, &end, 10), last;
    if (end == arg || *end != ':')
        goto bad;
    const char *second = end + 1;
    last = strtol(second, &end, 10);
    if (end == second || *end != '\0' || first < 0 || last < first)
        goto bad;
    c->open.use_pattern = 1;
    c->open.first = first;
    c->open.last = last;
    return 0;
bad:
    cli_fail(c->prog, "--series '%s': expected FIRST:LAST file numbers, e.g. 0:100", arg);
    return -1;
}

/* --detector, --norm, --snake: the reader stage (values checked against the input at open;
 * the syntax is checked here, so that a typo fails before any reading). */
static int reader_stage_option(cli_common *c, int opt, const char *arg)
{
    mva_error err = {0, ""};
    if (opt == OPT_DETECTOR) {
        if (mva_detector_check(arg, &err) != MVA_OK) {
            cli_fail(c->prog, "%s", err.msg);
            return -1;
        }
        c->open.detector = arg;
        return 1;
    }
    if (opt == OPT_NORM) {
        static mva_norm_spec ns; /* large: not on the stack */
        if (mva_norm_parse(arg, &ns, &err) != MVA_OK) {
            cli_fail(c->prog, "%s", err.msg);
            return -1;
        }
        c->open.norm = arg;
        return 1;
    }
    if (strcmp(arg, "on") == 0)
        c->open.snake = MVA_SNAKE_ON;
    else if (strcmp(arg, "off") == 0)
        c->open.snake = MVA_SNAKE_OFF;
    else if (strcmp(arg, "auto") == 0)
        c->open.snake = MVA_SNAKE_AUTO;
    else {
        cli_fail(c->prog, "--snake '%s': expected on (odd rows recorded right to left), off or "
                 "auto (from the file's positions)", arg);
        return -1;
    }
    return 1;
}

int cli_common_option(cli_common *c, int opt, const char *arg)
{
    size_t mib;
    switch (opt) {
    case OPT_DETECTOR:
    case OPT_NORM:
    case OPT_SNAKE:
        return reader_stage_option(c, opt, arg);
    case OPT_SCAN:
        c->open.scan = arg;
        return 1;
    case OPT_SERIES:
        return parse_series(c, arg) ? -1 : 1;
    case OPT_LIST:
        return read_list(c, arg) ? -1 : 1;
    case OPT_SHAPE:
        return cli_parse_shape(c->prog, arg, &c->open.rows, &c->open.cols) ? -1 : 1;
    case OPT_CALIB:
        return cli_parse_calib(c->prog, arg, &c->open.calib) ? -1 : 1;
    case OPT_AXIS:
        return cli_parse_axis(c->prog, arg, &c->open.channel_axis) ? -1 : 1;
    case OPT_MEMORY:
        if (cli_parse_size(c->prog, "--memory", arg, 1, &mib) || mib > ((size_t)1 << 20))
            return -1;
        c->pass.mem_budget = mib << 20;
        return 1;
    case OPT_SCRATCH:
        c->scratch = arg;
        return 1;
    case OPT_NO_SPILL:
        c->no_spill = 1;
        return 1;
    case 'q':
        c->quiet = 1;
        return 1;
    case 'v':
        c->verbose = 1;
        return 1;
    default:
        return 0;
    }
}

void cli_process_setup(void)
{
    /* HDF5 1.10 closes its files again in an atexit handler; after a write that failed at
     * close (disk full, file size limit) that second close crashes.  We close everything
     * ourselves, so the handler is not needed. */
    H5dont_atexit();
    /* Past a file size limit, write() should fail with EFBIG (reported, temporary removed)
     * rather than the process being killed by SIGXFSZ with a temporary file left behind. */
    signal(SIGXFSZ, SIG_IGN);
}

int cli_parse_args(cli_common *c, int argc, char **argv, const char *shortopts,
                   const struct option *longopts, const char *usage, cli_option_fn tool_option,
                   void *tool, const char **input)
{
    int opt;
    cli_process_setup();
    while ((opt = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
        if (opt == 'h') {
            fputs(usage, stdout);
            return 1;
        }
        if (opt == 'V') {
            printf("%s %s\n", c->prog, mva_version());
            return 1;
        }
        int r = cli_common_option(c, opt, optarg);
        if (r < 0)
            return 2;
        if (r == 0 && (tool_option == NULL || tool_option(tool, opt, optarg) != 0)) {
            if (tool_option == NULL)
                cli_fail(c->prog, "try '%s --help'", c->prog);
            return 2;
        }
    }
    if (optind == argc && c->nlist) { /* --list names the input */
        *input = c->list[0];
        return 0;
    }
    if (optind != argc - 1) {
        cli_fail(c->prog, "%s; try '%s --help'",
                 optind >= argc ? "no INPUT given" : "one INPUT expected", c->prog);
        return 2;
    }
    *input = argv[optind];
    return 0;
}

/* ---- progress on a terminal ---- */

static const char *progress_label = "";
static int progress_shown;

static int show_progress(void *user, double f)
{
    (void)user;
    fprintf(stderr, "\r%-24s %5.1f%%", progress_label, 100.0 * f);
    progress_shown = 1;
    return 0;
}

static int pass_count;

static void show_pass(void *user, double seconds, double bytes)
{
    (void)user;
    cli_progress_done();
    fprintf(stderr, "pass %d: %.3f s, %.0f MB/s of doubles\n", ++pass_count, seconds,
            bytes / 1e6 / (seconds > 0 ? seconds : 1e-9));
}

void cli_progress_init(cli_common *c, const char *label)
{
    progress_label = label;
    if (!c->quiet && isatty(STDERR_FILENO))
        c->pass.progress = show_progress;
    if (c->verbose)
        c->pass.pass_done = show_pass;
}

void cli_progress_label(const char *label)
{
    progress_label = label;
}

void cli_progress_done(void)
{
    if (progress_shown)
        fprintf(stderr, "\r%-32s\r", "");
    progress_shown = 0;
}

const char *cli_command_line(int argc, char **argv)
{
    static char buf[8192];
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; i < argc && len + 2 < sizeof buf; i++) {
        int n = snprintf(buf + len, sizeof buf - len, "%s%s", i ? " " : "", argv[i]);
        if (n < 0)
            break;
        len += (size_t)n;
        if (len >= sizeof buf)
            len = sizeof buf - 1;
    }
    return buf;
}

void cli_default_output(const char *input, const char *suffix, char *out, size_t cap)
{
    char file[4096], path[1024];
    if (mva_hdf5_split_input(input, file, sizeof file, path, sizeof path) != MVA_OK)
        snprintf(file, sizeof file, "%s", "output");
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    const char *dot = strrchr(base, '.');
    int len = dot && dot != base ? (int)(dot - base) : (int)strlen(base);
    snprintf(out, cap, "%.*s%s", len, base, suffix);
}

void cli_print_input(FILE *f, const mva_stack *s)
{
    const mva_stack_info *in = mva_stack_get_info(s);
    fprintf(f, "input      %s%s%s\n", in->source, in->path[0] ? "::" : "", in->path);
    if (in->layout_name[0])
        fprintf(f, "layout     %s\n", in->layout_name);
    if (in->elements[0])
        fprintf(f, "elements   %s\n", in->elements);
    if (in->norm[0])
        fprintf(f, "norm       %s\n", in->norm);
    if (in->snake == MVA_SNAKE_ON)
        fprintf(f, "snake      odd rows reversed (recorded right to left)\n");
    fprintf(f, "shape      %zu x %zu pixels x %zu channels (%s, %s)\n", in->rows, in->cols,
            in->channels, mva_dtype_name(in->dtype), in->layout);
}

void cli_print_warnings(const char *prog, const mva_stack *s)
{
    const char *w = mva_stack_get_info(s)->warnings;
    while (*w != '\0') {
        size_t len = strcspn(w, "\n");
        if (len > 0)
            fprintf(stderr, "%s: warning: %.*s\n", prog, (int)len, w);
        w += len + (w[len] == '\n');
    }
}

double cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int tool_open_input(tool_par *par, cli_common *c, const char *input, mva_stack **s,
                    mva_error *err, int *stop)
{
    int rc = mva_stack_open(s, input, &c->open, err);
    if (rc == MVA_OK && !c->quiet && (par == NULL || par->rank == 0))
        cli_print_warnings(c->prog, *s);
    *stop = par && par->opened(par, c->prog, rc, err->msg, rc == MVA_OK ? *s : NULL,
                               &c->pass) != MVA_OK;
    if (*stop) {
        mva_stack_close(*s);
        *s = NULL;
    }
    return rc;
}

void cli_spill(cli_common *c, mva_stack *s)
{
    char why[MVA_ERROR_MSG_MAX + 128];
    c->spilled = !c->no_spill && mva_stack_spill_auto(s, c->scratch, why, sizeof why) == 1;
    if (!c->no_spill && !c->spilled && why[0] != '\0' && c->verbose)
        fprintf(stderr, "%s: no spill: %s%s\n", c->prog, why,
                strstr(why, "tmpfs") ? " with --scratch" : "");
}

void cli_spill_summary(const cli_common *c, const mva_stack *s, char *buf, size_t cap)
{
    if (!c->spilled)
        snprintf(buf, cap, "%s", "");
    else
        snprintf(buf, cap, "spill      %.1f MB copy of the values in %s, read by the passes "
                 "after the first\n", (double)mva_stack_spill_used(s) / 1e6, mva_scratch_dir(c->scratch));
}
