/* argmax.c: default ONNX ArgMax / ArgMin kernel: one pass along the axis per output, typed per element
 * type (integers compared exactly, float32 with NaN winning as in numpy). */
#include "argmax.h"

/* The winning index of n elements of type T at p, `stride` apart; `better(a, b)` says a beats the best b. */
#define EP_ARG_SCAN(T, better)                                                                        \
    do {                                                                                              \
        const T *p = (const T *)x->data + o * len * inner + i;                                        \
        T best = p[0];                                                                                \
        int64_t k, at = 0;                                                                            \
        for (k = 1; k < len; ++k) {                                                                   \
            T v = p[k * inner];                                                                       \
            if (better(v, best) || (select_last && v == best)) {                                       \
                best = v;                                                                             \
                at = k;                                                                               \
            }                                                                                         \
        }                                                                                             \
        out = at;                                                                                     \
    } while (0)

#define EP_INT_MAX_BEATS(a, b) ((a) > (b))
#define EP_INT_MIN_BEATS(a, b) ((a) < (b))

/* index of the first (last) NaN of float32 elements, or of the first (last) largest or smallest */
static int64_t float_arg(const float *p, int64_t len, int64_t inner, int select_last, int is_min)
{
    float best = p[0];
    int64_t k, at = 0;
    int nan_seen = best != best;
    if (nan_seen && !select_last) {
        return 0;
    }
    for (k = 1; k < len; ++k) {
        float v = p[k * inner];
        if (v != v) { /* NaN beats every number: the first one, or the last one */
            if (!select_last) {
                return k;
            }
            nan_seen = 1;
            at = k;
        } else if (!nan_seen && ((is_min ? v < best : v > best) || (select_last && v == best))) {
            best = v;
            at = k;
        }
    }
    return at;
}

int ep_argmax(const ep_tensor *x, ep_tensor *y, int32_t axis, int32_t select_last, int32_t is_min)
{
    int64_t outer = 1, inner = 1, len, o, i;
    int32_t d;
    int rc = x == NULL ? EP_ERR_ARG : ep_check_dtype(x, x->dtype);
    if (rc == EP_OK) {
        rc = ep_check_dtype(y, EP_INT64);
    }
    if (rc != EP_OK) {
        return rc;
    }
    if (x->dtype != EP_FLOAT32 && x->dtype != EP_UINT8 && x->dtype != EP_INT8 && x->dtype != EP_INT32 &&
        x->dtype != EP_INT64) {
        return EP_ERR_DTYPE;
    }
    if (axis < 0 || axis >= x->rank || (select_last != 0 && select_last != 1) || (is_min != 0 && is_min != 1)) {
        return EP_ERR_ARG;
    }
    for (d = 0; d < axis; ++d) {
        outer *= x->dims[d];
    }
    for (d = axis + 1; d < x->rank; ++d) {
        inner *= x->dims[d];
    }
    len = x->dims[axis];
    if (ep_numel(y) != outer * inner || (len == 0 && outer * inner > 0)) {
        return EP_ERR_SHAPE;
    }
    for (o = 0; o < outer; ++o) {
        for (i = 0; i < inner; ++i) {
            int64_t out = 0;
            switch (x->dtype) {
            case EP_FLOAT32:
                out = float_arg((const float *)x->data + o * len * inner + i, len, inner, select_last, is_min);
                break;
            case EP_UINT8:
                if (is_min) {
                    EP_ARG_SCAN(uint8_t, EP_INT_MIN_BEATS);
                } else {
                    EP_ARG_SCAN(uint8_t, EP_INT_MAX_BEATS);
                }
                break;
            case EP_INT8:
                if (is_min) {
                    EP_ARG_SCAN(int8_t, EP_INT_MIN_BEATS);
                } else {
                    EP_ARG_SCAN(int8_t, EP_INT_MAX_BEATS);
                }
                break;
            case EP_INT32:
                if (is_min) {
                    EP_ARG_SCAN(int32_t, EP_INT_MIN_BEATS);
                } else {
                    EP_ARG_SCAN(int32_t, EP_INT_MAX_BEATS);
                }
                break;
            default:
                if (is_min) {
                    EP_ARG_SCAN(int64_t, EP_INT_MIN_BEATS);
                } else {
                    EP_ARG_SCAN(int64_t, EP_INT_MAX_BEATS);
                }
                break;
            }
            ((int64_t *)y->data)[o * inner + i] = out;
        }
    }
    return EP_OK;
}
