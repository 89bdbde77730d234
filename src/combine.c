/* The generic reader stage: detector elements, their weighted sum, snake rows, normalisation
 * factors.  See combine.h. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "combine.h"
#include "numparse.h"
#include "stackint.h"

/* ---- --detector ---- */

static const char detector_syntax[] =
    "expected 'sum', an element number (from 0), a list such as 0,2,3 or a range such as 0-3";

/* Reads an element number at *s (decimal digits only), advancing *s. */
static int read_index(const char **s, size_t *out)
{
    const char *p = *s;
    size_t v = 0;
    if (!isdigit((unsigned char)*p))
        return -1;
    for (; isdigit((unsigned char)*p); p++) {
        if (v > (SIZE_MAX - 9) / 10)
            return -1;
        v = v * 10 + (size_t)(*p - '0');
    }
    *s = p;
    *out = v;
    return 0;
}

int mva_detector_select(const char *spec, size_t nel, unsigned char *use, mva_error *err)
{
    if (nel == 0)
        return mva_error_set(err, MVA_EINVAL, "--detector: the input has no detector element");
    if (spec == NULL) {
        memset(use, 1, nel);
        return (int)(nel > INT32_MAX ? INT32_MAX : nel);
    }
    if (nel == 1)
        return mva_error_set(err, MVA_EINVAL,
                             "--detector %s: the input has a single detector element; "
                             "--detector applies to inputs of several (leave it out)", spec);
    if (strcmp(spec, "sum") == 0) {
        memset(use, 1, nel);
        return (int)(nel > INT32_MAX ? INT32_MAX : nel);
    }
    memset(use, 0, nel);
    const char *s = spec;
    size_t used = 0;
    for (;;) {
        size_t a, b;
        if (read_index(&s, &a) != 0)
            goto syntax;
        b = a;
        if (*s == '-') {
            s++;
            if (read_index(&s, &b) != 0 || b < a)
                goto syntax;
        }
        if (b >= nel)
            return mva_error_set(err, MVA_EINVAL,
                                 "--detector %s: the input has %zu detector elements (0-%zu)",
                                 spec, nel, nel - 1);
        for (size_t e = a; e <= b; e++) {
            used += !use[e];
            use[e] = 1;
        }
        if (*s == '\0')
            break;
        if (*s++ != ',')
            goto syntax;
    }
    return (int)used;
syntax:
    return mva_error_set(err, MVA_EINVAL, "--detector '%s': %s", spec, detector_syntax);
}

int mva_detector_check(const char *spec, mva_error *err)
{
    if (spec == NULL || strcmp(spec, "sum") == 0)
        return MVA_OK;
    const char *s = spec;
    for (;;) {
        size_t a, b;
        if (read_index(&s, &a) != 0)
            break;
        b = a;
        if (*s == '-' && (s++, read_index(&s, &b) != 0 || b < a))
            break;
        if (*s == '\0')
            return MVA_OK;
        if (*s++ != ',')
            break;
    }
    return mva_error_set(err, MVA_EINVAL, "--detector '%s': %s", spec, detector_syntax);
}

void mva_text_append(char *buf, size_t cap, const char *fmt, ...)
{
    size_t len = strlen(buf);
    if (len + 1 >= cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + len, cap - len, fmt, ap);
    va_end(ap);
}

void mva_detector_describe(const unsigned char *use, size_t nel, const char *const *names,
                           char *buf, size_t cap)
{
    size_t used = 0, one = 0;
    if (cap == 0)
        return;
    buf[0] = '\0';
    if (nel <= 1)
        return;
    for (size_t e = 0; e < nel; e++)
        if (use[e]) {
            used++;
            one = e;
        }
    if (used == 1)
        snprintf(buf, cap, "element %zu of %zu", one, nel);
    else if (used == nel)
        snprintf(buf, cap, "sum of %zu elements", nel);
    else {
        snprintf(buf, cap, "sum of elements ");
        for (size_t e = 0, k = 0; e < nel; e++)
            if (use[e])
                mva_text_append(buf, cap, "%s%zu", k++ ? ", " : "", e);
        mva_text_append(buf, cap, " of %zu", nel);
    }
    if (names == NULL)
        return;
    mva_text_append(buf, cap, ": ");
    for (size_t e = 0, k = 0; e < nel; e++)
        if (use[e])
            mva_text_append(buf, cap, "%s%s", k++ ? ", " : "", names[e]);
}

