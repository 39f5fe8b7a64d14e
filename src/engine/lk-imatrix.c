/* SPDX-License-Identifier: MIT */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lk-gguf.h"
#include "lk-imatrix.h"

/* One matrix, or a stack of n_mat experts' matrices (sums and counts
 * expert by expert). */
typedef struct
{
  char *name;
  const lk_tensor *tensor; /* while collecting */
  int64_t n_cols;
  int n_mat;
  double *sum2;   /* [n_mat][n_cols] */
  double *count;  /* [n_mat] */
  float *mean_sq, *rms; /* derived on demand */
} entry;

struct lk_imatrix
{
  entry *entries;
  int n, cap;
  int chunks, chunk_size;
  /* Per layer: the sum over tokens of 1 - cos(input, output) of the layer. */
  double *layer_change;
  int n_layer;
  double layer_tokens;
  /* Mixture of experts: tokens routed to each expert, [n_layer][n_expert]. */
  double *routes;
  int n_expert;
};

lk_imatrix *
lk_imatrix_new (void)
{
  return calloc (1, sizeof (lk_imatrix));
}

void
lk_imatrix_free (lk_imatrix *im)
{
  if (im == NULL)
    return;
  for (int i = 0; i < im->n; i++)
    {
      free (im->entries[i].name);
      free (im->entries[i].sum2);
      free (im->entries[i].count);
      free (im->entries[i].mean_sq);
      free (im->entries[i].rms);
    }
  free (im->entries);
  free (im->layer_change);
  free (im->routes);
  free (im);
}

static entry *
find (const lk_imatrix *im, const char *name)
{
  for (int i = 0; i < im->n; i++)
    if (strcmp (im->entries[i].name, name) == 0)
      return &im->entries[i];
  return NULL;
}

static entry *
add (lk_imatrix *im, const char *name, int64_t n_cols, int n_mat)
{
  entry *e;

  if (im->n == im->cap)
    {
      const int cap = im->cap ? 2 * im->cap : 64;
      entry *grown = realloc (im->entries, (size_t) cap * sizeof *grown);
      if (grown == NULL)
        return NULL;
      im->entries = grown;
      im->cap = cap;
    }
  e = &im->entries[im->n];
  memset (e, 0, sizeof *e);
  e->name = strdup (name);
  e->n_cols = n_cols;
  e->n_mat = n_mat;
  e->sum2 = calloc ((size_t) n_cols * (size_t) n_mat, sizeof *e->sum2);
  e->count = calloc ((size_t) n_mat, sizeof *e->count);
  if (e->name == NULL || e->sum2 == NULL || e->count == NULL)
    {
      free (e->name);
      free (e->sum2);
      free (e->count);
      return NULL;
    }
  im->n++;
  return e;
}

/* Collecting -------------------------------------------------------------- */

typedef struct
{
  lk_imatrix *im;
  int failed;
  float *prev; /* the hidden state before the layer, per token */
  size_t prev_cap;
} collect_state;

static double
cosine (const float *a, const float *b, int n)
{
  double ab = 0.0, aa = 0.0, bb = 0.0;

  for (int i = 0; i < n; i++)
    {
      ab += (double) a[i] * b[i];
      aa += (double) a[i] * a[i];
      bb += (double) b[i] * b[i];
    }
  return aa > 0.0 && bb > 0.0 ? ab / sqrt (aa * bb) : 1.0;
}

static void
layer_cb (void *user, int il, const float *x, int nt, int n_embd)
{
  collect_state *st = user;
  const size_t need = (size_t) nt * (size_t) n_embd;

  if (st->failed)
    return;
  if (need > st->prev_cap)
    {
      float *p = realloc (st->prev, need * sizeof *p);
      if (p == NULL)
        {
          st->failed = 1;
          return;
        }
      st->prev = p;
      st->prev_cap = need;
    }
  if (il >= 0 && il < st->im->n_layer)
    {
      for (int t = 0; t < nt; t++)
        st->im->layer_change[il] += 1.0 - cosine (st->prev + (size_t) t * n_embd, x + (size_t) t * n_embd, n_embd);
      if (il == 0)
        st->im->layer_tokens += nt;
    }
  memcpy (st->prev, x, need * sizeof *x);
}

/* The inputs of one product: of matrix w, or of expert `expert` of the
 * stack w (the tokens routed to it). */
