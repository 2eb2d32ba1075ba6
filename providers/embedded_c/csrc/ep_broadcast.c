/* ep_broadcast.c: numpy-style broadcasting helpers. */
#include "ep_broadcast.h"

int ep_broadcast_strides(const ep_tensor *in, const ep_tensor *out, int64_t *strides)
{
    int32_t i;
    int32_t shift = out->rank - in->rank;
    if (shift < 0) {
        return 0;
    }
    for (i = 0; i < out->rank; ++i) {
        int32_t j = i - shift;
        if (j < 0 || in->dims[j] == 1) {
            strides[i] = 0;
        } else if (in->dims[j] == out->dims[i]) {
            strides[i] = in->strides[j];
        } else {
            return 0;
        }
    }
    return 1;
}

int ep_broadcast_exact(const ep_tensor *const *ins, int32_t n, const ep_tensor *out)
{
    int32_t i, k;
    for (k = 0; k < n; ++k) {
        if (ins[k]->rank > out->rank) {
            return 0;
        }
    }
    for (i = 0; i < out->rank; ++i) {
        int64_t want = 1;
        for (k = 0; k < n; ++k) {
            int32_t j = i - (out->rank - ins[k]->rank);
            int64_t d = j < 0 ? 1 : ins[k]->dims[j];
            if (d != 1) {
                if (want != 1 && want != d) {
                    return 0;
                }
                want = d;
            }
        }
        if (out->dims[i] != want) {
            return 0;
        }
    }
    return 1;
}

void ep_broadcast_offsets(const ep_tensor *out, int64_t linear, const int64_t *sa, const int64_t *sb,
                          int64_t *oa, int64_t *ob)
{
    int32_t i;
    int64_t a = 0;
    int64_t b = 0;
    for (i = out->rank - 1; i >= 0; --i) {
        int64_t idx = linear % out->dims[i];
        linear /= out->dims[i];
        a += idx * sa[i];
        b += idx * sb[i];
    }
    *oa = a;
    *ob = b;
}