/* ---- the weighted sum of elements ---- */

void mva_combine_add(double *out, const double *in, size_t count, size_t p, const double *w)
{
    for (size_t i = 0; i < count; i++) {
        double *o = out + i * p;
        const double *x = in + i * p;
        double wi = w ? w[i] : 1.0;
        if (wi == 1.0)
            for (size_t j = 0; j < p; j++)
                o[j] += x[j];
        else
            for (size_t j = 0; j < p; j++)
                o[j] += wi * x[j];
    }
}

typedef struct {
    mva_stack **elems;
    size_t nel, n, p;
    double *w;     /* nel x n, or NULL */
    double *buf;   /* one block of one element */
    size_t cap;    /* pixels buf holds */
    /* Poisson variance factor of each pixel (NULL without weights): sum_e w^2 t_e /
     * sum_e w t_e from the raw totals t_e, set when the pixel is read; until then from the
     * weights alone (the mean of w^2 / the mean of w). */
    double *noise;
    double *tot;   /* nel raw totals of one pixel: count x nel while reading a block */
    size_t tot_cap;
} combine_reader;

/* Raw totals of count pixels of one element into tot[i * nel + e]. */
static void element_totals(combine_reader *c, const double *x, size_t count, size_t e)
{
    for (size_t i = 0; i < count; i++) {
        double t = 0.0;
        for (size_t j = 0; j < c->p; j++)
            t += x[i * c->p + j];
        c->tot[i * c->nel + e] = t;
    }
}

/* The variance factors of pixels [first, first + count) from their raw totals. */
static void pixel_noise(combine_reader *c, size_t first, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        double num = 0.0, den = 0.0;
        for (size_t e = 0; e < c->nel; e++) {
            double w = c->w[e * c->n + first + i], t = c->tot[i * c->nel + e];
            num += w * w * t;
            den += w * t;
        }
        if (den > 0.0 && isfinite(num / den))
            c->noise[first + i] = num / den;
    }
}

/* Before any read: the factors from the weights alone. */
static void weight_noise(combine_reader *c)
{
    for (size_t i = 0; i < c->n; i++) {
        double num = 0.0, den = 0.0;
        for (size_t e = 0; e < c->nel; e++) {
            double w = c->w[e * c->n + i];
            num += w * w;
            den += w;
        }
        c->noise[i] = den > 0.0 && isfinite(num / den) ? num / den : 1.0;
    }
}

static int combine_read(void *self, size_t first, size_t count, double *out, mva_error *err)
{
    combine_reader *c = self;
    if (c->nel == 1 && c->w == NULL)
        return mva_stack_read(c->elems[0], first, count, out, err);
    if (count > c->cap) {
        double *b = realloc(c->buf, count * c->p * sizeof *b);
        if (b == NULL)
            return mva_error_set(err, MVA_ENOMEM, "out of memory summing detector elements "
                                 "(%zu pixels of %zu channels)", count, c->p);
        c->buf = b;
        c->cap = count;
    }
    if (c->noise != NULL && count * c->nel > c->tot_cap) {
        double *t = realloc(c->tot, count * c->nel * sizeof *t);
        if (t == NULL)
            return mva_error_set(err, MVA_ENOMEM, "out of memory summing detector elements");
        c->tot = t;
        c->tot_cap = count * c->nel;
    }
    memset(out, 0, count * c->p * sizeof *out);
    for (size_t e = 0; e < c->nel; e++) {
        int rc = mva_stack_read(c->elems[e], first, count, c->buf, err);
        if (rc != MVA_OK)
            return rc;
        if (c->noise != NULL)
            element_totals(c, c->buf, count, e);
        mva_combine_add(out, c->buf, count, c->p, c->w ? c->w + e * c->n + first : NULL);
    }
    if (c->noise != NULL)
        pixel_noise(c, first, count);
    return MVA_OK;
}

