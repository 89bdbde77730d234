/* Images as RGB PNG through libpng's simplified API (libpng >= 1.6). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>

#include "internal.h"

/* PNG allows 2^31 - 1 pixels per side; a limit far below keeps the RGB buffer sane. */
#define MAX_SIDE 32768

int rpt_raster_new(rpt_raster *r, size_t w, size_t h, unsigned char fill, mva_error *err)
{
    size_t n;
    r->rgb = NULL;
    r->w = w;
    r->h = h;
    if (w == 0 || h == 0 || w > MAX_SIDE || h > MAX_SIDE || mva_size_mul(w, h, &n) != MVA_OK ||
        mva_size_mul(n, 3, &n) != MVA_OK)
        return mva_error_set(err, MVA_ERANGE,
                             "report: image of %zu x %zu pixels: expected 1..%d per side", w, h,
                             MAX_SIDE);
    r->rgb = malloc(n);
    if (r->rgb == NULL)
        return mva_error_set(err, MVA_ENOMEM, "report: no memory for a %zu x %zu image", w, h);
    memset(r->rgb, fill, n);
    return MVA_OK;
}

void rpt_raster_free(rpt_raster *r)
{
    free(r->rgb);
    r->rgb = NULL;
}

void rpt_raster_paint(rpt_raster *r, size_t x0, size_t y0, const double *values, size_t rows,
                      size_t cols, int cmap, double lo, double hi, size_t scale)
{
    double span = hi - lo;
    for (size_t i = 0; i < rows; i++) {
        for (size_t j = 0; j < cols; j++) {
            double v = values[i * cols + j];
            double t = !isfinite(v) ? NAN : span > 0 ? (v - lo) / span : 0.5;
            unsigned char c[3];
            mva_report_colormap(cmap, t, c);
            for (size_t a = 0; a < scale; a++) {
                size_t y = y0 + i * scale + a;
                if (y >= r->h)
                    break;
                for (size_t b = 0; b < scale; b++) {
                    size_t x = x0 + j * scale + b;
                    if (x >= r->w)
                        break;
                    memcpy(r->rgb + 3 * (y * r->w + x), c, 3);
                }
            }
        }
    }
}

int rpt_raster_write_png(const rpt_raster *r, const char *path, mva_error *err)
{
    rpt_file f;
    int rc = rpt_file_open(&f, path, err);
    if (rc != MVA_OK)
        return rc;
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    img.width = (png_uint_32)r->w;
    img.height = (png_uint_32)r->h;
    img.format = PNG_FORMAT_RGB;
    if (!png_image_write_to_stdio(&img, f.fp, 0, r->rgb, 0, NULL)) {
        rc = mva_error_set(err, MVA_EIO, "%s: libpng: %s", path, img.message);
        png_image_free(&img);
        rpt_file_abort(&f);
        return rc;
    }
    return rpt_file_commit(&f, err);
}

int mva_report_png_image(const char *path, const double *values, size_t rows, size_t cols,
                         mva_report_cmap cmap, double lo, double hi, size_t scale,
                         mva_error *err)
{
    if (path == NULL || values == NULL || scale == 0 ||
        (cmap != MVA_REPORT_CMAP_VIRIDIS && cmap != MVA_REPORT_CMAP_DIVERGING))
        return mva_error_set(err, MVA_EINVAL,
                             "mva_report_png_image: %s: need a path, values, a known colormap "
                             "and scale >= 1",
                             path ? path : "(no path)");
    size_t w, h;
    if (mva_size_mul(cols, scale, &w) != MVA_OK || mva_size_mul(rows, scale, &h) != MVA_OK)
        return mva_error_set(err, MVA_ERANGE, "%s: %zu x %zu map times %zu is too large", path,
                             rows, cols, scale);
    rpt_raster r;
    int rc = rpt_raster_new(&r, w, h, 255, err);
    if (rc != MVA_OK)
        return mva_error_prefix(err, rc, "%s: ", path);
    rpt_raster_paint(&r, 0, 0, values, rows, cols, cmap, lo, hi, scale);
    rc = rpt_raster_write_png(&r, path, err);
    rpt_raster_free(&r);
    return rc;
}

/* A 3 x 5 pixel font for the montage labels (upper case, digits, a little punctuation),
 * drawn for this project: each glyph is five rows of three bits, one octal digit a row, the
 * high bit on the left. */
static const struct {
    char c;
    const char *rows;
} font[] = {
    {'0', "75557"}, {'1', "26227"}, {'2', "71747"}, {'3', "71317"}, {'4', "55711"},
    {'5', "74717"}, {'6', "74757"}, {'7', "71122"}, {'8', "75757"}, {'9', "75717"},
    {'A', "25755"}, {'B', "65656"}, {'C', "34443"}, {'D', "65556"}, {'E', "74647"},
    {'F', "74644"}, {'G', "34553"}, {'H', "55755"}, {'I', "72227"}, {'J', "11152"},
    {'K', "55655"}, {'L', "44447"}, {'M', "57755"}, {'N', "65555"}, {'O', "25552"},
    {'P', "65644"}, {'Q', "25563"}, {'R', "65655"}, {'S', "34216"}, {'T', "72222"},
    {'U', "55557"}, {'V', "55552"}, {'W', "55775"}, {'X', "55255"}, {'Y', "55222"},
    {'Z', "71247"}, {' ', "00000"}, {'-', "00700"}, {'_', "00007"}, {'.', "00002"},
    {'/', "11244"}, {'(', "24442"}, {')', "21112"}, {'%', "51245"}, {'=', "07070"},
    {':', "02020"}, {'?', "71202"}};

static const char *glyph(char c)
{
    if (c >= 'a' && c <= 'z')
        c = (char)(c - 'a' + 'A');
    for (size_t i = 0; i < sizeof font / sizeof font[0]; i++)
        if (font[i].c == c)
            return font[i].rows;
    return glyph('?');
}

void rpt_raster_text(rpt_raster *r, size_t x0, size_t y0, const char *s, size_t px,
                     size_t max_w)
{
    static const unsigned char ink[3] = {0x33, 0x33, 0x33};
    size_t adv = 4 * px; /* 3 pixels and a gap */
    for (size_t k = 0; s[k] && (k + 1) * adv <= max_w + px; k++) {
        const char *g = glyph(s[k]);
        for (size_t row = 0; row < 5; row++)
            for (size_t col = 0; col < 3; col++) {
                if (!(((unsigned)(g[row] - '0') >> (2 - col)) & 1u))
                    continue;
                for (size_t a = 0; a < px; a++)
                    for (size_t b = 0; b < px; b++) {
                        size_t x = x0 + k * adv + col * px + b, y = y0 + row * px + a;
                        if (x < r->w && y < r->h)
                            memcpy(r->rgb + 3 * (y * r->w + x), ink, 3);
                    }
            }
    }
}
