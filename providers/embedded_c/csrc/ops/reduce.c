/* reduce.c: default kernel of the ONNX Reduce{Mean,Sum,Max,Min} operators: for each output, an
 * odometer over the reduced axes (sums in double). */
#include <math.h>

#include "reduce.h"

/* Advances the odometer `idx` over `dims` (k axes), returning the change of the offset. */
static int64_t step(int64_t *idx, const int64_t *dims, const int64_t *strides, int32_t k)
{
    int64_t delta = 0;
    int32_t d;
    for (d = k - 1; d >= 0; --d) {
        delta += strides[d];
        if (++idx[d] < dims[d]) {
            return delta;
        }
        delta -= strides[d] * dims[d];
        idx[d] = 0;
    }
    return delta;
}

int ep_reduce(const ep_tensor *x, ep_tensor *y, int64_t axes, int32_t mode)
{
    const float *px;
    float *py;
    int64_t kd[EP_MAX_RANK], ks[EP_MAX_RANK], ki[EP_MAX_RANK]; /* kept axes: dims, x strides, index */
    int64_t rd[EP_MAX_RANK], rs[EP_MAX_RANK], ri[EP_MAX_RANK]; /* reduced axes */
    int64_t m = 1, count = 1, o, j, base = 0;
    int32_t d, r, nk = 0, nr = 0;
    int rc = ep_check(x);
    if (rc == EP_OK) {
        rc = ep_check(y);
    }
    if (rc != EP_OK) {
        return rc;
    }
    r = x->rank;
    if (mode < EP_REDUCE_MEAN || mode > EP_REDUCE_MIN || axes < 0 || (axes >> r) != 0) {
        return EP_ERR_ARG;
    }
    for (d = 0; d < r; ++d) {
        if ((axes >> d) & 1) {
            rd[nr] = x->dims[d];
            rs[nr] = x->strides[d];
            ri[nr++] = 0;
            count *= x->dims[d];
        } else {
            kd[nk] = x->dims[d];
            ks[nk] = x->strides[d];
            ki[nk++] = 0;
            m *= x->dims[d];
        }
    }
    if (ep_numel(y) != m) {
        return EP_ERR_SHAPE;
    }
    px = (const float *)x->data;
    py = (float *)y->data;
    for (o = 0; o < m; ++o) {
        int64_t off = base;
        if (mode == EP_REDUCE_MAX || mode == EP_REDUCE_MIN) {
            float acc = mode == EP_REDUCE_MAX ? -INFINITY : INFINITY;
            for (j = 0; j < count && acc == acc; ++j) {
                float v = px[off];
                if (v != v || (mode == EP_REDUCE_MAX ? v > acc : v < acc)) {
                    acc = v; /* NaN wins and ends the loop, as numpy's max */
                }
                off += step(ri, rd, rs, nr);
            }
            py[o] = acc;
        } else {
            double acc = 0.0;
            for (j = 0; j < count; ++j) {
                acc += px[off];
                off += step(ri, rd, rs, nr);
            }
            py[o] = (float)(mode == EP_REDUCE_MEAN ? (count ? acc / (double)count : NAN) : acc);
        }
        for (d = 0; d < nr; ++d) {
            ri[d] = 0;
        }
        base += step(ki, kd, ks, nk);
    }
    return EP_OK;
}