static int combine_noise(void *self, size_t first, size_t count, double *factor,
                         mva_error *err)
{
    (void)err;
    combine_reader *c = self;
    for (size_t i = 0; i < count; i++)
        factor[i] = c->noise ? c->noise[first + i] : 1.0;
    if (c->noise == NULL && c->nel == 1) /* an element's own factors, if it has them */
    {
        int got = mva_stack_noise(c->elems[0], first, count, factor, err);
        return got < 0 ? got : MVA_OK;
    }
    return MVA_OK;
}

static void combine_close(void *self)
{
    combine_reader *c = self;
    if (c == NULL)
        return;
    for (size_t e = 0; e < c->nel; e++)
        mva_stack_close(c->elems[e]);
    free(c->elems);
    free(c->w);
    free(c->buf);
    free(c->noise);
    free(c->tot);
    free(c);
}

static const mva_reader_ops combine_ops = {"combine", combine_read, combine_close,
                                           combine_noise};

/* The type the sum of nel values of type t fits in (exactly, as doubles are read). */
static mva_dtype sum_type(mva_dtype t, size_t nel, int weighted)
{
    if (weighted || t == MVA_DTYPE_FLOAT32 || t == MVA_DTYPE_FLOAT64 || t == MVA_DTYPE_UNKNOWN)
        return MVA_DTYPE_FLOAT64;
    if (nel == 1)
        return t;
    return mva_dtype_size(t) <= 2 ? MVA_DTYPE_INT32 : MVA_DTYPE_FLOAT64;
}

int mva_combine_open(mva_stack **out, mva_stack **elems, size_t nel, double *w,
                     const mva_stack_info *info, mva_error *err)
{
    int rc = MVA_OK;
    *out = NULL;
    combine_reader *c = calloc(1, sizeof *c);
    mva_stack **own = calloc(nel ? nel : 1, sizeof *own);
    if (c == NULL || own == NULL) {
        free(c);
        free(own);
        for (size_t e = 0; e < nel; e++)
            mva_stack_close(elems[e]);
        free(w);
        return mva_error_set(err, MVA_ENOMEM, "out of memory combining detector elements");
    }
    memcpy(own, elems, nel * sizeof *own);
    c->elems = own;
    c->nel = nel;
    c->w = w;
    mva_stack_info in = *info;
    if (nel == 0) {
        rc = mva_error_set(err, MVA_EINVAL, "%s: no detector element to read", info->source);
        goto fail;
    }
    const mva_stack_info *e0 = mva_stack_get_info(elems[0]);
    for (size_t e = 1; e < nel; e++) {
        const mva_stack_info *ie = mva_stack_get_info(elems[e]);
        if (ie->rows != e0->rows || ie->cols != e0->cols || ie->channels != e0->channels) {
            rc = mva_error_set(err, MVA_EFORMAT,
                               "%s: detector elements differ in shape: %s is %zu x %zu x %zu, "
                               "%s is %zu x %zu x %zu (rows x cols x channels)",
                               info->source, e0->path, e0->rows, e0->cols, e0->channels,
                               ie->path, ie->rows, ie->cols, ie->channels);
            goto fail;
        }
    }
    c->n = e0->rows * e0->cols;
    c->p = e0->channels;
    if (w != NULL) {
        if ((c->noise = malloc(c->n * sizeof *c->noise)) == NULL) {
            rc = mva_error_set(err, MVA_ENOMEM, "out of memory combining detector elements");
            goto fail;
        }
        weight_noise(c);
    }
    in.rows = e0->rows;
    in.cols = e0->cols;
    in.channels = e0->channels;
    in.dtype = sum_type(e0->dtype, nel, w != NULL);
    return mva_stack_new(out, &combine_ops, c, &in, err);
fail:
    combine_close(c);
    return rc;
}

