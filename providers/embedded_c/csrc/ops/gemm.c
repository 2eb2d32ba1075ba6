/* gemm.c: default ONNX Gemm kernel. */
#include "ep_layer.h"
#include "ep_sgemm.h"
#include "gemm.h"

int ep_gemm(const ep_tensor *a, const ep_tensor *b, const ep_tensor *c, ep_tensor *y,
            float alpha, float beta, int32_t trans_a, int32_t trans_b)
{
    const float *pa;
    const float *pb;
    const float *pc;
    float *py;
    int64_t m, k, n, sam, sak, scm = 0, scn = 0;
    int64_t i, j, q;
    int rc = ep_check_operands(a, b, y, c);
    if (rc != EP_OK) {
        return rc;
    }
    if (a->rank != 2 || b->rank != 2 || y->rank != 2) {
        return EP_ERR_SHAPE;
    }
    m = trans_a ? a->dims[1] : a->dims[0];
    k = trans_a ? a->dims[0] : a->dims[1];
    n = trans_b ? b->dims[0] : b->dims[1];
    if ((trans_b ? b->dims[1] : b->dims[0]) != k || y->dims[0] != m || y->dims[1] != n) {
        return EP_ERR_SHAPE;
    }
    if (c) { /* C broadcasts to (m, n) one way: each of its dims is 1 or the output's */
        int64_t cm = c->rank == 2 ? c->dims[0] : 1;
        int64_t cn = c->rank >= 1 ? c->dims[c->rank - 1] : 1;
        if (c->rank > 2 || (cm != 1 && cm != m) || (cn != 1 && cn != n)) {
            return EP_ERR_SHAPE;
        }
        scm = cm == 1 ? 0 : cn;
        scn = cn == 1 ? 0 : 1;
    }
    pa = (const float *)a->data;
    pb = (const float *)b->data;
    pc = c ? (const float *)c->data : NULL;
    py = (float *)y->data;
    sam = trans_a ? 1 : k;
    sak = trans_a ? m : 1;
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
