/* ep_binary.h: the loop shared by the broadcasting binary operators (Add, Sub, Mul, Div, Pow, and
 * the comparisons and logical operators of compare.c).
 *
 * EP_BROADCAST_LOOP(TA, TY, EXPR) writes y[i] = EXPR for every element of `y`, where EXPR combines
 * `x0` and `x1`, the elements of `a` and `b` (both of C type TA) that broadcast onto it, and y's
 * elements have C type TY. `a`, `b` and `y` are checked already, and `sa`, `sb` hold a's and b's
 * broadcast strides (ep_broadcast_pair). EP_BINARY_BODY(EXPR) expands to the whole body of a float32
 * `int f(const ep_tensor *a, const ep_tensor *b, ep_tensor *y)`.
 */
#ifndef EP_BINARY_H
#define EP_BINARY_H

#include "ep_broadcast.h"

/* One run of the walk (ep_broadcast_walk): LEN output elements at Y from A and B, each contiguous
 * (FA, FB nonzero) or one element repeated, read once per run into a constant. Four plain unit-stride
 * loops, which compilers vectorize (GCC 12 ignores block-scope restrict and checks for overlap once
 * per run instead). The restrict says y must not overlap a or b: the runtime gives each call's
 * inputs and outputs separate buffers. */
#define EP_BROADCAST_RUN(TA, TY, EXPR, A, B, Y, LEN, FA, FB)                                  \
    do {                                                                                      \
        const TA *restrict ra_ = (A);                                                         \
        const TA *restrict rb_ = (B);                                                         \
        TY *restrict ry_ = (Y);                                                               \
        int64_t len_ = (LEN);                                                                 \
        int64_t j_;                                                                           \
        if ((FA) && (FB)) {                                                                   \
            for (j_ = 0; j_ < len_; ++j_) {                                                   \
                TA x0 = ra_[j_];                                                              \
                TA x1 = rb_[j_];                                                              \
                ry_[j_] = (TY)(EXPR);                                                         \
            }                                                                                 \
        } else if (FA) {                                                                      \
            const TA x1 = rb_[0];                                                             \
            for (j_ = 0; j_ < len_; ++j_) {                                                   \
                TA x0 = ra_[j_];                                                              \
                ry_[j_] = (TY)(EXPR);                                                         \
            }                                                                                 \
        } else if (FB) {                                                                      \
            const TA x0 = ra_[0];                                                             \
            for (j_ = 0; j_ < len_; ++j_) {                                                   \
                TA x1 = rb_[j_];                                                              \
                ry_[j_] = (TY)(EXPR);                                                         \
            }                                                                                 \
        } else {                                                                              \
            const TA x0 = ra_[0];                                                             \
            const TA x1 = rb_[0];                                                             \
            const TY v_ = (TY)(EXPR);                                                         \
            for (j_ = 0; j_ < len_; ++j_) {                                                   \
                ry_[j_] = v_;                                                                 \
            }                                                                                 \
        }                                                                                     \
    } while (0)

/* Same shape, a scalar operand, per-channel ([N,C,H,W] with [C,1,1]) and row ([...,W] with [W])
 * broadcasts are each one run or one run per plane or row; any other broadcast is walked the same
 * way with shorter runs. */
#define EP_BROADCAST_LOOP(TA, TY, EXPR)                                                       \
    do {                                                                                      \
        const TA *pa_ = (const TA *)a->data;                                                  \
        const TA *pb_ = (const TA *)b->data;                                                  \
        TY *py_ = (TY *)y->data;                                                              \
        int64_t n_ = ep_numel(y);                                                             \
        int64_t o_;                                                                           \
        ep_broadcast_walk w_;                                                                 \
        ep_broadcast_walk_init(&w_, y, sa, sb);                                               \
        for (o_ = 0; o_ < n_; o_ += w_.inner) {                                               \
            EP_BROADCAST_RUN(TA, TY, EXPR, pa_ + w_.oa, pb_ + w_.ob, py_ + o_, w_.inner,      \
                             w_.full_a, w_.full_b);                                           \
            ep_broadcast_walk_next(&w_);                                                      \
        }                                                                                     \
    } while (0)

#define EP_BINARY_BODY(EXPR)                                                                  \
    int64_t sa[EP_MAX_RANK];                                                                  \
    int64_t sb[EP_MAX_RANK];                                                                  \
    int rc = ep_check(a);                                                                     \
    if (rc == EP_OK) {                                                                        \
        rc = ep_check(b);                                                                     \
    }                                                                                         \
    if (rc == EP_OK) {                                                                        \
        rc = ep_check(y);                                                                     \
    }                                                                                         \
    if (rc == EP_OK) {                                                                        \
        rc = ep_broadcast_pair(a, b, y, sa, sb);                                              \
    }                                                                                         \
    if (rc != EP_OK) {                                                                        \
        return rc;                                                                            \
    }                                                                                         \
    EP_BROADCAST_LOOP(float, float, EXPR);                                                    \
    return EP_OK;

#endif /* EP_BINARY_H */