/* ---- snake scans ---- */

typedef struct {
    const mva_reader_ops *ops; /* the reader underneath */
    void *self;
    size_t cols, p;
} snake_reader;

/* Reverses the order of count spectra of p values in place. */
static void reverse_pixels(double *x, size_t count, size_t p)
{
    for (size_t a = 0, b = count ? count - 1 : 0; a < b; a++, b--) {
        double *u = x + a * p, *v = x + b * p;
        for (size_t j = 0; j < p; j++) {
            double t = u[j];
            u[j] = v[j];
            v[j] = t;
        }
    }
}

/* Pixels [first, first+count) of the map, each row's piece read at once: an odd row's piece
 * (r, c0..c1) is stored at (r, cols-1-c1..cols-1-c0), in reverse order. */
static int snake_read(void *self, size_t first, size_t count, double *out, mva_error *err)
{
    snake_reader *sn = self;
    size_t i = first, end = first + count;
    while (i < end) {
        size_t r = i / sn->cols, c0 = i % sn->cols;
        size_t len = sn->cols - c0 < end - i ? sn->cols - c0 : end - i;
        double *o = out + (i - first) * sn->p;
        size_t from = r % 2 ? r * sn->cols + (sn->cols - c0 - len) : i;
        int rc = sn->ops->read(sn->self, from, len, o, err);
        if (rc != MVA_OK)
            return rc;
        if (r % 2)
            reverse_pixels(o, len, sn->p);
        i += len;
    }
    return MVA_OK;
}

/* The factors of map pixels [first, first + count), mapped like snake_read. */
static int snake_noise(void *self, size_t first, size_t count, double *factor, mva_error *err)
{
    snake_reader *sn = self;
    size_t i = first, end = first + count;
    while (i < end) {
        size_t r = i / sn->cols, c0 = i % sn->cols;
        size_t len = sn->cols - c0 < end - i ? sn->cols - c0 : end - i;
        double *f = factor + (i - first);
        size_t from = r % 2 ? r * sn->cols + (sn->cols - c0 - len) : i;
        if (sn->ops->noise == NULL) {
            for (size_t k = 0; k < len; k++)
                f[k] = 1.0;
        } else {
            int rc = sn->ops->noise(sn->self, from, len, f, err);
            if (rc != MVA_OK)
                return rc;
            if (r % 2)
                reverse_pixels(f, len, 1);
        }
        i += len;
    }
    return MVA_OK;
}

static void snake_close(void *self)
{
    snake_reader *sn = self;
    if (sn->ops->close != NULL)
        sn->ops->close(sn->self);
    free(sn);
}

static const mva_reader_ops snake_ops = {"snake", snake_read, snake_close, snake_noise};

mva_norm_factors *mva_norm_factors_new(size_t rows, size_t cols, size_t nel, double **factor,
                                       size_t **element)
{
    size_t n = rows * cols;
    if (nel == 0 || (cols != 0 && n / cols != rows) || n > (SIZE_MAX / 2 - 4096) / nel /
                                                               sizeof(double))
        return NULL;
    /* the struct, then nel element numbers, then the doubles (aligned after the size_t's) */
    size_t head = sizeof(mva_norm_factors) + nel * sizeof(size_t);
    head = (head + sizeof(double) - 1) / sizeof(double) * sizeof(double);
    mva_norm_factors *f = calloc(1, head + nel * n * sizeof(double));
    if (f == NULL)
        return NULL;
    f->rows = rows;
    f->cols = cols;
    f->nel = nel;
    *element = (size_t *)(f + 1);
    *factor = (double *)((char *)f + head);
    f->element = *element;
    f->factor = *factor;
    return f;
}

