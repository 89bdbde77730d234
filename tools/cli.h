/* Shared helpers of the command-line tools: option values, progress, messages. */
#ifndef MVA_TOOLS_CLI_H
#define MVA_TOOLS_CLI_H

#include <getopt.h>
#include <stddef.h>
#include <stdio.h>

#include "mva.h"

/* Tool-wide settings from the common options. */
typedef struct cli_common {
    const char *prog;
    int quiet;
    int verbose;
    mva_open_opts open;
    mva_pass_opts pass;
    char **list;   /* --list: EDF file names (owned) */
    size_t nlist;
    const char *scratch; /* --scratch DIR: scratch files (spill, NMF's W) */
    int no_spill;        /* --no-spill */
    int spilled;         /* cli_spill made a spill copy */
} cli_common;

/* Process-wide settings every tool wants before touching HDF5 (cli_parse_args calls it):
 * no HDF5 atexit handler, SIGXFSZ ignored so that a file size limit is an error, not a kill. */
void cli_process_setup(void);

/* A tool's own options: returns 0 when handled, non-zero (after printing why) otherwise. */
typedef int (*cli_option_fn)(void *tool, int opt, const char *arg);

/*
 * Parses the command line: --help (prints usage) and --version, the common options, then the
 * tool's through `tool_option`; one INPUT (or none with --list).  Returns 0 to go on with
 * *input set, 1 when the tool should exit successfully (help, version), 2 on a usage error
 * (already reported).
 */
int cli_parse_args(cli_common *c, int argc, char **argv, const char *shortopts,
                   const struct option *longopts, const char *usage, cli_option_fn tool_option,
                   void *tool, const char **input);

/* The reader options as given (and INPUT as typed), as parameters reader_input,
 * reader_detector, reader_norm, reader_snake, reader_scan, reader_channel_axis, reader_shape,
 * reader_calib (those set), appended to pr[n..]; returns the new count (at most
 * n + CLI_READER_PARAMS).  Recorded with every result, so that mva-select and mva-cluster
 * reopen the stack as it was analysed (mva_result_input_opts).  t keeps the texts. */
#define CLI_READER_PARAMS 8
typedef struct cli_reader_text {
    char shape[64], calib[96];
} cli_reader_text;
size_t cli_reader_params(const cli_common *c, const char *input, mva_param *pr, size_t n,
                         cli_reader_text *t);

/* Frees what the common options allocated (the --list names). */
void cli_common_free(cli_common *c);

