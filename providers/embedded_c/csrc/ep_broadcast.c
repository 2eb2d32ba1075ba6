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

void ep_broadcast_walk_init(ep_broadcast_walk *w, const ep_tensor *out, const int64_t *sa, const int64_t *sb)
{
    int32_t i, k;
    int32_t kind_a = -1; /* -1 until the innermost axis longer than 1 says: 1 contiguous, 0 repeated */
    int32_t kind_b = -1;
    w->inner = 1;
    for (i = out->rank - 1; i >= 0; --i) {
        int32_t ka = sa[i] != 0;
        int32_t kb = sb[i] != 0;
        if (out->dims[i] == 1) {
            continue;
        }
        if ((kind_a >= 0 && ka != kind_a) || (kind_b >= 0 && kb != kind_b)) {
            break;
        }
        kind_a = ka;
        kind_b = kb;
        w->inner *= out->dims[i];
    }
    w->full_a = kind_a == 1;
    w->full_b = kind_b == 1;
    w->outer_rank = 0;
    for (k = 0; k <= i; ++k) {
        if (out->dims[k] != 1) {
            w->dims[w->outer_rank] = out->dims[k];
            w->sa[w->outer_rank] = sa[k];
            w->sb[w->outer_rank] = sb[k];
            w->idx[w->outer_rank] = 0;
            ++w->outer_rank;
        }
    }
    w->oa = 0;
    w->ob = 0;
}

void ep_broadcast_walk_next(ep_broadcast_walk *w)
{
    int32_t k;
    for (k = w->outer_rank - 1; k >= 0; --k) {
        w->oa += w->sa[k];
        w->ob += w->sb[k];
        if (++w->idx[k] < w->dims[k]) {
            return;
        }
        w->oa -= w->sa[k] * w->dims[k];
        w->ob -= w->sb[k] * w->dims[k];
        w->idx[k] = 0;
    }
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

int ep_broadcast_pair(const ep_tensor *a, const ep_tensor *b, const ep_tensor *y, int64_t *sa, int64_t *sb)
{
    const ep_tensor *ab[2];
    ab[0] = a;
    ab[1] = b;
    if (!ep_broadcast_exact(ab, 2, y) || !ep_broadcast_strides(a, y, sa) || !ep_broadcast_strides(b, y, sb)) {
        return EP_ERR_SHAPE;
    }
    return EP_OK;
}
