/* SPDX-License-Identifier: MIT */
/* A pool of persistent worker threads for fork-join parallel loops.
 *
 * lk_pool_run() wakes every worker, runs the task on all of them and on the
 * calling thread (as thread 0), and returns when all are done. Workers spin
 * for a short while before sleeping, so the back-to-back runs of a forward
 * pass cost little more than a cache line transfer each.
 */
#pragma once

typedef struct lk_pool lk_pool;
typedef void (*lk_task_fn) (void *arg, int ith, int nth);

/* n_threads counts the calling thread; 0 or less means one per CPU. */
lk_pool *lk_pool_new (int n_threads);
void lk_pool_free (lk_pool *pool);
int lk_pool_size (const lk_pool *pool);
void lk_pool_run (lk_pool *pool, lk_task_fn fn, void *arg);
int lk_cpu_count (void);