/* Prints "PROG: message" on stderr. */
void cli_fail(const char *prog, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Parses "RxC" (--shape), "A,B[,C]" (--calib), a non-negative integer, a "A:B" channel
 * range.  Each returns 0 or prints what was expected and returns -1. */
int cli_parse_shape(const char *prog, const char *s, size_t *rows, size_t *cols);
int cli_parse_calib(const char *prog, const char *s, mva_calib *cal);
int cli_parse_size(const char *prog, const char *opt, const char *s, size_t min, size_t *out);
int cli_parse_double(const char *prog, const char *opt, const char *s, double min, double *out);
int cli_parse_range(const char *prog, const char *opt, const char *s, size_t *a, size_t *b);
int cli_parse_axis(const char *prog, const char *s, mva_stack_axis *axis);

/* Parses one --roi value into defs[*n] and counts it (at most max); -1 after printing why. */
int cli_add_roi(const char *prog, const char *arg, mva_roi_def *defs, size_t *n, size_t max);

/* Handles one of the options every tool takes (--shape, --calib, --channel-axis, --memory,
 * --quiet); returns 1 when it was one, 0 when not, -1 on a bad value. */
int cli_common_option(cli_common *c, int opt, const char *arg);

/* Installs a progress display on stderr (only when stderr is a terminal and not quiet). */
void cli_progress_init(cli_common *c, const char *label);
void cli_progress_label(const char *label);
void cli_progress_done(void);

/* The command line joined with spaces, for the provenance record (static buffer). */
const char *cli_command_line(int argc, char **argv);

/* "map.h5" -> "map_pca.h5" (in the current directory) into out. */
void cli_default_output(const char *input, const char *suffix, char *out, size_t cap);

/* The summary lines every tool prints about its input: which file and dataset(s), the layout
 * recognised, the detector elements used, the normalisation (with its sources and reference),
 * snake order, and the shape with its dtype and axes.  Only the lines that apply. */
void cli_print_input(FILE *f, const mva_stack *s);

/* The reader's warnings (what it skipped), one "PROG: warning: ..." line each on stderr;
 * tool_open_input prints them unless --quiet. */
void cli_print_warnings(const char *prog, const mva_stack *s);

/* Wall-clock seconds since an arbitrary origin. */
double cli_now(void);

/* getopt_long codes of the common options, shared by every tool. */
enum {
    OPT_SHAPE = 1000,
    OPT_CALIB,
    OPT_AXIS,
    OPT_MEMORY,
    OPT_QUIET,
    OPT_HELP,
    OPT_VERSION,
    OPT_DETECTOR,
    OPT_SERIES,
    OPT_LIST,
    OPT_SCRATCH,
    OPT_NO_SPILL,
    OPT_NORM,
    OPT_SNAKE,
    OPT_SCAN,
    OPT_FIRST_TOOL /* tools number their own options from here */
};

#define CLI_COMMON_LONGOPTS                                                                     \
    {"shape", required_argument, NULL, OPT_SHAPE}, {"calib", required_argument, NULL, OPT_CALIB}, \
        {"channel-axis", required_argument, NULL, OPT_AXIS},                                    \
        {"memory", required_argument, NULL, OPT_MEMORY}, {"quiet", no_argument, NULL, 'q'},     \
        {"verbose", no_argument, NULL, 'v'},                                                    \
        {"detector", required_argument, NULL, OPT_DETECTOR},                                    \
        {"norm", required_argument, NULL, OPT_NORM},                                            \
        {"snake", required_argument, NULL, OPT_SNAKE},                                          \
        {"scan", required_argument, NULL, OPT_SCAN},                                            \
        {"series", required_argument, NULL, OPT_SERIES},                                        \
        {"list", required_argument, NULL, OPT_LIST},                                            \
        {"help", no_argument, NULL, 'h'}, {"version", no_argument, NULL, 'V'}

/* The tools that read the input more than once (mva-pca, mva-compress, mva-nmf). */
#define CLI_SPILL_LONGOPTS                                                                      \
    {"scratch", required_argument, NULL, OPT_SCRATCH},                                          \
        {"no-spill", no_argument, NULL, OPT_NO_SPILL}

#define CLI_SPILL_HELP                                                                          \
    "Passes over a compressed or SPEC input:\n"                                                 \
    "  (default)              the first pass also copies the values, in the narrowest type\n" \
    "                         that holds them (uint8, uint16 or the stored one), to\n"      \
    "                         a scratch file (removed as soon as it is open) that later passes\n"\
    "                         read instead of decoding the input again; only when the scratch\n"\
    "                         directory has room for twice the copy (rows x cols x channels\n"\
    "                         values), and not in a tmpfs unless named by --scratch.  Memory\n"\
    "                         stays bounded by --memory either way\n"                           \
    "  --scratch DIR          directory for scratch files (default $TMPDIR, else /tmp)\n"     \
    "  --no-spill             decode the input on every pass instead\n"

/* After opening: unless --no-spill, spills s by the library's rule (mva_stack_spill_auto,
 * --scratch as its dir); sets c->spilled.  A spill that cannot be made is skipped (said with
 * -v): the passes decode the input instead. */
void cli_spill(cli_common *c, mva_stack *s);

/* The summary line about the spill of s ("" when there was none) into buf. */
void cli_spill_summary(const cli_common *c, const mva_stack *s, char *buf, size_t cap);

#define CLI_COMMON_HELP                                                                         \
    "Input options (every tool):\n"                                                             \
    "  INPUT                  HDF5 file or FILE.h5::/path/to/dataset (found the NeXus way,\n"  \
    "                         @default/@signal, or as the only 3-D dataset); an EDF file (one\n"\
    "                         of a numbered series map_0000.edf... is extended to the whole\n" \
    "                         series; or a 3-D or multi-block EDF, .gz too); a SPEC file with\n"\
    "                         one @A spectrum per pixel.  The format is read from the content\n"\
    "  --series FIRST:LAST    INPUT is a printf pattern, e.g. 'map_%04d.edf', numbered\n"   \
    "                         FIRST..LAST, one file per map row\n"                           \
    "  --list FILE            EDF files (one per map row) listed in FILE, one per line\n"     \
    "  --detector SEL         several detector elements (SPEC MCAs per point, 4-D or per-\n" \
    "                         element HDF5): sum (the default), N (from 0), a list 0,2,3 or\n"  \
    "                         a range 0-3 (summed); an error on a single-element input\n"     \
    "  --norm TERM[,TERM]     normalise each pixel (each element before the sum): TERM is\n"  \
    "                         [monitor:|livetime:|dtc:]SOURCE[@REF], SOURCE a dataset (/path,\n"\
    "                         other.h5::/path) or a name of the layout (livetime, dtc, i0,\n"  \
    "                         monitor:NAME; Odin: from PREFIX_meta.h5 beside the file);\n"   \
    "                         monitor and live time divide and scale to REF\n"               \
    "                         (default their mean), dtc multiplies; zero, negative or NaN\n"   \
    "                         factors mask the pixel.  E.g. --norm livetime, --norm\n"        \
    "                         dtc,monitor:/scalers/I0@1e5.  The result file keeps each\n"      \
    "                         pixel's factor (per element when they differ) with its source\n"\
    "                         and reference in process/normalisation\n"                       \
    "  --snake on|off|auto    every other row recorded right to left (on: put back in order;\n"\
    "                         auto, the default: from the file's positions when known:\n"     \
    "                         BLISS, PyXRF, MAPS, SPEC's motor column; positions off the\n"   \
    "                         grid are refused: off or on reads them anyway)\n"               \
    "  --scan N|N,M,..|N:M    SPEC: the scans forming the map, by their #S number (N.K: the\n"\
    "                         K-th scan numbered N, silx's order, when numbers repeat); N:M\n"\
    "                         runs in file order.  Default: every scan with MCA spectra (a\n"  \
    "                         malformed one is skipped with a warning; a named one is an\n"  \
    "                         error).  Shape: one scan alone that is a mesh has its own\n"    \
    "                         (rows = slow intervals + 1); several scans of equal length, one\n"\
    "                         a row; else one row.  With --norm, NAME is a counter of the\n"  \
    "                         scans' #L line (I0, Seconds, ...): --norm I0 or --norm I0@1e5\n"\
    "  --shape RxC            map shape (rows x cols), e.g. for 2-D (pixels, channels) data\n"       \
    "  --channel-axis first|last  where the channel axis is (default: from the file)\n"        \
    "  --calib A,B[,C]        energy calibration E(keV) = A + B*ch + C*ch^2\n"                 \
    "  --memory MIB           block buffer budget in MiB (default 64)\n"                       \
    "  -q, --quiet            no progress or summary\n"                                       \
    "  -v, --verbose          time and throughput of every pass over the data, on stderr\n"   \
    "  -h, --help             this help;  -V, --version  version\n"

#endif