mva_norm_factors *mva_norm_factors_remap(const mva_norm_factors *f, size_t rows, size_t cols,
                                         int snake)
{
    double *v;
    size_t *el, n = rows * cols, have = f->rows * f->cols;
    mva_norm_factors *g = mva_norm_factors_new(rows, cols, f->nel, &v, &el);
    if (g == NULL)
        return NULL;
    memcpy(el, f->element, f->nel * sizeof *el);
    g->nterms = f->nterms;
    memcpy(g->term, f->term, sizeof g->term);
    for (size_t k = 0; k < f->nel; k++)
        for (size_t i = 0; i < n; i++) {
            size_t r = i / cols, c = i % cols;
            size_t from = snake && r % 2 ? r * cols + (cols - 1 - c) : i;
            v[k * n + i] = from < have ? f->factor[k * have + from] : NAN;
        }
    return g;
}

int mva_snake_wrap(mva_stack *s, mva_error *err)
{
    const mva_norm_factors *f = mva_stack_get_info(s)->norm_factors;
    mva_norm_factors *g = NULL;
    if (f != NULL && (g = mva_norm_factors_remap(f, f->rows, f->cols, 1)) == NULL)
        return mva_error_set(err, MVA_ENOMEM, "out of memory");
    snake_reader *sn = calloc(1, sizeof *sn);
    if (sn == NULL) {
        free(g);
        return mva_error_set(err, MVA_ENOMEM, "out of memory");
    }
    if (g != NULL)
        mva_stack_set_norm(s, g);
    mva_stack_info *info = mva_stack_info_edit(s);
    sn->cols = info->cols;
    sn->p = info->channels;
    sn->ops = &snake_ops;
    sn->self = sn;
    mva_stack_swap_reader(s, &sn->ops, &sn->self);
    info->snake = MVA_SNAKE_ON;
    return MVA_OK;
}

/* ---- normalisation ---- */

static const char norm_syntax[] =
    "expected TERM[,TERM...], TERM = [monitor:|livetime:|dtc:]SOURCE[@REF] with SOURCE a "
    "dataset (/path or file.h5::/path) or a name of the layout (livetime, dtc, i0, "
    "monitor:NAME), e.g. --norm livetime@1.0 or --norm dtc,i0";

static int kind_of(const char *word, size_t len, mva_norm_kind *kind)
{
    static const struct {
        const char *word;
        mva_norm_kind kind;
    } kinds[] = {{"monitor", MVA_NORM_MONITOR}, {"i0", MVA_NORM_MONITOR},
                 {"livetime", MVA_NORM_LIVETIME}, {"dtc", MVA_NORM_DTC}};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
        if (strlen(kinds[k].word) == len && strncmp(word, kinds[k].word, len) == 0) {
            *kind = kinds[k].kind;
            return 0;
        }
    return -1;
}

/* A dataset path's "[E]" suffix into t->element (removed from the path). */
static int parse_element(mva_norm_term *t)
{
    size_t len = strlen(t->path);
    char *open = strrchr(t->path, '[');
    if (len == 0 || t->path[len - 1] != ']' || open == NULL)
        return 0;
    const char *s = open + 1;
    size_t e;
    if (read_index(&s, &e) != 0 || *s != ']' || e > 1000000)
        return -1;
    t->element = (long)e;
    *open = '\0';
    return 0;
}

/* SOURCE of a term: a dataset ("/path", "file::/path") or a layout name. */
static int parse_source(const char *src, mva_norm_term *t)
{
    const char *sep = strstr(src, "::");
    if (sep != NULL) {
        if (sep == src || sep[2] != '/' || (size_t)(sep - src) >= sizeof t->file ||
            strlen(sep + 2) >= sizeof t->path)
            return -1;
        memcpy(t->file, src, (size_t)(sep - src));
        t->file[sep - src] = '\0';
        snprintf(t->path, sizeof t->path, "%s", sep + 2);
        return parse_element(t);
    }
    if (src[0] == '/') {
        if (strlen(src) >= sizeof t->path || src[1] == '\0')
            return -1;
        memcpy(t->path, src, strlen(src) + 1); /* length checked: gcc -O1 cannot see it */
        return parse_element(t);
    }
    if (src[0] == '\0' || strlen(src) >= sizeof t->name || strchr(src, '/') != NULL)
        return -1;
    memcpy(t->name, src, strlen(src) + 1);
    return 0;
}