static void
observe_cb (void *user, const lk_tensor *w, int expert, const float *x, int64_t x_stride, int nt)
{
  collect_state *st = user;
  const int n_mat = expert >= 0 ? (int) w->ne[2] : 1;
  entry *e = NULL;
  double *sum2;

  for (int i = st->im->n - 1; i >= 0 && e == NULL; i--)
    if (st->im->entries[i].tensor == w)
      e = &st->im->entries[i];
  if (e == NULL && (e = find (st->im, w->name)) == NULL
      && (e = add (st->im, w->name, w->ne[0], n_mat)) == NULL)
    {
      st->failed = 1;
      return;
    }
  if (e->n_mat != n_mat || expert >= n_mat)
    {
      st->failed = 1;
      return;
    }
  e->tensor = w;
  sum2 = e->sum2 + (size_t) (expert > 0 ? expert : 0) * (size_t) e->n_cols;
  for (int t = 0; t < nt; t++)
    {
      const float *row = x + (size_t) t * (size_t) x_stride;
      for (int64_t c = 0; c < e->n_cols; c++)
        sum2[c] += (double) row[c] * (double) row[c];
    }
  e->count[expert > 0 ? expert : 0] += nt;
}

/* The routing counts the context gathered (it counts from its creation). */
static lk_status
add_routes (lk_imatrix *im, const lk_ctx *ctx, lk_error *err)
{
  const lk_hparams *hp = lk_model_hparams (lk_ctx_model (ctx));

  if (hp->n_expert == 0)
    return LK_OK;
  if (im->routes == NULL)
    {
      im->n_expert = hp->n_expert;
      im->routes = calloc ((size_t) hp->n_layer * (size_t) hp->n_expert, sizeof *im->routes);
      if (im->routes == NULL)
        return lk_error_set (err, LK_ERR_NOMEM, "out of memory");
    }
  for (int il = 0; il < hp->n_layer; il++)
    for (int e = 0; e < hp->n_expert; e++)
      im->routes[(size_t) il * hp->n_expert + e] = (double) lk_ctx_routes (ctx, il)[e];
  return LK_OK;
}

lk_status
lk_imatrix_collect (lk_imatrix *im, lk_ctx *ctx, const lk_tokens *toks, int n_ctx, int max_chunks,
                    void (*progress) (void *user, int chunk, int n_chunks), void *user, lk_error *err)
{
  const lk_vocab *v = lk_model_vocab (lk_ctx_model (ctx));
  collect_state st = { im, 0, NULL, 0 };
  const int n_layer = lk_model_hparams (lk_ctx_model (ctx))->n_layer;
  int32_t *chunk;
  int n_chunks;
  lk_status s = LK_OK;

  if (n_ctx < 2 || n_ctx > lk_ctx_n_ctx (ctx))
    return lk_error_set (err, LK_ERR_INVALID, "chunks of %d tokens: expected 2 to %d", n_ctx,
                         lk_ctx_n_ctx (ctx));
  n_chunks = (int) (toks->n / (size_t) n_ctx);
  if (n_chunks == 0)
    return lk_error_set (err, LK_ERR_INVALID,
                         "the calibration text is %zu tokens, shorter than a chunk of %d", toks->n, n_ctx);
  if (max_chunks > 0 && n_chunks > max_chunks)
    n_chunks = max_chunks;
  if (im->layer_change == NULL)
    {
      im->n_layer = n_layer;
      im->layer_change = calloc ((size_t) n_layer, sizeof *im->layer_change);
    }
  if (im->n_layer != n_layer)
    return lk_error_set (err, LK_ERR_INVALID, "statistics of %d layers, the model has %d", im->n_layer,
                         n_layer);
  if (im->layer_change == NULL || (chunk = malloc ((size_t) n_ctx * sizeof *chunk)) == NULL)
    return lk_error_set (err, LK_ERR_NOMEM, "out of memory");
  lk_ctx_set_observers (ctx, observe_cb, layer_cb, &st);
  for (int c = 0; c < n_chunks && s == LK_OK; c++)
    {
      memcpy (chunk, toks->ids + (size_t) c * (size_t) n_ctx, (size_t) n_ctx * sizeof *chunk);
      if (lk_vocab_bos (v) >= 0)
        chunk[0] = lk_vocab_bos (v);
      lk_ctx_truncate (ctx, 0);
      s = lk_ctx_decode (ctx, chunk, n_ctx, false, err);
      if (s == LK_OK && st.failed)
        s = lk_error_set (err, LK_ERR_NOMEM, "out of memory collecting activations");
      if (s == LK_OK && progress != NULL)
        progress (user, c, n_chunks);
    }
  lk_ctx_set_observers (ctx, NULL, NULL, NULL);
  free (chunk);
  free (st.prev);
  if (s == LK_OK)
    s = add_routes (im, ctx, err);
  if (s == LK_OK)
    {
      im->chunks += n_chunks;
      im->chunk_size = n_ctx;
    }
  return s;
}

