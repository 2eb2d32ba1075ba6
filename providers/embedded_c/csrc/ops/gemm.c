/* gemm.c: default ONNX Gemm kernel. */
#include "ep_sgemm.h"
#include "gemm.h"

int ep_gemm(const ep_tensor *a, const ep_tensor *b, const ep_tensor *c, ep_tensor *y,
            float alpha, float beta, int32_t trans_a, int32_t trans_b)
{
    const float *pa = (const float *)a->data;
    const float *pb = (const float *)b->data;
    const float *pc = c ? (const float *)c->data : NULL;
    float *py = (float *)y->data;
    int64_t m = trans_a ? a->dims[1] : a->dims[0];
    int64_t k = trans_a ? a->dims[0] : a->dims[1];
    int64_t n = trans_b ? b->dims[0] : b->dims[1];
    int64_t sam = trans_a ? 1 : k, sak = trans_a ? m : 1;
    int64_t scm = 0, scn = 0;
    int64_t i, j, q;

    if (a->dtype != EP_FLOAT32 || b->dtype != EP_FLOAT32 || y->dtype != EP_FLOAT32 ||
        (c && c->dtype != EP_FLOAT32)) {
        return EP_ERR_DTYPE;
    }
    if (a->rank != 2 || b->rank != 2 || (trans_b ? b->dims[1] : b->dims[0]) != k) {
        return EP_ERR_SHAPE;
    }
    if (c) {
        if (c->rank == 2) {
            scm = c->dims[0] == 1 ? 0 : c->dims[1];
            scn = c->dims[1] == 1 ? 0 : 1;
        } else if (c->rank == 1) {
            scn = c->dims[0] == 1 ? 0 : 1;
        }
    }
    if (trans_b && !trans_a) {
        ep_sgemm_nt(m, n, k, pa, k, pb, k, py, n);
    } else if (!trans_b) {
        ep_sgemm_nn(m, n, k, pa, sam, sak, pb, n, py, n);
    } else {
        /* both transposed (rare): dot products */
        for (i = 0; i < m; ++i) {
            for (j = 0; j < n; ++j) {
                const float *bj = pb + j * k;
                float acc = 0.0f;
                for (q = 0; q < k; ++q) {
                    acc += pa[i * sam + q * sak] * bj[q];
                }
                py[i * n + j] = acc;
            }
        }
    }
    if (alpha != 1.0f || pc) {
        for (i = 0; i < m; ++i) {
            float *row = py + i * n;
            for (j = 0; j < n; ++j) {
                float v = alpha * row[j];
                if (pc) {
                    v += beta * pc[i * scm + j * scn];
                }
                row[j] = v;
            }
        }
    }
    return EP_OK;
}
