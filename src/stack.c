/* The stack wrapper and the calibration helpers.  Which format a file is and which reader
 * opens it is io/'s business (io/formats.c; arrays in memory: io/memory.c): the core
 * includes no reader. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mva/stack.h"
#include "stackint.h"

struct mva_stack {
    const mva_reader_ops *ops;
    void *self;
    mva_stack_info info;
    mva_norm_factors *norm; /* info.norm_factors when this stack owns them */
};

double mva_calib_energy(const mva_calib *cal, double ch)
{
    if (cal == NULL || !cal->known)
        return ch;
    return cal->a + ch * (cal->b + ch * cal->c);
}

int mva_calib_channel(const mva_calib *cal, double e, double *ch)
{
    if (cal == NULL || !cal->known)
        return MVA_EINVAL;
    if (cal->c == 0.0) {
        if (cal->b == 0.0)
            return MVA_EINVAL;
        *ch = (e - cal->a) / cal->b;
        return MVA_OK;
    }
    /* c ch^2 + b ch + (a - e) = 0; take the root on the branch where E grows with ch. */
    double disc = cal->b * cal->b - 4.0 * cal->c * (cal->a - e);
    if (disc < 0.0)
        return MVA_EINVAL;
    double s = sqrt(disc);
    /* Stable form of (-b + s) / (2c) (Numerical Recipes 5.6). */
    double q = -0.5 * (cal->b + (cal->b >= 0 ? -s : s));
    double r1 = q / cal->c, r2 = (q != 0.0) ? (cal->a - e) / q : r1;
    /* The increasing branch has derivative b + 2 c ch > 0. */
    *ch = (cal->b + 2.0 * cal->c * r1 > 0.0) ? r1 : r2;
    return MVA_OK;
}

int mva_stack_new(mva_stack **out, const mva_reader_ops *ops, void *self,
                  const mva_stack_info *info, mva_error *err)
{
    mva_stack *s = calloc(1, sizeof *s);
    if (s == NULL) {
        ops->close(self);
        return mva_error_set(err, MVA_ENOMEM, "out of memory opening a stack");
    }
    s->ops = ops;
    s->self = self;
    s->info = *info;
    *out = s;
    return MVA_OK;
}

const mva_stack_info *mva_stack_get_info(const mva_stack *s)
{
    return &s->info;
}

mva_stack_info *mva_stack_info_edit(mva_stack *s)
{
    return &s->info;
}

int mva_stack_read(mva_stack *s, size_t first, size_t count, double *out, mva_error *err)
{
    size_t n = s->info.rows * s->info.cols;
    if (first > n || count > n - first)
        return mva_error_set(err, MVA_ERANGE, "%s: pixels %zu..%zu requested, stack has %zu",
                             s->info.source, first, first + count, n);
    if (count == 0)
        return MVA_OK;
    return s->ops->read(s->self, first, count, out, err);
}

int mva_stack_noise(mva_stack *s, size_t first, size_t count, double *factor, mva_error *err)
{
    if (s->ops->noise == NULL)
        return 0;
    int rc = s->ops->noise(s->self, first, count, factor, err);
    return rc < 0 ? rc : 1;
}

void mva_stack_swap_reader(mva_stack *s, const mva_reader_ops **ops, void **self)
{
    const mva_reader_ops *o = s->ops;
    void *me = s->self;
    s->ops = *ops;
    s->self = *self;
    *ops = o;
    *self = me;
}

void mva_stack_get_reader(const mva_stack *s, const mva_reader_ops **ops, void **self)
{
    *ops = s->ops;
    *self = s->self;
}

void mva_stack_set_norm(mva_stack *s, mva_norm_factors *f)
{
    if (s->norm != f)
        free(s->norm);
    s->norm = f;
    s->info.norm_factors = f;
}

void mva_stack_close(mva_stack *s)
{
    if (s == NULL)
        return;
    if (s->ops->close != NULL)
        s->ops->close(s->self);
    free(s->norm);
    free(s);
}

