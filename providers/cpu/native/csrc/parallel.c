/* The kernels' thread pool: ep_parallel_for runs `parts` independent pieces of one kernel call on
 * the calling thread and up to `threads - 1` pool workers.
 *
 * One process-wide pool serves every caller. Each call is a job with its own thread limit: it
 * offers `threads - 1` seats to the workers, and every participant (the caller included) claims
 * the job's next unclaimed part until none is left, so a call never waits for a part nobody has
 * started and two calls with different limits may run at once, sharing the workers. Workers are
 * started on demand (up to the largest limit asked for, at most EP_POOL_MAX_WORKERS) and sleep on a
 * condition variable while there is no job: no busy-waiting. Parts write disjoint outputs with the
 * same arithmetic whoever runs them, so results do not depend on the thread count.
 *
 * Without POSIX threads (Windows builds, or -DEP_NO_THREADS) every part runs on the caller.
 */
#if !defined(_WIN32) && !defined(EP_NO_THREADS)
#define _POSIX_C_SOURCE 200809L
#define EP_HAVE_THREADS 1
#endif

#include "ep_native.h"

#ifndef EP_HAVE_THREADS

int ep_parallel_for(int64_t threads, int64_t parts, ep_part_fn fn, void *ctx) {
    int rc = 0;
    (void)threads;
    for (int64_t i = 0; i < parts; i++) {
        const int r = fn(ctx, i);
        if (r != 0 && rc == 0) rc = r;
    }
    return rc;
}

int64_t ep_pool_workers(void) { return 0; }

int64_t ep_pool_jobs(void) { return 0; }

#else

#include <pthread.h>
#include <signal.h>

/* the most workers the pool starts, whatever a session asks for */
#define EP_POOL_MAX_WORKERS (EP_MAX_THREADS - 1)

typedef struct ep_job {
    ep_part_fn fn;
    void *ctx;
    int64_t parts, next, done; /* parts claimed so far, parts finished */
    int64_t seats;             /* workers that may still join */
    int rc;                    /* the first non-zero return of a part */
    struct ep_job *queued;     /* the next job with open seats */
    pthread_cond_t finished;   /* done == parts */
} ep_job;

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_work = PTHREAD_COND_INITIALIZER; /* a job with open seats was queued */
static ep_job *pool_queue;                                   /* jobs with open seats, oldest first */
static int64_t pool_workers;
static int64_t pool_jobs; /* calls shared with the workers so far */
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;

/* fork: the child has none of the workers; it starts with an empty pool and a fresh lock */
static void pool_prefork(void) { pthread_mutex_lock(&pool_lock); }
static void pool_postfork_parent(void) { pthread_mutex_unlock(&pool_lock); }
static void pool_postfork_child(void) {
    pthread_mutex_init(&pool_lock, NULL);
    pthread_cond_init(&pool_work, NULL);
    pool_queue = NULL;
    pool_workers = 0;
}
static void pool_setup(void) { pthread_atfork(pool_prefork, pool_postfork_parent, pool_postfork_child); }

static void unqueue(ep_job *job) {
    for (ep_job **p = &pool_queue; *p; p = &(*p)->queued)
        if (*p == job) {
            *p = job->queued;
            return;
        }
}

/* Run the job's unclaimed parts; called and returns with pool_lock held. The job may be gone once
 * this returns (its caller returns as soon as done == parts), so nothing touches it afterwards. */
static void work_on(ep_job *job) {
    while (job->next < job->parts) {
        const int64_t part = job->next++;
        pthread_mutex_unlock(&pool_lock);
        const int r = job->fn(job->ctx, part);
        pthread_mutex_lock(&pool_lock);
        if (r != 0 && job->rc == 0) job->rc = r;
        if (++job->done == job->parts) pthread_cond_signal(&job->finished);
    }
}

static void *worker_main(void *arg) {
    (void)arg;
    pthread_mutex_lock(&pool_lock);
    for (;;) {
        while (pool_queue == NULL) pthread_cond_wait(&pool_work, &pool_lock);
        ep_job *job = pool_queue;
        if (--job->seats <= 0 || job->next >= job->parts) unqueue(job);
        work_on(job);
    }
    return NULL;
}

