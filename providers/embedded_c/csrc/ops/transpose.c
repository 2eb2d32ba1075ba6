/* transpose.c: default ONNX Transpose kernel, for every element type the library knows (1, 4 or 8 bytes:
 * float32, int32, int64, uint8, int8, bool; elements are moved as bits). Output axes of size 1 are dropped
 * and runs of output axes that are consecutive in the input merged; then a transpose that keeps the input's
 * last axis last copies whole runs (memcpy), and any other moves square tiles between the output axis that
 * holds the input's last axis and the output's last axis, so both sides are read and written in
 * cache-sized blocks (2-D and last-two-axes transposes included); an odometer walks the rest. */
#include <string.h>

#include "transpose.h"

/* side of the square tiles: 16 x 16 elements (1 KiB of float32) read and as many written (10-20% faster than
 * 32 x 32 on yolov5's head and square float32 maps: each input line read is used before it is evicted) */
#define EP_TRANSPOSE_TILE 16

/* dst[i * dst_row + k] = src[i + k * src_col] for i < ni, k < nk, by tiles; and dst[k] = src[k * step]
 * for k < n (a gather) */
#define EP_TRANSPOSE_MOVES(T)                                                                                  \
    static void tile_##T(void *dstv, int64_t dst_row, const void *srcv, int64_t src_col, int64_t ni,         \
                         int64_t nk)                                                                         \
    {                                                                                                        \
        T *dst = (T *)dstv;                                                                                  \
        const T *src = (const T *)srcv;                                                                      \
        int64_t i0, k0, i, k;                                                                                \
        for (i0 = 0; i0 < ni; i0 += EP_TRANSPOSE_TILE) {                                                     \
            int64_t i1 = ni - i0 < EP_TRANSPOSE_TILE ? ni : i0 + EP_TRANSPOSE_TILE;                          \
            for (k0 = 0; k0 < nk; k0 += EP_TRANSPOSE_TILE) {                                                 \
                int64_t k1 = nk - k0 < EP_TRANSPOSE_TILE ? nk : k0 + EP_TRANSPOSE_TILE;                      \
                for (i = i0; i < i1; ++i) {                                                                  \
                    T *d = dst + i * dst_row;                                                                \
                    const T *s = src + i;                                                                    \
                    for (k = k0; k < k1; ++k) {                                                              \
                        d[k] = s[k * src_col];                                                               \
                    }                                                                                        \
                }                                                                                            \
            }                                                                                                \
        }                                                                                                    \
    }                                                                                                        \
    static void gather_##T(void *dstv, const void *srcv, int64_t step, int64_t n)                            \
    {                                                                                                        \
        T *dst = (T *)dstv;                                                                                  \
        const T *src = (const T *)srcv;                                                                      \
        int64_t k;                                                                                           \
        for (k = 0; k < n; ++k) {                                                                            \
            dst[k] = src[k * step];                                                                          \
        }                                                                                                    \
    }

EP_TRANSPOSE_MOVES(uint8_t)
EP_TRANSPOSE_MOVES(uint32_t)
EP_TRANSPOSE_MOVES(uint64_t)

typedef void (*tile_fn)(void *, int64_t, const void *, int64_t, int64_t, int64_t);
typedef void (*gather_fn)(void *, const void *, int64_t, int64_t);

/* y (contiguous, dims yd) from x read with strides st (one per output axis, in elements of `size` bytes:
 * 1, 4 or 8), rank r >= 1 after merging: a run copy or tiles over (axis j, last axis), an odometer over the
 * other axes */
