/* SPDX-License-Identifier: MIT */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lk-sampler.h"

typedef struct
{
  float logit;
  float p;
  int32_t id;
} candidate;

struct lk_sampler
{
  lk_sampler_params p;
  int n_vocab;
  candidate *cand;
  int32_t *history;
  int n_history, history_pos;
  uint64_t rng;
};

void
lk_sampler_params_init (lk_sampler_params *p)
{
  p->temperature = 0.8f;
  p->top_k = 40;
  p->top_p = 0.95f;
  p->min_p = 0.05f;
  p->repeat_penalty = 1.0f;
  p->repeat_last_n = 64;
  p->seed = 42;
}

lk_sampler *
lk_sampler_new (const lk_sampler_params *p, int n_vocab)
{
  lk_sampler *s = calloc (1, sizeof *s);

  if (s == NULL)
    return NULL;
  s->p = *p;
  if (s->p.repeat_last_n < 0)
    s->p.repeat_last_n = 0;
  s->n_vocab = n_vocab;
  s->cand = malloc ((size_t) n_vocab * sizeof *s->cand);
  s->history = calloc ((size_t) (s->p.repeat_last_n > 0 ? s->p.repeat_last_n : 1),
                       sizeof *s->history);
  if (s->cand == NULL || s->history == NULL)
    {
      lk_sampler_free (s);
      return NULL;
    }
  lk_sampler_reset (s);
  return s;
}

void
lk_sampler_free (lk_sampler *s)
{
  if (s == NULL)
    return;
  free (s->cand);
  free (s->history);
  free (s);
}

void
lk_sampler_reset (lk_sampler *s)
{
  s->n_history = 0;
  s->history_pos = 0;
  /* splitmix64 of the seed, so that nearby seeds give unrelated streams */
  s->rng = s->p.seed + 0x9E3779B97F4A7C15ull;
  s->rng = (s->rng ^ (s->rng >> 30)) * 0xBF58476D1CE4E5B9ull;
  s->rng = (s->rng ^ (s->rng >> 27)) * 0x94D049BB133111EBull;
  s->rng ^= s->rng >> 31;
  if (s->rng == 0)
    s->rng = 1;
}

void
lk_sampler_accept (lk_sampler *s, int32_t token)
{
  if (s->p.repeat_last_n <= 0)
    return;
  s->history[s->history_pos] = token;
  s->history_pos = (s->history_pos + 1) % s->p.repeat_last_n;
  if (s->n_history < s->p.repeat_last_n)
    s->n_history++;
}

/* xorshift64*: uniform in [0, 1) */
static double
next_uniform (lk_sampler *s)
{
  s->rng ^= s->rng >> 12;
  s->rng ^= s->rng << 25;
  s->rng ^= s->rng >> 27;
  return (double) ((s->rng * 0x2545F4914F6CDD1Dull) >> 11) * 0x1.0p-53;
}

int32_t
lk_argmax (const float *logits, int n)
{
  int32_t best = 0;

  for (int i = 1; i < n; i++)
    if (logits[i] > logits[best])
      best = i;
  return best;
}

static int
by_logit_desc (const void *a, const void *b)
{
  const candidate *x = a, *y = b;

  if (x->logit != y->logit)
    return x->logit > y->logit ? -1 : 1;
  return (x->id > y->id) - (x->id < y->id);
}

static bool
in_history (const lk_sampler *s, int32_t id)
{
  for (int i = 0; i < s->n_history; i++)
    if (s->history[i] == id)
      return true;
  return false;
}

/* Softmax over the first n candidates (sorted, so [0] is the largest). */
static void
softmax_cand (candidate *c, int n, float temp)
{
  double sum = 0.0;

  for (int i = 0; i < n; i++)
    {
      c[i].p = expf ((c[i].logit - c[0].logit) / temp);
      sum += c[i].p;
    }
  for (int i = 0; i < n; i++)
    c[i].p = (float) (c[i].p / sum);
}

int32_t
lk_sampler_sample (lk_sampler *s, const float *logits)
{
  candidate *c = s->cand;
  int n = s->n_vocab;
  double r, acc = 0.0;

  for (int i = 0; i < n; i++)
    {
      float l = logits[i];
      if (s->p.repeat_penalty != 1.0f && in_history (s, i))
        l = l > 0 ? l / s->p.repeat_penalty : l * s->p.repeat_penalty;
      c[i] = (candidate) { l, 0.0f, i };
    }
  if (s->p.temperature <= 0.0f)
    {
      int best = 0;
      for (int i = 1; i < n; i++)
        if (c[i].logit > c[best].logit)
          best = i;
      return c[best].id;
    }
  qsort (c, (size_t) n, sizeof *c, by_logit_desc);
  if (s->p.top_k > 0 && s->p.top_k < n)
    n = s->p.top_k;
  softmax_cand (c, n, 1.0f);
  if (s->p.top_p < 1.0f)
    {
      double cum = 0.0;
      for (int i = 0; i < n; i++)
        {
          cum += c[i].p;
          if (cum >= s->p.top_p)
            {
              n = i + 1;
              break;
            }
        }
    }
  if (s->p.min_p > 0.0f)
    {
      const float floor_p = c[0].p * s->p.min_p;
      int keep = 1;
      while (keep < n && c[keep].p >= floor_p)
        keep++;
      n = keep;
    }
  softmax_cand (c, n, s->p.temperature);
  r = next_uniform (s);
  for (int i = 0; i < n; i++)
    {
      acc += c[i].p;
      if (r < acc)
        return c[i].id;
    }
  return c[n - 1].id;
}
