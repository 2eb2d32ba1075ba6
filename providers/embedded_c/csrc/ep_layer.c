/* ep_layer.c: what the layer operators share (see ep_layer.h). */
#include <math.h>

#include "ep_layer.h"
#include "ep_window.h"

int ep_check_operands(const ep_tensor *a, const ep_tensor *b, const ep_tensor *y, const ep_tensor *optional)
{
    int rc = ep_check(a);
    if (rc == EP_OK) {
        rc = ep_check(b);
    }
    if (rc == EP_OK) {
        rc = ep_check(y);
    }
    if (rc == EP_OK && optional) {
        rc = ep_check(optional);
    }
    return rc;
}

int ep_pool_check(const ep_tensor *x, const ep_tensor *y, const ep_pool_params *p, ep_pool_extents *e)
{
    int rc = ep_check(x);
    if (rc == EP_OK) {
        rc = ep_check(y);
    }
    if (rc == EP_OK && (p == NULL || e == NULL)) {
        rc = EP_ERR_ARG;
    }
    if (rc == EP_OK) {
        rc = ep_window_check(x, y, p->kernel, p->strides, p->pads, p->dilations, 1);
    }
    if (rc == EP_OK && y->dims[1] != x->dims[1]) {
        rc = EP_ERR_SHAPE;
    }
    if (rc == EP_OK) {
        e->planes = x->dims[0] * x->dims[1];
        ep_window_spatial(x, &e->ih, &e->iw);
        ep_window_spatial(y, &e->oh, &e->ow);
    }
    return rc;
}

void ep_window_taps(int64_t start, int64_t taps, int64_t step, int64_t n, int64_t *first, int64_t *end)
{
    int64_t lo = 0, hi = taps;
    if (start < 0) {
        lo = (-start + step - 1) / step;
    }
    if (start + (taps - 1) * step > n - 1) {
        hi = n - 1 - start < 0 ? 0 : (n - 1 - start) / step + 1;
    }
    *first = lo < hi ? lo : hi;
    *end = hi;
}

/* the max of the window's taps inside x: rows [ky0, ky1) from input row y0, columns [kx0, kx1)
 * from input column x0 */
static float window_max(const float *xp, int64_t iw, const ep_pool_params *p, int64_t y0, int64_t x0, int64_t ky0,
                        int64_t ky1, int64_t kx0, int64_t kx1)
{
    float best = -INFINITY;
    int nan = 0;
    int64_t ki, kj;
    for (ki = ky0; ki < ky1; ++ki) {
        const float *row = xp + (y0 + ki * p->dilations[0]) * iw;
        for (kj = kx0; kj < kx1; ++kj) {
            float v = row[x0 + kj * p->dilations[1]];
            nan |= v != v;
            best = v > best ? v : best;
        }
    }
    return nan ? NAN : best;
}

static float window_sum(const float *xp, int64_t iw, const ep_pool_params *p, int64_t y0, int64_t x0, int64_t ky0,
                        int64_t ky1, int64_t kx0, int64_t kx1)
{
    float acc = 0.0f;
    int64_t ki, kj;
    for (ki = ky0; ki < ky1; ++ki) {
        const float *row = xp + (y0 + ki * p->dilations[0]) * iw;
        for (kj = kx0; kj < kx1; ++kj) {
            acc += row[x0 + kj * p->dilations[1]];
        }
    }
    return acc;
}

int ep_pool(const ep_tensor *x, ep_tensor *y, const ep_pool_params *p, int mode)
{
    const float *px;
    float *py;
    int64_t c, oy, ox, ky0, ky1, kx0, kx1, py0, py1, px0, px1;
    ep_pool_extents e;
    int rc = ep_pool_check(x, y, p, &e);
    if (rc != EP_OK) {
        return rc;
    }
    if (mode != EP_POOL_MAX && mode != EP_POOL_AVERAGE) {
        return EP_ERR_ARG;
    }
    px = (const float *)x->data;
    py = (float *)y->data;
    for (c = 0; c < e.planes; ++c) {
        const float *xp = px + c * e.ih * e.iw;
        float *yp = py + c * e.oh * e.ow;
        for (oy = 0; oy < e.oh; ++oy) {
            int64_t y0 = oy * p->strides[0] - p->pads[0];
            ep_window_taps(y0, p->kernel[0], p->dilations[0], e.ih, &ky0, &ky1);
            ep_window_taps(y0 + p->pads[0], p->kernel[0], p->dilations[0], e.ih + p->pads[0] + p->pads[2], &py0,
                           &py1);
            for (ox = 0; ox < e.ow; ++ox) {
                int64_t x0 = ox * p->strides[1] - p->pads[1], count;
                float sum;
                ep_window_taps(x0, p->kernel[1], p->dilations[1], e.iw, &kx0, &kx1);
                if (mode == EP_POOL_MAX) {
                    yp[oy * e.ow + ox] = window_max(xp, e.iw, p, y0, x0, ky0, ky1, kx0, kx1);
                    continue;
                }
                ep_window_taps(x0 + p->pads[1], p->kernel[1], p->dilations[1], e.iw + p->pads[1] + p->pads[3],
                               &px0, &px1);
                count = p->count_include_pad ? (py1 - py0) * (px1 - px0) : (ky1 - ky0) * (kx1 - kx0);
                sum = window_sum(xp, e.iw, p, y0, x0, ky0, ky1, kx0, kx1);
                yp[oy * e.ow + ox] = count ? sum / (float)count : 0.0f;
            }
        }
    }
    return EP_OK;
}
