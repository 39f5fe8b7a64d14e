/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "lk-pool.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause ()
#elif defined(__aarch64__)
#define CPU_RELAX() __asm__ __volatile__ ("yield" ::: "memory")
#else
#define CPU_RELAX() do { } while (0)
#endif

/* How long a worker spins for the next task before it sleeps. A forward pass
 * issues its next task within microseconds, so this keeps workers awake
 * during generation and lets them sleep between requests. */
#define SPIN_ROUNDS 20000

struct lk_pool
{
  int n_threads;
  pthread_t *threads;

  _Atomic unsigned generation;
  _Atomic int n_done;
  _Atomic int n_sleeping;
  _Atomic int stop;

  lk_task_fn fn;
  void *arg;

  pthread_mutex_t mutex;
  pthread_cond_t cond;
};

typedef struct
{
  lk_pool *pool;
  int ith;
} worker_arg;

static void *
worker_main (void *data)
{
  worker_arg *wa = data;
  lk_pool *pool = wa->pool;
  const int ith = wa->ith;
  unsigned seen = 0;

  free (wa);
  for (;;)
    {
      unsigned gen;
      int spins = 0;

      while ((gen = atomic_load (&pool->generation)) == seen && !atomic_load (&pool->stop))
        {
          if (++spins < SPIN_ROUNDS)
            {
              CPU_RELAX ();
              continue;
            }
          pthread_mutex_lock (&pool->mutex);
          atomic_fetch_add (&pool->n_sleeping, 1);
          while (atomic_load (&pool->generation) == seen && !atomic_load (&pool->stop))
            pthread_cond_wait (&pool->cond, &pool->mutex);
          atomic_fetch_sub (&pool->n_sleeping, 1);
          pthread_mutex_unlock (&pool->mutex);
          spins = 0;
        }
      if (atomic_load (&pool->stop))
        break;
      seen = gen;
      pool->fn (pool->arg, ith, pool->n_threads);
      atomic_fetch_add_explicit (&pool->n_done, 1, memory_order_acq_rel);
    }
  return NULL;
}

int
lk_cpu_count (void)
{
  cpu_set_t set;

  if (sched_getaffinity (0, sizeof set, &set) == 0)
    return CPU_COUNT (&set) > 0 ? CPU_COUNT (&set) : 1;
  {
    long n = sysconf (_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int) n : 1;
  }
}

lk_pool *
lk_pool_new (int n_threads)
{
  lk_pool *pool = calloc (1, sizeof *pool);

  if (pool == NULL)
    return NULL;
  if (n_threads <= 0)
    n_threads = lk_cpu_count ();
  pool->n_threads = n_threads;
  pthread_mutex_init (&pool->mutex, NULL);
  pthread_cond_init (&pool->cond, NULL);
  pool->threads = calloc ((size_t) n_threads, sizeof (pthread_t));
  if (pool->threads == NULL)
    {
      free (pool);
      return NULL;
    }
  for (int i = 1; i < n_threads; i++)
    {
      worker_arg *wa = malloc (sizeof *wa);
      if (wa == NULL)
        {
          pool->n_threads = i;
          break;
        }
      wa->pool = pool;
      wa->ith = i;
      if (pthread_create (&pool->threads[i], NULL, worker_main, wa) != 0)
        {
          free (wa);
          pool->n_threads = i;
          break;
        }
    }
  return pool;
}

static void
wake_sleepers (lk_pool *pool)
{
  if (atomic_load (&pool->n_sleeping) > 0)
    {
      pthread_mutex_lock (&pool->mutex);
      pthread_cond_broadcast (&pool->cond);
      pthread_mutex_unlock (&pool->mutex);
    }
}

void
lk_pool_free (lk_pool *pool)
{
  if (pool == NULL)
    return;
  pthread_mutex_lock (&pool->mutex);
  atomic_store (&pool->stop, 1);
  pthread_cond_broadcast (&pool->cond);
  pthread_mutex_unlock (&pool->mutex);
  for (int i = 1; i < pool->n_threads; i++)
    pthread_join (pool->threads[i], NULL);
  pthread_mutex_destroy (&pool->mutex);
  pthread_cond_destroy (&pool->cond);
  free (pool->threads);
  free (pool);
}

int
lk_pool_size (const lk_pool *pool)
{
  return pool ? pool->n_threads : 1;
}

void
lk_pool_run (lk_pool *pool, lk_task_fn fn, void *arg)
{
  if (pool == NULL || pool->n_threads == 1)
    {
      fn (arg, 0, 1);
      return;
    }
  pool->fn = fn;
  pool->arg = arg;
  atomic_store (&pool->n_done, 0);
  atomic_fetch_add (&pool->generation, 1);
  wake_sleepers (pool);

  fn (arg, 0, pool->n_threads);

  for (int spins = 0;
       atomic_load_explicit (&pool->n_done, memory_order_acquire) != pool->n_threads - 1;
       spins++)
    {
      /* With more threads than free cores a worker may be descheduled; give
       * it the core instead of spinning against it. */
      if (spins > SPIN_ROUNDS)
        sched_yield ();
      else
        CPU_RELAX ();
    }
}