/* Files ------------------------------------------------------------------- */

lk_status
lk_imatrix_save (const lk_imatrix *im, const char *path, const char *dataset, lk_error *err)
{
  lk_gguf_writer *w = lk_gguf_writer_new ();
  float **bufs = calloc ((size_t) (2 * im->n + 1), sizeof *bufs);
  lk_status s = LK_OK;
  char name[512];

  if (w == NULL || bufs == NULL)
    {
      lk_gguf_writer_free (w);
      free (bufs);
      return lk_error_set (err, LK_ERR_NOMEM, "out of memory");
    }
  lk_gguf_writer_set_str (w, "general.type", "imatrix");
  lk_gguf_writer_set_u32 (w, "imatrix.chunk_count", (uint32_t) im->chunks);
  lk_gguf_writer_set_u32 (w, "imatrix.chunk_size", (uint32_t) im->chunk_size);
  if (dataset != NULL)
    lk_gguf_writer_set_arr_str (w, "imatrix.datasets", &dataset, NULL, 1);
  if (im->routes != NULL)
    {
      const size_t n = (size_t) im->n_layer * (size_t) im->n_expert;
      float *r = malloc (n * sizeof *r);
      if (r != NULL)
        {
          for (size_t i = 0; i < n; i++)
            r[i] = (float) im->routes[i];
          lk_gguf_writer_set_arr (w, "lathe.expert_routes", LK_GGUF_FLOAT32, r, n);
          lk_gguf_writer_set_u32 (w, "lathe.expert_count", (uint32_t) im->n_expert);
          free (r);
        }
    }
  if (im->n_layer > 0 && im->layer_tokens > 0)
    {
      float *lc = malloc ((size_t) im->n_layer * sizeof *lc);
      if (lc != NULL)
        {
          for (int il = 0; il < im->n_layer; il++)
            lc[il] = (float) (im->layer_change[il] / im->layer_tokens);
          lk_gguf_writer_set_arr (w, "lathe.layer_change", LK_GGUF_FLOAT32, lc, (size_t) im->n_layer);
          free (lc);
        }
    }
  for (int i = 0; i < im->n && s == LK_OK; i++)
    {
      const entry *e = &im->entries[i];
      const size_t n = (size_t) e->n_cols * (size_t) e->n_mat;
      const int64_t ne_sum[2] = { e->n_cols, e->n_mat }, ne_count[2] = { 1, e->n_mat };
      float *sum = malloc (n * sizeof *sum), *count = malloc ((size_t) e->n_mat * sizeof *count);
      bufs[2 * i] = sum;
      bufs[2 * i + 1] = count;
      if (sum == NULL || count == NULL)
        {
          s = lk_error_set (err, LK_ERR_NOMEM, "out of memory");
          break;
        }
      for (size_t c = 0; c < n; c++)
        sum[c] = (float) e->sum2[c];
      for (int m = 0; m < e->n_mat; m++)
        count[m] = (float) e->count[m];
      snprintf (name, sizeof name, "%s.in_sum2", e->name);
      s = lk_gguf_writer_add_tensor (w, name, LK_TYPE_F32, 2, ne_sum, sum, err);
      snprintf (name, sizeof name, "%s.counts", e->name);
      if (s == LK_OK)
        s = lk_gguf_writer_add_tensor (w, name, LK_TYPE_F32, 2, ne_count, count, err);
    }
  if (s == LK_OK)
    s = lk_gguf_writer_write (w, path, err);
  for (int i = 0; i < 2 * im->n; i++)
    free (bufs[i]);
  free (bufs);
  lk_gguf_writer_free (w);
  return s;
}

static bool
ends_with (const char *s, const char *suffix, size_t *stem)
{
  const size_t n = strlen (s), k = strlen (suffix);

  if (n <= k || strcmp (s + n - k, suffix) != 0)
    return false;
  *stem = n - k;
  return true;
}

/* NAME.in_sum2, F32 [channels, matrices], and NAME.counts, F32 [1, matrices]:
 * one matrix, or llama.cpp's layout of a stack of experts. */
