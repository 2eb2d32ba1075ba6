/* ep_binary.h: the loop shared by the broadcasting binary operators (Add, Sub, Mul, Div).
 *
 * EP_BINARY_BODY(EXPR) expands to the body of `int f(const ep_tensor *a, const ep_tensor *b,
 * ep_tensor *y)`, where EXPR combines the float lvalues `x0` and `x1`.
 */
#ifndef EP_BINARY_H
#define EP_BINARY_H

#include "ep_broadcast.h"

#define EP_BINARY_BODY(EXPR)                                                              \
    const float *pa;                                                                      \
    const float *pb;                                                                      \
    float *py;                                                                            \
    int64_t n;                                                                            \
    int64_t i;                                                                            \
    int64_t sa[EP_MAX_RANK];                                                              \
    int64_t sb[EP_MAX_RANK];                                                              \
    int rc = ep_check(a);                                                                 \
    if (rc == EP_OK) {                                                                    \
        rc = ep_check(b);                                                                 \
    }                                                                                     \
    if (rc == EP_OK) {                                                                    \
        rc = ep_check(y);                                                                 \
    }                                                                                     \
    if (rc != EP_OK) {                                                                    \
        return rc;                                                                        \
    }                                                                                     \
    {                                                                                     \
        const ep_tensor *ab[2];                                                           \
        ab[0] = a;                                                                        \
        ab[1] = b;                                                                        \
        if (!ep_broadcast_exact(ab, 2, y) || !ep_broadcast_strides(a, y, sa) ||           \
            !ep_broadcast_strides(b, y, sb)) {                                            \
            return EP_ERR_SHAPE;                                                          \
        }                                                                                 \
    }                                                                                     \
    pa = (const float *)a->data;                                                          \
    pb = (const float *)b->data;                                                          \
    py = (float *)y->data;                                                                \
    n = ep_numel(y);                                                                      \
    if (ep_numel(a) == n && ep_numel(b) == n && ep_is_contiguous(a) && ep_is_contiguous(b)) { \
        for (i = 0; i < n; ++i) {                                                         \
            float x0 = pa[i];                                                             \
            float x1 = pb[i];                                                             \
            py[i] = (EXPR);                                                               \
        }                                                                                 \
    } else if (y->rank == 0) {                                                            \
        float x0 = pa[0];                                                                 \
        float x1 = pb[0];                                                                 \
        py[0] = (EXPR);                                                                   \
    } else {                                                                              \
        int32_t last = y->rank - 1;                                                       \
        int64_t inner = y->dims[last];                                                    \
        int64_t outer = inner ? n / inner : 0;                                            \
        int64_t o;                                                                        \
        for (o = 0; o < outer; ++o) {                                                     \
            int64_t oa;                                                                   \
            int64_t ob;                                                                   \
            int64_t j;                                                                    \
            ep_broadcast_offsets(y, o * inner, sa, sb, &oa, &ob);                         \
            for (j = 0; j < inner; ++j) {                                                 \
                float x0 = pa[oa + j * sa[last]];                                         \
                float x1 = pb[ob + j * sb[last]];                                         \
                py[o * inner + j] = (EXPR);                                               \
            }                                                                             \
        }                                                                                 \
    }                                                                                     \
    return EP_OK;

#endif /* EP_BINARY_H */