/* Start workers until there are `wanted` (or the cap, or pthread_create fails); lock held. Workers
 * block every signal, so signals keep going to the threads that expect them (Python's main thread). */
static void grow_pool(int64_t wanted) {
    if (wanted > EP_POOL_MAX_WORKERS) wanted = EP_POOL_MAX_WORKERS;
    if (pool_workers >= wanted) return;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_attr_t attr;
    if (pthread_attr_init(&attr) == 0) {
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        while (pool_workers < wanted) {
            pthread_t t;
            if (pthread_create(&t, &attr, worker_main, NULL) != 0) break;
            pool_workers++;
        }
        pthread_attr_destroy(&attr);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* Run fn(ctx, i) for 0 <= i < parts on at most `threads` threads (the caller and pool workers);
 * returns 0, or the first non-zero value a part returned. */
int ep_parallel_for(int64_t threads, int64_t parts, ep_part_fn fn, void *ctx) {
    if (parts <= 0) return 0;
    if (threads > parts) threads = parts;
    if (threads > EP_MAX_THREADS) threads = EP_MAX_THREADS;
    ep_job job;
    job.fn = fn;
    job.ctx = ctx;
    job.parts = parts;
    job.next = job.done = 0;
    job.seats = threads - 1;
    job.rc = 0;
    job.queued = NULL;
    if (threads <= 1 || pthread_once(&pool_once, pool_setup) != 0 || pthread_cond_init(&job.finished, NULL) != 0) {
        for (int64_t i = 0; i < parts; i++) {
            const int r = fn(ctx, i);
            if (r != 0 && job.rc == 0) job.rc = r;
        }
        return job.rc;
    }
    pthread_mutex_lock(&pool_lock);
    grow_pool(threads - 1);
    if (pool_workers > 0) {
        pool_jobs++;
        ep_job **tail = &pool_queue;
        while (*tail) tail = &(*tail)->queued;
        *tail = &job;
        for (int64_t i = 0; i < job.seats && i < pool_workers; i++) pthread_cond_signal(&pool_work);
    }
    work_on(&job);
    while (job.done < job.parts) pthread_cond_wait(&job.finished, &pool_lock);
    unqueue(&job);
    pthread_mutex_unlock(&pool_lock);
    pthread_cond_destroy(&job.finished);
    return job.rc;
}

/* the number of calls offered to the workers so far (for tests) */
int64_t ep_pool_jobs(void) {
    pthread_mutex_lock(&pool_lock);
    const int64_t n = pool_jobs;
    pthread_mutex_unlock(&pool_lock);
    return n;
}

/* the number of pool workers started so far (for tests) */
int64_t ep_pool_workers(void) {
    pthread_mutex_lock(&pool_lock);
    const int64_t n = pool_workers;
    pthread_mutex_unlock(&pool_lock);
    return n;
}

#endif

/* The number of parts worth splitting `work` units into for `threads` threads: 1 for one thread or
 * less than two grains of work, else at most 4 parts a thread (so that a thread the OS delays does
 * not hold up the call: the others take its share) and none below `grain` units. */
int64_t ep_parts_for(int64_t threads, int64_t work, int64_t grain) {
#ifdef EP_TINY_GRAIN
    grain = 1; /* tests: split every call with more than one unit of work */
#endif
    if (threads <= 1 || grain <= 0 || work / 2 < grain) return 1;
    const int64_t by_work = work / grain, most = threads < EP_MAX_THREADS ? 4 * threads : 4 * EP_MAX_THREADS;
    return by_work < most ? by_work : most;
}

/* ep_parts_for, but one part below `least` units of work: for kernels cheap per unit, whose calls split
 * only when their work outweighs waking the workers (40-60 us on a 2-core VM), yet then in parts small
 * enough that the caller takes most of them while a late worker wakes. */
int64_t ep_parts_from(int64_t threads, int64_t work, int64_t grain, int64_t least) {
#ifndef EP_TINY_GRAIN
    if (work < least) return 1;
#else
    (void)least;
#endif
    return ep_parts_for(threads, work, grain);
}
