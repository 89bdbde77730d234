/* mva-pca --rotate / --ica.  See pca_unmix.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "numparse.h"
#include "pca_unmix.h"

static int parse_rotate(pca_unmix *u, const char *prog, const char *arg)
{
    if (strcmp(arg, "varimax") == 0)
        u->gamma = MVA_ORTHOMAX_VARIMAX;
    else if (strcmp(arg, "quartimax") == 0)
        u->gamma = MVA_ORTHOMAX_QUARTIMAX;
    else if (strcmp(arg, "equamax") == 0)
        u->gamma = -1;
    else if (strncmp(arg, "orthomax=", 9) != 0 || mva_parse_double(arg + 9, &u->gamma) != 0 ||
             !(u->gamma >= 0)) {
        cli_fail(prog, "--rotate '%s': expected varimax, quartimax, equamax or orthomax=GAMMA "
                 "(GAMMA >= 0)", arg);
        return -1;
    }
    snprintf(u->method, sizeof u->method, "%s", arg);
    return 0;
}

int pca_unmix_option(pca_unmix *u, const char *prog, int which, const char *arg)
{
    size_t v;
    switch (which) {
    case 0: return parse_rotate(u, prog, arg);
    case 1: u->ica = 1; return 0;
    default:
        if (cli_parse_size(prog, "--ica-seed", arg, 0, &v))
            return -1;
        u->ica = 1;
        u->ica_seed = v;
        u->ica_seed_set = 1;
        return 0;
    }
}

int pca_unmix_run(pca_unmix *u, const mva_pca_model *m, const char *out, const char *entry,
                  mva_error *err)
{
    size_t n = m->rows * m->cols;
    int rc = MVA_OK;
    mva_ica_opts io = mva_ica_opts_default();
    if (u->ica_seed_set)
        io.seed = u->ica_seed;
    if (u->method[0]) {
        double gamma = u->gamma < 0 ? (double)m->k / 2 : u->gamma;
        rc = mva_rotate_orthomax(m->components, m->scores, m->k, m->p, n, gamma, 0, &u->rot,
                                 err);
    }
    if (rc == MVA_OK && u->ica)
        rc = mva_ica_fit(m->scores, m->k, n, m->mask, &io, &u->res, err);
    if (rc == MVA_OK && (u->rot || u->res))
        rc = mva_rotate_write(out, entry, m, u->rot, u->method, u->res, io.tol, err);
    return rc;
}

void pca_unmix_print(const pca_unmix *u)
{
    if (u->rot)
        printf("rotation   %s (gamma %g): %zu iterations, %s\n", u->method, u->rot->gamma,
               u->rot->iterations, u->rot->converged ? "converged" : "NOT converged");
    if (u->res)
        printf("ica        FastICA (log cosh), seed %llu: %zu iterations, %s (last change "
               "%.2g)\n", (unsigned long long)u->res->seed, u->res->iterations,
               u->res->converged ? "converged" : "NOT converged", u->res->final_change);
}

void pca_unmix_free(pca_unmix *u)
{
    mva_rotate_result_free(u->rot);
    mva_ica_free(u->res);
    u->rot = NULL;
    u->res = NULL;
}
