/* ep_unary.h: the loop shared by the one-input elementwise operators (Relu, Sigmoid, HardSwish...).
 *
 * EP_UNARY_BODY(EXPR) expands to the body of `int f(const ep_tensor *x, ep_tensor *y, ...)`:
 * it checks both descriptors (float32, contiguous, same shape) before touching memory, then
 * writes y[i] = EXPR for every element, where EXPR reads the float `v` = x[i] (and may use the
 * function's other parameters). Written with comparisons that are false for NaN, EXPR keeps NaN.
 */
#ifndef EP_UNARY_H
#define EP_UNARY_H

#include <math.h>

#include "ep_tensor.h"

#define EP_UNARY_BODY(EXPR)                  \
    const float *px;                         \
    float *py;                               \
    int64_t n;                               \
    int64_t i;                               \
    int rc = ep_check_same(x, y);            \
    if (rc != EP_OK) {                       \
        return rc;                           \
    }                                        \
    px = (const float *)x->data;             \
    py = (float *)y->data;                   \
    n = ep_numel(x);                         \
    for (i = 0; i < n; ++i) {                \
        float v = px[i];                     \
        py[i] = (EXPR);                      \
    }                                        \
    return EP_OK;

#endif /* EP_UNARY_H */
