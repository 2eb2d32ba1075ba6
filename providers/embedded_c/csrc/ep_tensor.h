/* ep_tensor.h: the one tensor descriptor shared by every operator of the embedded C library.
 *
 * Pure C99: no dependency beyond libc and <math.h>. Kernels never allocate: a caller that
 * needs scratch memory (Conv's im2col buffer) passes it in, sized by the operator's
 * `*_scratch_size` function.
 */
#ifndef EP_TENSOR_H
#define EP_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#define EP_MAX_RANK 8

/* Element types use ONNX's TensorProto numbers. */
#define EP_FLOAT32 1
#define EP_UINT8 2
#define EP_INT8 3
#define EP_INT32 6
#define EP_INT64 7
#define EP_BOOL 9 /* one byte, 0 or 1 */

/* Return codes of every operator. */
#define EP_OK 0
#define EP_ERR_DTYPE 1
#define EP_ERR_SHAPE 2 /* the descriptors' shapes do not agree with each other or with the attributes */
#define EP_ERR_ARG 3 /* an attribute or parameter out of range, or a NULL pointer */

typedef struct ep_tensor {
    void *data;                    /* first element; row-major contiguous unless strides say otherwise */
    int32_t dtype;                 /* EP_FLOAT32 (uint8, int8, int32 for the quantized operators, int64 indices) */
    int32_t rank;                  /* 0..EP_MAX_RANK */
    int64_t dims[EP_MAX_RANK];     /* extent of each axis */
    int64_t strides[EP_MAX_RANK];  /* in elements, not bytes */
} ep_tensor;

/* A contiguous row-major descriptor over `data` with the given dims. */
ep_tensor ep_make_tensor(void *data, int32_t dtype, int32_t rank, const int64_t *dims);

/* Number of elements (1 for a scalar). */
int64_t ep_numel(const ep_tensor *t);

/* Whether the strides are those of a contiguous row-major tensor. */
int ep_is_contiguous(const ep_tensor *t);

/* EP_OK when `t` is a usable contiguous float32 descriptor: not NULL (EP_ERR_ARG), float32
 * (EP_ERR_DTYPE), rank in 0..EP_MAX_RANK, no negative dim, contiguous, data set unless it is
 * empty (EP_ERR_SHAPE). Every operator checks each descriptor it touches before touching memory. */
int ep_check(const ep_tensor *t);

/* ep_check for a descriptor of element type `dtype` (EP_ERR_DTYPE when it has another). */
int ep_check_dtype(const ep_tensor *t, int32_t dtype);

/* The extents of a reduction along `axis` (with `flatten`, along every axis from `axis` on, as
 * Softmax before opset 13): *outer elements before it, *len along it, *inner after it. EP_ERR_ARG
 * for an axis outside 0..rank-1 (0 allowed for a scalar) or flatten not 0 or 1. */
int ep_axis_extents(const ep_tensor *t, int32_t axis, int32_t flatten, int64_t *outer, int64_t *len, int64_t *inner);

/* Bytes per element of an element type (0 for an unknown one). */
size_t ep_dtype_size(int32_t dtype);

/* The branch an If takes: EP_OK and *taken = 0 or 1 when `cond` is a bool tensor of one element
 * (EP_ERR_DTYPE for another type, EP_ERR_SHAPE for another size, EP_ERR_ARG for a NULL). */
int ep_if_cond(const ep_tensor *cond, int *taken);

/* Whether `a` and `b` have the same rank and dims. */
int ep_same_shape(const ep_tensor *a, const ep_tensor *b);

/* ep_check of `x` and `y`, then EP_ERR_SHAPE unless they have the same shape (elementwise operators). */
int ep_check_same(const ep_tensor *x, const ep_tensor *y);

#endif /* EP_TENSOR_H */