/* One term (len bytes at s). */
static int parse_term(const char *s, size_t len, mva_norm_term *t)
{
    char buf[4096 + 1024 + 64];
    if (len == 0 || len >= sizeof buf)
        return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    memset(t, 0, sizeof *t);
    t->element = -1;
    char *at = strrchr(buf, '@');
    if (at != NULL) {
        *at = '\0';
        if (mva_parse_double(at + 1, &t->ref) != 0 || !(t->ref > 0) || !isfinite(t->ref))
            return -1;
        t->has_ref = 1;
    }
    const char *src = buf;
    char *colon = strchr(buf, ':');
    int kind_given = 0;
    /* "KIND:..." but not "file::/path" */
    if (colon != NULL && colon[1] != ':' && (colon == buf || colon[-1] != ':') &&
        kind_of(buf, (size_t)(colon - buf), &t->kind) == 0) {
        src = colon + 1;
        kind_given = 1;
    }
    if (parse_source(src, t) != 0)
        return -1;
    if (!kind_given) {
        /* a bare name is its own kind (livetime, dtc, i0), else a monitor the reader finds
         * (a SPEC counter, a scaler); a bare dataset is a monitor */
        if (t->name[0] == '\0' || kind_of(t->name, strlen(t->name), &t->kind) != 0)
            t->kind = MVA_NORM_MONITOR;
    }
    if (t->kind == MVA_NORM_DTC && t->has_ref)
        return -2;
    return 0;
}

int mva_norm_parse(const char *spec, mva_norm_spec *out, mva_error *err)
{
    memset(out, 0, sizeof *out);
    if (spec == NULL || spec[0] == '\0')
        return mva_error_set(err, MVA_EINVAL, "--norm '': %s", norm_syntax);
    const char *s = spec;
    for (;;) {
        /* terms are split at commas outside of a dataset path */
        size_t len = strcspn(s, ",");
        if (out->nterms == MVA_NORM_TERMS_MAX)
            return mva_error_set(err, MVA_EINVAL, "--norm '%s': at most %d terms", spec,
                                 MVA_NORM_TERMS_MAX);
        int rc = parse_term(s, len, &out->term[out->nterms]);
        if (rc == -2)
            return mva_error_set(err, MVA_EINVAL,
                                 "--norm '%.*s': dead-time factors take no reference (@VALUE "
                                 "applies to monitor and live time terms)", (int)len, s);
        if (rc != 0)
            return mva_error_set(err, MVA_EINVAL, "--norm '%.*s': %s", (int)len, s,
                                 norm_syntax);
        out->nterms++;
        if (s[len] == '\0')
            break;
        s += len + 1;
    }
    return MVA_OK;
}

int mva_norm_factor(const mva_norm_term *t, const double *v, size_t n, size_t vnel,
                    size_t nel, double *w, double *ref_used, size_t *masked, mva_error *err)
{
    if (vnel != 1 && vnel != nel)
        return mva_error_set(err, MVA_EINVAL,
                             "normalisation values for %zu elements, the input has %zu", vnel,
                             nel);
    double ref = 0.0, sum = 0.0;
    size_t good = 0, bad = 0;
    for (size_t i = 0; i < vnel * n; i++)
        if (isfinite(v[i]) && v[i] > 0) {
            sum += v[i];
            good++;
        }
    if (good == 0)
        return mva_error_set(err, MVA_EINVAL, "no usable normalisation value: all %zu are zero, "
                             "negative or not a number", vnel * n);
    if (t->kind != MVA_NORM_DTC)
        ref = t->has_ref ? t->ref : sum / (double)good;
    for (size_t e = 0; e < nel; e++) {
        const double *ve = v + (vnel == 1 ? 0 : e * n);
        double *we = w + e * n;
        for (size_t i = 0; i < n; i++) {
            double x = ve[i];
            if (!(isfinite(x) && x > 0)) {
                bad += !isnan(we[i]);
                we[i] = NAN;
            } else
                we[i] *= t->kind == MVA_NORM_DTC ? x : ref / x;
        }
    }
    *ref_used = ref;
    *masked = bad;
    return MVA_OK;
}

