/* ep_broadcast.h: numpy-style multidirectional broadcasting of two inputs onto an output. */
#ifndef EP_BROADCAST_H
#define EP_BROADCAST_H

#include "ep_tensor.h"

/* Broadcast strides of `in` aligned to `out` (0 along broadcast axes); 0 when incompatible. */
int ep_broadcast_strides(const ep_tensor *in, const ep_tensor *out, int64_t *strides);

/* 1 when the dims of `out` are exactly the numpy broadcast of the `n` inputs' dims, else 0. */
int ep_broadcast_exact(const ep_tensor *const *ins, int32_t n, const ep_tensor *out);

/* EP_OK when `y`'s dims are exactly the broadcast of `a`'s and `b`'s (else EP_ERR_SHAPE), with their
 * broadcast strides in `sa` and `sb` (EP_MAX_RANK entries each). */
int ep_broadcast_pair(const ep_tensor *a, const ep_tensor *b, const ep_tensor *y, int64_t *sa, int64_t *sb);

/* The walk of a two-input broadcast onto its output as `numel(out) / inner` runs of `inner`
 * consecutive output elements. Along a run each input is either contiguous (`full_a` = 1: one
 * element per output element) or one element repeated (0); unit axes of the output are dropped and
 * the trailing axes merged as far as both inputs keep one kind. The remaining (outer) axes are walked
 * as an odometer by ep_broadcast_next, so no run costs a division. */
typedef struct ep_broadcast_walk {
    int64_t inner;              /* output elements per run (1 for an empty or one-element output) */
    int32_t full_a;             /* 1 when a is contiguous along a run, 0 when it repeats one element */
    int32_t full_b;
    int32_t outer_rank;         /* axes left to walk between runs */
    int64_t dims[EP_MAX_RANK];  /* their extents, outermost first */
    int64_t sa[EP_MAX_RANK];    /* a's and b's strides along them */
    int64_t sb[EP_MAX_RANK];
    int64_t idx[EP_MAX_RANK];   /* the odometer's position */
    int64_t oa;                 /* offsets of the current run's first elements in a and b */
    int64_t ob;
} ep_broadcast_walk;

/* Plans the walk of `out` (checked) given a's and b's broadcast strides (ep_broadcast_pair), with
 * the odometer at the first run. */
void ep_broadcast_walk_init(ep_broadcast_walk *w, const ep_tensor *out, const int64_t *sa, const int64_t *sb);

/* Moves the odometer (w->oa, w->ob) to the next run. */
void ep_broadcast_walk_next(ep_broadcast_walk *w);

/* Offsets of element `linear` of `out` in two inputs, given their broadcast strides. */
void ep_broadcast_offsets(const ep_tensor *out, int64_t linear, const int64_t *sa, const int64_t *sb,
                          int64_t *oa, int64_t *ob);

#endif /* EP_BROADCAST_H */
