/* compare.h: ONNX Equal, Less, LessOrEqual, Greater and GreaterOrEqual (broadcasting, bool output). */
#ifndef EP_OP_COMPARE_H
#define EP_OP_COMPARE_H

#include "ep_tensor.h"

/* Which comparison ep_compare makes. */
#define EP_CMP_EQUAL 0
#define EP_CMP_LESS 1
#define EP_CMP_LESS_EQUAL 2
#define EP_CMP_GREATER 3
#define EP_CMP_GREATER_EQUAL 4

/* y = (a OP b) as EP_BOOL, a and b broadcast onto y and of one element type: float32, uint8, int8,
 * int32, int64, or bool (EP_CMP_EQUAL only). A comparison with NaN is false, as in IEEE 754. */
int ep_compare(const ep_tensor *a, const ep_tensor *b, ep_tensor *y, int32_t op);

#endif