void mva_norm_dtc_from_rates(const double *icr, const double *ocr, const double *realtime,
                             const double *livetime, size_t count, double *dtc)
{
    for (size_t i = 0; i < count; i++) {
        double f = icr[i] / ocr[i];
        if (realtime != NULL && livetime != NULL)
            f *= realtime[i] / livetime[i];
        dtc[i] = isfinite(f) && f > 0 ? f : NAN;
    }
}

/* ---- the generic stage ---- */

int mva_stage_apply(mva_stack **s, const mva_open_opts *opts, mva_error *err)
{
    int rc = MVA_OK;
    if (opts == NULL)
        return MVA_OK;
    const mva_stack_info *in = mva_stack_get_info(*s);
    /* The SPEC and HDF5 readers take --scan (or refuse it themselves); any other reader
     * has no scans, and an option that does not apply is an error, never ignored. */
    if (opts->scan != NULL && strcmp(in->format, "spec") != 0 && strcmp(in->format, "hdf5") != 0) {
        rc = mva_error_set(err, MVA_EINVAL, "%s: --scan %s: scans are chosen in SPEC files and "
                           "ESRF BLISS HDF5 files; this %s input has none", in->source,
                           opts->scan, in->format);
        goto fail;
    }
    if (opts->channel_axis == MVA_STACK_AXIS_FIRST && strcmp(in->format, "spec") == 0) {
        rc = mva_error_set(err, MVA_EINVAL, "%s: --channel-axis first: a SPEC file's MCA lines "
                           "are one spectrum each, channels last; leave the option out",
                           in->source);
        goto fail;
    }
    if (opts->detector != NULL && in->elements[0] == '\0') {
        unsigned char one;
        rc = mva_detector_select(opts->detector, 1, &one, err);
        mva_error_prefix(err, rc, "%s: ", in->source);
        goto fail;
    }
    if (opts->norm != NULL && in->norm[0] == '\0') {
        double *w = NULL;
        mva_norm_factors *f = NULL;
        char desc[sizeof in->norm];
        rc = mva_norm_build_factors(opts->norm, in->source, in->rows, in->cols, 1, NULL, NULL,
                                    NULL, &w, &f, desc, sizeof desc, err);
        if (rc != MVA_OK)
            goto fail;
        mva_stack_info info = *in;
        snprintf(info.norm, sizeof info.norm, "%s", desc);
        mva_stack *one = *s;
        *s = NULL;
        if ((rc = mva_combine_open(s, &one, 1, w, &info, err)) != MVA_OK) {
            free(f);
            return rc;
        }
        mva_stack_set_norm(*s, f);
    }
    if (opts->snake == MVA_SNAKE_ON && mva_stack_get_info(*s)->rows < 2) {
        rc = mva_error_set(err, MVA_EINVAL, "%s: --snake on: the map has a single row (%zu "
                           "pixels), no row to put back; give its shape with --shape "
                           "ROWSxCOLS first", in->source, mva_stack_get_info(*s)->cols);
        goto fail;
    }
    if (opts->snake == MVA_SNAKE_ON && mva_stack_get_info(*s)->snake != MVA_SNAKE_ON &&
        (rc = mva_snake_wrap(*s, err)) != MVA_OK)
        goto fail;
    return MVA_OK;
fail:
    mva_stack_close(*s);
    *s = NULL;
    return rc;
}