static void transpose_merged(const char *px, char *py, size_t size, int32_t r, const int64_t *yd, const int64_t *st)
{
    int64_t ystride[EP_MAX_RANK], idx[EP_MAX_RANK];
    int64_t xoff = 0, yoff = 0, n_outer = 1, o;
    int32_t d, j = -1, last = r - 1;
    int run = st[last] == 1;
    tile_fn tile = size == 1 ? tile_uint8_t : size == 4 ? tile_uint32_t : tile_uint64_t;
    gather_fn gather = size == 1 ? gather_uint8_t : size == 4 ? gather_uint32_t : gather_uint64_t;
    ystride[last] = 1;
    for (d = last - 1; d >= 0; --d) {
        ystride[d] = ystride[d + 1] * yd[d + 1];
    }
    for (d = 0; d < r; ++d) {
        idx[d] = 0;
        if (!run && st[d] == 1) {
            j = d;
        }
    }
    if (!run && j < 0) { /* the input's last axis has size 1 (dropped): no unit stride, plain gather */
        j = last;
    }
    for (d = 0; d < r; ++d) {
        if (d != last && d != j) {
            n_outer *= yd[d];
        }
    }
    for (o = 0; o < n_outer; ++o) {
        if (run) {
            memcpy(py + yoff * (int64_t)size, px + xoff * (int64_t)size, (size_t)yd[last] * size);
        } else if (j == last) {
            gather(py + yoff * (int64_t)size, px + xoff * (int64_t)size, st[last], yd[last]);
        } else {
            tile(py + yoff * (int64_t)size, ystride[j], px + xoff * (int64_t)size, st[last], yd[j], yd[last]);
        }
        for (d = last - 1; d >= 0; --d) { /* next outer index: the axes other than j and last */
            if (d == j) {
                continue;
            }
            xoff += st[d];
            yoff += ystride[d];
            if (++idx[d] < yd[d]) {
                break;
            }
            xoff -= st[d] * yd[d];
            yoff -= ystride[d] * yd[d];
            idx[d] = 0;
        }
    }
}

int ep_transpose(const ep_tensor *x, ep_tensor *y, const int64_t *perm)
{
    const char *px;
    char *py;
    size_t size;
    int64_t n;
    int64_t st[EP_MAX_RANK], md[EP_MAX_RANK], ms[EP_MAX_RANK];
    int32_t r, d, m;
    int seen = 0; /* bit d: axis d of x already taken by perm */
    int rc = x == NULL ? EP_ERR_ARG : ep_check_dtype(x, x->dtype);
    if (rc == EP_OK) {
        rc = ep_check_dtype(y, x->dtype);
    }
    if (rc != EP_OK) {
        return rc;
    }
    size = ep_dtype_size(x->dtype);
    if (size != 1 && size != 4 && size != 8) {
        return EP_ERR_DTYPE;
    }
    r = y->rank;
    if (x->rank != r) {
        return EP_ERR_SHAPE;
    }
    if (perm == NULL && r > 0) {
        return EP_ERR_ARG;
    }
    for (d = 0; d < r; ++d) {
        if (perm[d] < 0 || perm[d] >= r || ((seen >> perm[d]) & 1)) {
            return EP_ERR_ARG;
        }
        seen |= 1 << perm[d];
        if (y->dims[d] != x->dims[perm[d]]) {
            return EP_ERR_SHAPE;
        }
        st[d] = x->strides[perm[d]];
    }
    px = (const char *)x->data;
    py = (char *)y->data;
    n = ep_numel(y);
    if (n == 0) {
        return EP_OK;
    }
    /* drop the axes of size 1, merge output axes d, d + 1 that are consecutive in x */
    m = 0;
    for (d = 0; d < r; ++d) {
        if (y->dims[d] == 1) {
            continue;
        }
        if (m > 0 && ms[m - 1] == st[d] * y->dims[d]) {
            md[m - 1] *= y->dims[d];
            ms[m - 1] = st[d];
            continue;
        }
        md[m] = y->dims[d];
        ms[m] = st[d];
        ++m;
    }
    if (m == 0) {
        memcpy(py, px, size);
        return EP_OK;
    }
    transpose_merged(px, py, size, m, md, ms);
    return EP_OK;
}
