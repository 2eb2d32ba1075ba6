/* ep_broadcast.h: numpy-style multidirectional broadcasting of two inputs onto an output. */
#ifndef EP_BROADCAST_H
#define EP_BROADCAST_H

#include "ep_tensor.h"

/* Broadcast strides of `in` aligned to `out` (0 along broadcast axes); 0 when incompatible. */
int ep_broadcast_strides(const ep_tensor *in, const ep_tensor *out, int64_t *strides);

/* 1 when the dims of `out` are exactly the numpy broadcast of the `n` inputs' dims, else 0. */
int ep_broadcast_exact(const ep_tensor *const *ins, int32_t n, const ep_tensor *out);

/* Offsets of element `linear` of `out` in two inputs, given their broadcast strides. */
void ep_broadcast_offsets(const ep_tensor *out, int64_t linear, const int64_t *sa, const int64_t *sb,
                          int64_t *oa, int64_t *ob);

#endif /* EP_BROADCAST_H */