static lk_status
load_entry (lk_imatrix *im, const lk_gguf *g, const char *path, const lk_gguf_tensor *t,
            size_t stem, lk_error *err)
{
  char name[512], counts_name[600];
  const lk_gguf_tensor *ct;
  entry *e;
  int64_t n_mat;

  if (stem >= sizeof name)
    return lk_error_set (err, LK_ERR_FORMAT, "%s: tensor %s: name too long", path, t->name);
  memcpy (name, t->name, stem);
  name[stem] = '\0';
  snprintf (counts_name, sizeof counts_name, "%s.counts", name);
  n_mat = t->ne[1];
  if (t->type != LK_TYPE_F32 || t->ne[0] < 1 || n_mat < 1 || n_mat > 4096 || t->ne[2] != 1 || t->ne[3] != 1)
    return lk_error_set (err, LK_ERR_UNSUPPORTED,
                         "%s: tensor %s: expected F32 [channels, matrices] (up to 4096 experts); found %s with "
                         "%u dims",
                         path, t->name, lk_type_name (t->type), t->n_dims);
  ct = lk_gguf_find_tensor (g, counts_name);
  if (ct == NULL || ct->type != LK_TYPE_F32 || ct->ne[0] != 1 || ct->ne[1] != n_mat || ct->ne[2] != 1)
    return lk_error_set (err, LK_ERR_FORMAT, "%s: tensor %s: missing or not F32 [1, %lld]", path, counts_name,
                         (long long) n_mat);
  if (find (im, name) != NULL)
    return lk_error_set (err, LK_ERR_FORMAT, "%s: tensor %s: given twice", path, t->name);
  if ((e = add (im, name, t->ne[0], (int) n_mat)) == NULL)
    return lk_error_set (err, LK_ERR_NOMEM, "out of memory");
  for (int64_t m = 0; m < n_mat; m++)
    {
      float count;
      memcpy (&count, ct->data + (size_t) m * sizeof count, sizeof count);
      if (!(count >= 0.0f) || !isfinite (count))
        return lk_error_set (err, LK_ERR_FORMAT, "%s: tensor %s: value %lld is %g, not a token count", path,
                             counts_name, (long long) m, (double) count);
      e->count[m] = count;
    }
  for (int64_t c = 0; c < e->n_cols * n_mat; c++)
    {
      float v;
      memcpy (&v, t->data + (size_t) c * sizeof v, sizeof v);
      if (!(v >= 0.0f) || !isfinite (v))
        return lk_error_set (err, LK_ERR_FORMAT, "%s: tensor %s: value %lld is %g, not a sum of squares",
                             path, t->name, (long long) c, (double) v);
      e->sum2[c] = v;
    }
  return LK_OK;
}

/* Lathe's files also hold how much each layer changes its input. */
static lk_status
load_layer_change (lk_imatrix *im, const lk_gguf *g, const char *path, lk_error *err)
{
  const lk_gguf_value *v = lk_gguf_get (g, "lathe.layer_change");

  if (v == NULL)
    return LK_OK;
  if (v->type != LK_GGUF_ARRAY || v->v.arr.elem_type != LK_GGUF_FLOAT32 || v->v.arr.n == 0
      || v->v.arr.n > 100000)
    return lk_error_set (err, LK_ERR_FORMAT, "%s: lathe.layer_change: expected an array of floats", path);
  im->n_layer = (int) v->v.arr.n;
  im->layer_change = calloc (v->v.arr.n, sizeof *im->layer_change);
  if (im->layer_change == NULL)
    return lk_error_set (err, LK_ERR_NOMEM, "out of memory");
  for (uint64_t i = 0; i < v->v.arr.n; i++)
    {
      double d;
      lk_gguf_arr_get_f64 (v, i, &d);
      if (!(d >= 0.0 && d <= 2.0))
        return lk_error_set (err, LK_ERR_FORMAT, "%s: lathe.layer_change[%llu]: %g is not 1 - cosine",
                             path, (unsigned long long) i, d);
      im->layer_change[i] = d;
    }
  im->layer_tokens = 1.0;
  return LK_OK;
}

static lk_status
load_routes (lk_imatrix *im, const lk_gguf *g, const char *path, lk_error *err)
{
  const lk_gguf_value *v = lk_gguf_get (g, "lathe.expert_routes");
  uint32_t ne = 0;

  if (v == NULL)
    return LK_OK;
  if (!lk_gguf_get_u32 (g, "lathe.expert_count", &ne) || ne == 0 || ne > 512 || im->n_layer <= 0
      || v->type != LK_GGUF_ARRAY || v->v.arr.elem_type != LK_GGUF_FLOAT32
      || v->v.arr.n != (uint64_t) ne * (uint64_t) im->n_layer)
    return lk_error_set (err, LK_ERR_FORMAT,
                         "%s: lathe.expert_routes: expected lathe.expert_count × layers floats", path);
  im->n_expert = (int) ne;
  im->routes = calloc (v->v.arr.n, sizeof *im->routes);
  if (im->routes == NULL)
    return lk_error_set (err, LK_ERR_NOMEM, "out of memory");
  for (uint64_t i = 0; i < v->v.arr.n; i++)
    lk_gguf_arr_get_f64 (v, i, &im->routes[i]);
  return LK_OK;
}

