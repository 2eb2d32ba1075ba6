/* ep_qgemm.h: the 8-bit convolution and matrix product as byte dot products over packed rows.
 *
 * Where the compiler turns a loop of `sum += (int32_t)u[k] * (int32_t)s[k]` (u unsigned bytes, s signed
 * bytes) into one instruction per vector (GCC 12 and later emit x86's VPDPBUSD with AVX-VNNI or
 * AVX512-VNNI, and VPMADDUBSW/VPMADDWD pairs with AVX2), the quantized convolution and matrix product run
 * as such dot products: the convolution's input patches and the matrix product's columns of b are
 * copied into contiguous rows of bytes first (on the stack, a block at a time: no allocation). Any 8-bit
 * operand is brought to the side's type by flipping its top bit (x ^ 0x80 is x + 128 for int8, x - 128
 * for uint8) with its zero point moved by the same 128, and the zero points stay out of the inner loop:
 *   sum (u - zu)(s - zs) = sum u s - zs sum u - zu sum s + k zu zs.
 * Sums are exact: int32 dot products of at most EP_QG_KB bytes (255 * 128 * 4096 < 2^31) added into
 * int64 totals, so the results are the direct loops' (ep_qconv_run, ep_qmatmul_run) bit for bit.
 * Elsewhere (other compilers and targets, -DEP_NO_VECTOR_EXT) these return 0 and the caller runs its
 * direct loops, which need no stack buffers.
 */
#ifndef EP_QGEMM_H
#define EP_QGEMM_H

#include "ep_quant.h"

/* ep_qconv_run's convolution (same arguments, checked the same way before) as dot products: 1 when it
 * computed y, 0 when the caller must (no fast dot product here, or more output channels per group than
 * its stack tile holds). */
int ep_qconv_dot(const ep_tensor *x, int32_t zx, const ep_tensor *w, ep_tensor *y, const ep_conv_params *p,
                 const ep_qout *q);

/* ep_qmatmul_run's matrix product (same arguments) as dot products: 1 when it computed y, else 0. */
int ep_qmatmul_dot(const ep_tensor *a, int32_t za, const ep_tensor *b, ep_tensor *y, const ep_qout *q);

#endif
