/* matmul.c: default ONNX MatMul kernel. */
#include "ep_sgemm.h"
#include "matmul.h"

int ep_matmul(const ep_tensor *a, const ep_tensor *b, ep_tensor *y)
{
    const float *pa;
    const float *pb;
    float *py;
    int64_t m, k, n, kb;
    int32_t brank = 0; /* batch rank of the output */
    int64_t bdims[EP_MAX_RANK], sa[EP_MAX_RANK], sb[EP_MAX_RANK];
    int64_t nbatch = 1, t;
    int32_t ra, rb, d, yr;
    int rc = ep_check(a);
    if (rc == EP_OK) {
        rc = ep_check(b);
    }
    if (rc == EP_OK) {
        rc = ep_check(y);
    }
    if (rc != EP_OK) {
        return rc;
    }
    if (a->rank < 1 || b->rank < 1) {
        return EP_ERR_SHAPE;
    }
    m = a->rank >= 2 ? a->dims[a->rank - 2] : 1;
    k = a->dims[a->rank - 1];
    n = b->rank >= 2 ? b->dims[b->rank - 1] : 1;
    kb = b->rank >= 2 ? b->dims[b->rank - 2] : b->dims[0];
    ra = a->rank >= 2 ? a->rank - 2 : 0;
    rb = b->rank >= 2 ? b->rank - 2 : 0;
    if (k != kb) {
        return EP_ERR_SHAPE;
    }
    brank = ra > rb ? ra : rb;
    for (d = 0; d < brank; ++d) {
        int32_t da = d - (brank - ra);
        int32_t db = d - (brank - rb);
        int64_t ea = da >= 0 ? a->dims[da] : 1;
        int64_t eb = db >= 0 ? b->dims[db] : 1;
        if (ea != eb && ea != 1 && eb != 1) {
            return EP_ERR_SHAPE;
        }
        bdims[d] = ea == 1 ? eb : ea;
        nbatch *= bdims[d];
    }
    /* y: the batch dims, then m (unless a is 1-D), then n (unless b is 1-D) */
    yr = brank + (a->rank >= 2) + (b->rank >= 2);
    if (y->rank != yr || (a->rank >= 2 && y->dims[brank] != m) || (b->rank >= 2 && y->dims[yr - 1] != n)) {
        return EP_ERR_SHAPE;
    }
    for (d = 0; d < brank; ++d) {
        if (y->dims[d] != bdims[d]) {
            return EP_ERR_SHAPE;
        }
    }
    pa = (const float *)a->data;
    pb = (const float *)b->data;
    py = (float *)y->data;
    /* batch strides in whole matrices */
    {
        int64_t s = 1;
        for (d = brank - 1; d >= 0; --d) {
            int32_t da = d - (brank - ra);
            sa[d] = (da >= 0 && a->dims[da] != 1) ? s : 0;
            if (da >= 0) {
                s *= a->dims[da];
            }
        }
        s = 1;
        for (d = brank - 1; d >= 0; --d) {
            int32_t db = d - (brank - rb);
            sb[d] = (db >= 0 && b->dims[db] != 1) ? s : 0;
            if (db >= 0) {
                s *= b->dims[db];
            }
        }
    }
    {
        /* one b for the whole batch and a not broadcast: the batch's rows are one m * nbatch-row product
         * (y's rows lie in the same order), so b is streamed once instead of once per matrix */
        int64_t a_batch = 1;
        int shared_b = 1;
        for (d = 0; d < brank; ++d) {
            shared_b &= sb[d] == 0;
        }
        for (d = 0; d < ra; ++d) {
            a_batch *= a->dims[d];
        }
        if (shared_b && a_batch == nbatch && a->rank >= 2) {
            ep_sgemm_nn(nbatch * m, n, k, pa, k, 1, pb, n, py, n);
            return EP_OK;
        }
    }
    for (t = 0; t < nbatch; ++t) {
        int64_t rem = t, oa = 0, ob = 0;
        const float *ma;
        const float *mb;
        float *my = py + t * m * n;
        for (d = brank - 1; d >= 0; --d) {
            int64_t idx = rem % bdims[d];
            rem /= bdims[d];
            oa += idx * sa[d];
            ob += idx * sb[d];
        }
        ma = pa + oa * m * k;
        mb = pb + ob * k * n;
        ep_sgemm_nn(m, n, k, ma, k, 1, mb, n, my, n);
    }
    return EP_OK;
}