lk_status
lk_imatrix_load (const char *path, lk_imatrix **out, lk_error *err)
{
  lk_gguf *g = NULL;
  lk_imatrix *im;
  lk_status s = lk_gguf_open (path, LK_LOAD_READ, &g, err);
  uint32_t u;

  if (s != LK_OK)
    return s;
  if ((im = lk_imatrix_new ()) == NULL)
    {
      lk_gguf_free (g);
      return lk_error_set (err, LK_ERR_NOMEM, "out of memory");
    }
  for (size_t i = 0; i < lk_gguf_n_tensors (g) && s == LK_OK; i++)
    {
      const lk_gguf_tensor *t = lk_gguf_tensor_at (g, i);
      size_t stem;
      if (ends_with (t->name, ".in_sum2", &stem))
        s = load_entry (im, g, path, t, stem, err);
    }
  if (s == LK_OK && im->n == 0)
    s = lk_error_set (err, LK_ERR_FORMAT, "%s: no NAME.in_sum2 tensors: not an importance matrix", path);
  if (s == LK_OK)
    s = load_layer_change (im, g, path, err);
  if (s == LK_OK)
    s = load_routes (im, g, path, err);
  if (s == LK_OK)
    {
      im->chunks = lk_gguf_get_u32 (g, "imatrix.chunk_count", &u) ? (int) u : 0;
      im->chunk_size = lk_gguf_get_u32 (g, "imatrix.chunk_size", &u) ? (int) u : 0;
    }
  lk_gguf_free (g);
  if (s != LK_OK)
    {
      lk_imatrix_free (im);
      return s;
    }
  *out = im;
  return LK_OK;
}

/* Queries ----------------------------------------------------------------- */

int
lk_imatrix_n_entries (const lk_imatrix *im)
{
  return im->n;
}

const char *
lk_imatrix_name_at (const lk_imatrix *im, int i)
{
  return i >= 0 && i < im->n ? im->entries[i].name : NULL;
}

int
lk_imatrix_chunks (const lk_imatrix *im)
{
  return im->chunks;
}

/* The mean squares (or RMS) of every matrix of the entry, n values in all.
 * An expert no calibration token reached takes the mean over all experts. */
static const float *
derived (const lk_imatrix *im, const char *name, int64_t n, bool root)
{
  entry *e = find (im, name);
  double total = 0;
  float **slot;

  if (e == NULL || e->n_cols * e->n_mat != n)
    return NULL;
  for (int m = 0; m < e->n_mat; m++)
    total += e->count[m];
  if (total <= 0)
    return NULL;
  slot = root ? &e->rms : &e->mean_sq;
  if (*slot == NULL && (*slot = malloc ((size_t) n * sizeof **slot)) != NULL)
    for (int m = 0; m < e->n_mat; m++)
      for (int64_t c = 0; c < e->n_cols; c++)
        {
          double ms;
          if (e->count[m] > 0)
            ms = e->sum2[(size_t) m * e->n_cols + c] / e->count[m];
          else
            {
              double s = 0;
              for (int k = 0; k < e->n_mat; k++)
                s += e->sum2[(size_t) k * e->n_cols + c];
              ms = s / total;
            }
          (*slot)[(size_t) m * e->n_cols + c] = (float) (root ? sqrt (ms) : ms);
        }
  return *slot;
}

const float *
lk_imatrix_mean_square (const lk_imatrix *im, const char *name, int64_t n)
{
  return derived (im, name, n, false);
}

const float *
lk_imatrix_rms (const lk_imatrix *im, const char *name, int64_t n)
{
  return derived (im, name, n, true);
}

int64_t
lk_imatrix_width (const lk_tensor *t)
{
  return t->ne[0] * (t->n_dims >= 3 && t->ne[2] > 1 ? t->ne[2] : 1);
}

const double *
lk_imatrix_layer_change (const lk_imatrix *im, int *n_layer, double *tokens)
{
  *n_layer = im->n_layer;
  *tokens = im->layer_tokens;
  return im->layer_tokens > 0 ? im->layer_change : NULL;
}

const double *
lk_imatrix_routes (const lk_imatrix *im, int *n_layer, int *n_expert)
{
  *n_layer = im->n_layer;
  *n_expert = im->n_expert;
  return im->routes;
}
