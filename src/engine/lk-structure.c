/* SPDX-License-Identifier: MIT */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lk-export.h"
#include "lk-quant.h"
#include "lk-quantize.h"
#include "lk-structure.h"

/* Plans -------------------------------------------------------------------- */

static int *
iota (int n)
{
  int *v = malloc ((size_t) (n > 0 ? n : 1) * sizeof *v);

  if (v != NULL)
    for (int i = 0; i < n; i++)
      v[i] = i;
  return v;
}

lk_status
lk_structure_plan_init (lk_structure_plan *p, const lk_model *m, lk_error *err)
{
  const int n = lk_model_hparams (m)->n_layer;

  p->n_layer = n;
  p->layers = calloc ((size_t) n, sizeof *p->layers);
  if (p->layers == NULL)
    return lk_error_set (err, LK_ERR_NOMEM, "out of memory");
  for (int il = 0; il < n; il++)
    {
      const lk_layer *L = lk_model_layer (m, il);
      lk_layer_plan *lp = &p->layers[il];
      lp->n_head = L->n_head;
      lp->n_head_kv = L->n_head_kv;
      lp->n_ff = L->n_ff;
      lp->n_expert = L->n_expert;
      lp->heads = iota (L->n_head);
      lp->kv_heads = iota (L->n_head_kv);
      lp->ff = iota (L->n_ff);
      lp->experts = iota (L->n_expert);
      lp->expert_ff = malloc ((size_t) (L->n_expert > 0 ? L->n_expert * L->n_ff : 1) * sizeof *lp->expert_ff);
      for (int e = 0; lp->expert_ff != NULL && e < L->n_expert; e++)
        for (int c = 0; c < L->n_ff; c++)
          lp->expert_ff[e * L->n_ff + c] = c;
      if (lp->heads == NULL || lp->kv_heads == NULL || lp->ff == NULL || lp->experts == NULL
          || lp->expert_ff == NULL)
        {
          lk_structure_plan_clear (p);
          return lk_error_set (err, LK_ERR_NOMEM, "out of memory");
        }
    }
  return LK_OK;
}

void
lk_structure_plan_clear (lk_structure_plan *p)
{
  for (int il = 0; p->layers != NULL && il < p->n_layer; il++)
    {
      free (p->layers[il].heads);
      free (p->layers[il].kv_heads);
      free (p->layers[il].ff);
      free (p->layers[il].experts);
      free (p->layers[il].expert_ff);
    }
  free (p->layers);
  memset (p, 0, sizeof *p);
}

/* Norms -------------------------------------------------------------------- */

/* Squared norms of the columns (cols != NULL) and rows (rows != NULL) of
 * rows [first, first + nr) of t. */
static lk_status
sq_norms_of (const lk_tensor *t, int64_t first, int64_t nr, double *cols, double *rows, lk_error *err)
{
  const int64_t n = t->ne[0];
  float *f = malloc ((size_t) n * sizeof *f);
  void *tmp = malloc (lk_row_size (lk_type_unpacked (t->type), n) + 64);

  if (f == NULL || tmp == NULL)
    {
      free (f);
      free (tmp);
      return lk_error_set (err, LK_ERR_NOMEM, "out of memory");
    }
  if (cols != NULL)
    memset (cols, 0, (size_t) n * sizeof *cols);
  for (int64_t r = 0; r < nr; r++)
    {
      lk_type type;
      const void *row = lk_tensor_row (t, first + r, tmp, &type);
      double s = 0.0;
      lk_dequantize_row (type, row, f, n);
      for (int64_t c = 0; c < n; c++)
        {
          const double v = (double) f[c] * f[c];
          s += v;
          if (cols != NULL)
            cols[c] += v;
        }
      if (rows != NULL)
        rows[r] = s;
    }
  free (f);
  free (tmp);
  return LK_OK;
}

static lk_status
sq_norms (const lk_tensor *t, double *cols, double *rows, lk_error *err)
{
  return sq_norms_of (t, 0, lk_tensor_nelements (t) / t->ne[0], cols, rows, err);
}

lk_status
lk_structure_head_scores (const lk_model *m, int il, const lk_imatrix *im, double *out, lk_error *err)
{
  const lk_layer *L = lk_model_layer (m, il);
  const int hd = lk_model_hparams (m)->head_dim;
  const int64_t n = L->wo->ne[0];
  const float *ms = im != NULL ? lk_imatrix_mean_square (im, L->wo->name, n) : NULL;
  double *cols = malloc ((size_t) n * sizeof *cols);
  lk_status s;

  if (cols == NULL)
    return lk_error_set (err, LK_ERR_NOMEM, "out of memory");
  if ((s = sq_norms (L->wo, cols, NULL, err)) == LK_OK)
    for (int h = 0; h < L->n_head; h++)
      {
        out[h] = 0.0;
        for (int c = h * hd; c < (h + 1) * hd && c < n; c++)
          out[h] += cols[c] * (ms != NULL ? ms[c] : 1.0);
      }
  free (cols);
  return s;
}

/* Squared norms of the columns (cols) or rows (rows) of expert e's matrix
 * in a stack [n, per, n_expert]. */
static lk_status
expert_sq_norms (const lk_tensor *t, int e, double *cols, double *rows, lk_error *err)
{
  return sq_norms_of (t, (int64_t) e * t->ne[1], t->ne[1], cols, rows, err);
}

static lk_status
expert_ffn_scores (const lk_layer *L, const lk_imatrix *im, double *out, lk_error *err)
{
  const int ff = L->n_ff;
  const float *ms = im != NULL ? lk_imatrix_mean_square (im, L->ffn_down_exps->name, (int64_t) ff * L->n_expert)
                               : NULL;
  double *cols = malloc ((size_t) ff * sizeof *cols), *gate = malloc ((size_t) ff * sizeof *gate);
  double *up = malloc ((size_t) ff * sizeof *up);
  lk_status s = cols && gate && up ? LK_OK : lk_error_set (err, LK_ERR_NOMEM, "out of memory");

  for (int e = 0; e < L->n_expert && s == LK_OK; e++)
    {
      if ((s = expert_sq_norms (L->ffn_down_exps, e, cols, NULL, err)) == LK_OK && ms == NULL
          && (s = expert_sq_norms (L->ffn_gate_exps, e, NULL, gate, err)) == LK_OK)
        s = expert_sq_norms (L->ffn_up_exps, e, NULL, up, err);
      for (int c = 0; s == LK_OK && c < ff; c++)
        out[e * ff + c] = cols[c] * (ms != NULL ? ms[e * ff + c] : sqrt (gate[c] * up[c]));
    }
  free (cols);
  free (gate);
  free (up);
  return s;
}

lk_status
lk_structure_ffn_scores (const lk_model *m, int il, const lk_imatrix *im, double *out, lk_error *err)
{
  const lk_layer *L = lk_model_layer (m, il);
  const int ff = L->n_ff;
  const float *ms;

  if (L->n_expert > 0)
    return expert_ffn_scores (L, im, out, err);
  ms = im != NULL ? lk_imatrix_mean_square (im, L->ffn_down->name, ff) : NULL;
  double *cols = malloc ((size_t) ff * sizeof *cols);
  /* phi3 holds gate then up in ffn_up's 2 ff rows. */
  double *gate = malloc ((size_t) (2 * ff) * sizeof *gate), *up = NULL;
  lk_status s;

  if (gate != NULL)
    up = L->ffn_fused ? gate + ff : malloc ((size_t) ff * sizeof *up);

  if (cols == NULL || gate == NULL || up == NULL)
    s = lk_error_set (err, LK_ERR_NOMEM, "out of memory");
  else if ((s = sq_norms (L->ffn_down, cols, NULL, err)) == LK_OK && ms == NULL && L->ffn_fused)
    s = sq_norms (L->ffn_up, NULL, gate, err);
  else if (s == LK_OK && ms == NULL && (s = sq_norms (L->ffn_gate, NULL, gate, err)) == LK_OK)
    s = sq_norms (L->ffn_up, NULL, up, err);
  if (s == LK_OK)
    for (int c = 0; c < ff; c++)
      out[c] = cols[c] * (ms != NULL ? ms[c] : sqrt (gate[c] * up[c]));
  free (cols);
  if (!L->ffn_fused)
    free (up);
  free (gate);
  return s;
}

/* Choosing ----------------------------------------------------------------- */

/* Keeps the `keep` highest-scored of the units idx[0..n), in ascending order. */
static bool
keep_best (int *idx, int n, int keep, const double *scores)
{
  /* Selection by repeated removal of the lowest: n is small (heads, or a few
   * thousand channels once per layer). */
  int alive = n;
  char *gone = calloc ((size_t) n, 1);

  if (gone == NULL)
    return false;
  while (alive > keep)
    {
      int worst = -1;
      for (int i = 0; i < n; i++)
        if (!gone[i] && (worst < 0 || scores[idx[i]] < scores[idx[worst]]))
          worst = i;
      if (worst < 0)
        break;
      gone[worst] = 1;
      alive--;
    }
  for (int i = 0, j = 0; i < n; i++)
    if (!gone[i])
      idx[j++] = idx[i];
  free (gone);
  return true;
}

lk_status
lk_structure_remove_heads (lk_structure_plan *p, const lk_model *m, int il, int count,
                           const double *scores, lk_error *err)
{
  const lk_layer *L = lk_model_layer (m, il);
  lk_layer_plan *lp = &p->layers[il];
  const int g = L->n_head / L->n_head_kv;

  if (lp->n_head != L->n_head)
    return lk_error_set (err, LK_ERR_INVALID, "layer %d: its heads are already pruned", il);
  if (count < 0 || count >= L->n_head)
    return lk_error_set (err, LK_ERR_INVALID, "layer %d: cannot remove %d of its %d heads", il, count,
                         L->n_head);
  if (g == 1)
    {
      if (!keep_best (lp->heads, L->n_head, L->n_head - count, scores))
        return lk_error_set (err, LK_ERR_NOMEM, "out of memory");
      lp->n_head = lp->n_head_kv = L->n_head - count;
      memcpy (lp->kv_heads, lp->heads, (size_t) lp->n_head * sizeof *lp->heads);
      return LK_OK;
    }
  if (count % L->n_head_kv != 0 || count / L->n_head_kv >= g)
    return lk_error_set (err, LK_ERR_INVALID,
                         "layer %d: %d heads in %d groups of %d: remove a multiple of %d, fewer than %d",
                         il, L->n_head, L->n_head_kv, g, L->n_head_kv, L->n_head);
  {
    const int per = count / L->n_head_kv, kept = g - per;
    for (int k = 0; k < L->n_head_kv; k++)
      {
        int group[256];
        if (g > 256)
          return lk_error_set (err, LK_ERR_UNSUPPORTED, "layer %d: groups of %d heads", il, g);
        for (int i = 0; i < g; i++)
          group[i] = k * g + i;
        if (!keep_best (group, g, kept, scores))
          return lk_error_set (err, LK_ERR_NOMEM, "out of memory");
        memcpy (lp->heads + k * kept, group, (size_t) kept * sizeof *group);
      }
    lp->n_head = kept * L->n_head_kv;
  }
  return LK_OK;
}

lk_status
lk_structure_remove_ffn (lk_structure_plan *p, const lk_model *m, int il, int count,
                         const double *scores, lk_error *err)
{
  const lk_layer *L = lk_model_layer (m, il);
  lk_layer_plan *lp = &p->layers[il];

  if (lp->n_ff != L->n_ff)
    return lk_error_set (err, LK_ERR_INVALID, "layer %d: its FFN is already pruned", il);
  if (count < 0 || count >= L->n_ff)
    return lk_error_set (err, LK_ERR_INVALID, "layer %d: cannot remove %d of its %d FFN channels", il,
                         count, L->n_ff);
  if (!keep_best (lp->ff, L->n_ff, L->n_ff - count, scores))
    return lk_error_set (err, LK_ERR_NOMEM, "out of memory");
  for (int e = 0; e < L->n_expert; e++)
    if (!keep_best (lp->expert_ff + e * L->n_ff, L->n_ff, L->n_ff - count, scores + e * L->n_ff))
      return lk_error_set (err, LK_ERR_NOMEM, "out of memory");
  lp->n_ff = L->n_ff - count;
  return LK_OK;
}

lk_status
lk_structure_remove_experts (lk_structure_plan *p, const lk_model *m, int il, int count,
                             const double *scores, lk_error *err)
{
  const lk_layer *L = lk_model_layer (m, il);
  lk_layer_plan *lp = &p->layers[il];

  if (L->n_expert == 0)
    return lk_error_set (err, LK_ERR_INVALID, "layer %d has no experts", il);
  if (lp->n_expert != L->n_expert)
    return lk_error_set (err, LK_ERR_INVALID, "layer %d: its experts are already pruned", il);
  if (count < 0 || count >= L->n_expert)
    return lk_error_set (err, LK_ERR_INVALID, "layer %d: cannot remove %d of its %d experts", il, count,
                         L->n_expert);
  if (!keep_best (lp->experts, L->n_expert, L->n_expert - count, scores))
    return lk_error_set (err, LK_ERR_NOMEM, "out of memory");
  lp->n_expert = L->n_expert - count;
  return LK_OK;
}

/* Writing ------------------------------------------------------------------ */

typedef enum
{
  KEEP_ALL,
  KEEP_ROWS,
  KEEP_COLS,
  KEEP_SLICES, /* of a stack of expert matrices */
  KEEP_EXPERT_ROWS, /* kept slices, each with its own kept rows (gate, up) */
  KEEP_EXPERT_COLS, /* kept slices, each with its own kept columns (down) */
} cut;

typedef struct
{
  const lk_tensor *src;
  cut how;
  int *index; /* kept rows or columns */
  int64_t n_index;
  const int *expert_ff; /* KEEP_EXPERT_*: per source expert, n_keep of stride kept units */
  int64_t n_keep, stride;
  lk_type to;
  char name[128];
} piece;

/* Expands kept units of `size` elements each into element indices. */
static int *
expand (const int *units, int n_units, int size)
{
  int *v = malloc ((size_t) (n_units * size > 0 ? n_units * size : 1) * sizeof *v);

  if (v != NULL)
    for (int u = 0; u < n_units; u++)
      for (int i = 0; i < size; i++)
        v[u * size + i] = units[u] * size + i;
  return v;
}

/* Kept experts, each with its own kept channels: rows of gate and up, or
 * columns of down (re-quantized to pc->to). */
static lk_status
fill_expert_ff (const piece *pc, uint8_t *out, lk_error *err)
{
  const lk_tensor *t = pc->src;
  const int64_t n = t->ne[0], per = t->ne[1];
  const size_t row = lk_row_size (lk_type_unpacked (t->type), n);
  float *f = malloc ((size_t) n * sizeof *f), *g = malloc ((size_t) pc->n_keep * sizeof *g);
  void *tmp = malloc (row + 64);

  if (f == NULL || g == NULL || tmp == NULL)
    {
      free (f);
      free (g);
      free (tmp);
      return lk_error_set (err, LK_ERR_NOMEM, "out of memory");
    }
  for (int64_t s = 0; s < pc->n_index; s++)
    {
      const int64_t e = pc->index[s];
      const int *keep = pc->expert_ff + e * pc->stride;
      if (pc->how == KEEP_EXPERT_ROWS)
        for (int64_t r = 0; r < pc->n_keep; r++)
          {
            lk_tensor_row_gguf (t, e * per + keep[r], out);
            out += row;
          }
      else
        for (int64_t r = 0; r < per; r++)
          {
            lk_type type;
            const void *in = lk_tensor_row (t, e * per + r, tmp, &type);
            lk_dequantize_row (type, in, f, n);
            for (int64_t c = 0; c < pc->n_keep; c++)
              g[c] = f[keep[c]];
            lk_quantize_row_ref (pc->to, g, out, pc->n_keep);
            out += lk_row_size (pc->to, pc->n_keep);
          }
    }
  free (f);
  free (g);
  free (tmp);
  return LK_OK;
}

static lk_status
fill_piece (void *user, void *dst, size_t nbytes, lk_error *err)
{
  const piece *pc = user;
  const lk_tensor *t = pc->src;
  const int64_t n = t->ne[0], nr = lk_tensor_nelements (t) / n;
  uint8_t *out = dst;

  (void) nbytes;
  if (pc->how == KEEP_EXPERT_ROWS || pc->how == KEEP_EXPERT_COLS)
    return fill_expert_ff (pc, out, err);
  if (pc->how == KEEP_SLICES)
    {
      const size_t row = lk_row_size (lk_type_unpacked (t->type), n);
      const int64_t per = t->ne[1];
      for (int64_t s = 0; s < pc->n_index; s++)
        for (int64_t r = 0; r < per; r++)
          lk_tensor_row_gguf (t, (int64_t) pc->index[s] * per + r, out + (size_t) (s * per + r) * row);
      return LK_OK;
    }
  if (pc->how == KEEP_ALL || pc->how == KEEP_ROWS)
    {
      const size_t row = lk_row_size (lk_type_unpacked (t->type), n);
      const int64_t rows = pc->how == KEEP_ALL ? nr : pc->n_index;
      for (int64_t r = 0; r < rows; r++)
        lk_tensor_row_gguf (t, pc->how == KEEP_ALL ? r : pc->index[r], out + (size_t) r * row);
      return LK_OK;
    }
  {
    float *f = malloc ((size_t) n * sizeof *f), *g = malloc ((size_t) pc->n_index * sizeof *g);
    void *tmp = malloc (lk_row_size (lk_type_unpacked (t->type), n) + 64);
    const size_t row = lk_row_size (pc->to, pc->n_index);
    if (f == NULL || g == NULL || tmp == NULL)
      {
        free (f);
        free (g);
        free (tmp);
        return lk_error_set (err, LK_ERR_NOMEM, "out of memory");
      }
    for (int64_t r = 0; r < nr; r++)
      {
        lk_type type;
        const void *in = lk_tensor_row (t, r, tmp, &type);
        lk_dequantize_row (type, in, f, n);
        for (int64_t c = 0; c < pc->n_index; c++)
          g[c] = f[pc->index[c]];
        lk_quantize_row_ref (pc->to, g, out + (size_t) r * row, pc->n_index);
      }
    free (f);
    free (g);
    free (tmp);
  }
  return LK_OK;
}

/* Which units of a layer's tensor survive: heads (head_dim elements each),
 * key/value heads, or FFN channels; NULL when that part is not cut. */
static const int *
kept_units (const lk_layer_plan *lp, const lk_layer *L, const lk_tensor *t, int *n_units, bool *is_ffn)
{
  /* A q/k norm over all heads (olmo2) loses the heads that go; one shared
   * by the heads stays whole. */
  const bool q_norm_full = t == L->attn_q_norm && L->n_head > 1 && t->ne[0] == L->wq->ne[1];
  const bool k_norm_full = t == L->attn_k_norm && L->n_head_kv > 1 && t->ne[0] == L->wk->ne[1];

  *is_ffn = false;
  if (t == L->wq || t == L->bq || t == L->wo || q_norm_full)
    {
      *n_units = lp->n_head;
      return lp->n_head != L->n_head ? lp->heads : NULL;
    }
  if (t == L->wk || t == L->wv || t == L->bk || t == L->bv || k_norm_full)
    {
      *n_units = lp->n_head_kv;
      return lp->n_head != L->n_head ? lp->kv_heads : NULL;
    }
  *is_ffn = true;
  *n_units = lp->n_ff;
  if (t == L->ffn_gate || t == L->ffn_up || t == L->ffn_down)
    return lp->n_ff != L->n_ff ? lp->ff : NULL;
  return NULL;
}

/* phi3's q | k | v rows: the kept heads' q rows, then the kept kv heads'
 * k rows and v rows. */
static lk_status
plan_fused_qkv (const lk_layer_plan *lp, const lk_layer *L, int hd, piece *pc, lk_error *err)
{
  const int64_t nq = (int64_t) L->n_head * hd, nkv = (int64_t) L->n_head_kv * hd;
  const int64_t kq = (int64_t) lp->n_head * hd, kkv = (int64_t) lp->n_head_kv * hd;
  int *q = expand (lp->heads, lp->n_head, hd), *kv = expand (lp->kv_heads, lp->n_head_kv, hd);

  pc->index = malloc ((size_t) (kq + 2 * kkv) * sizeof *pc->index);
  if (q == NULL || kv == NULL || pc->index == NULL)
    {
      free (q);
      free (kv);
      return lk_error_set (err, LK_ERR_NOMEM, "out of memory");
    }
  memcpy (pc->index, q, (size_t) kq * sizeof *q);
  for (int64_t i = 0; i < kkv; i++)
    {
      pc->index[kq + i] = (int) (nq + kv[i]);
      pc->index[kq + kkv + i] = (int) (nq + nkv + kv[i]);
    }
  pc->n_index = kq + 2 * kkv;
  pc->how = KEEP_ROWS;
  free (q);
  free (kv);
  return LK_OK;
}

/* phi3's gate | up rows: the kept channels of each half. */
static lk_status
plan_fused_up (const lk_layer_plan *lp, const lk_layer *L, piece *pc, lk_error *err)
{
  pc->index = malloc ((size_t) (2 * lp->n_ff) * sizeof *pc->index);
  if (pc->index == NULL)
    return lk_error_set (err, LK_ERR_NOMEM, "out of memory");
  for (int i = 0; i < lp->n_ff; i++)
    {
      pc->index[i] = lp->ff[i];
      pc->index[lp->n_ff + i] = L->n_ff + lp->ff[i];
    }
  pc->n_index = 2 * (int64_t) lp->n_ff;
  pc->how = KEEP_ROWS;
  return LK_OK;
}

/* How tensor t of a layer is cut under the plan: the matrices that produce
 * what goes lose rows, those that read it (attention output, down) and the
 * 1-D biases lose columns. */
static lk_status
plan_piece (const lk_model *m, const lk_layer_plan *lp, const lk_layer *L, const lk_tensor *t,
            piece *pc, lk_error *err)
{
  const int hd = lk_model_hparams (m)->head_dim;
  const bool experts = t == L->ffn_gate_exps || t == L->ffn_up_exps || t == L->ffn_down_exps;
  const bool known = t == L->wq || t == L->wk || t == L->wv || t == L->wo || t == L->bq || t == L->bk
                     || t == L->bv || t == L->ffn_gate || t == L->ffn_up || t == L->ffn_down
                     || t == L->attn_norm || t == L->ffn_norm || t == L->ffn_gate_inp || experts
                     || t == L->ffn_gate_inp_shexp || t == L->ffn_gate_shexp || t == L->ffn_up_shexp
                     || t == L->ffn_down_shexp || t == L->attn_q_norm || t == L->attn_k_norm
                     || t == L->post_attn_norm || t == L->post_ffn_norm || t == L->attn_norm_b
                     || t == L->ffn_norm_b || t == L->wqkv;
  bool is_ffn;
  int n_units;
  const int *units = kept_units (lp, L, t, &n_units, &is_ffn);

  pc->how = KEEP_ALL;
  if (experts && lp->n_ff != L->n_ff)
    {
      if ((pc->index = expand (lp->experts, lp->n_expert, 1)) == NULL)
        return lk_error_set (err, LK_ERR_NOMEM, "out of memory");
      pc->n_index = lp->n_expert;
      pc->expert_ff = lp->expert_ff;
      pc->stride = L->n_ff;
      pc->n_keep = lp->n_ff;
      pc->how = t == L->ffn_down_exps ? KEEP_EXPERT_COLS : KEEP_EXPERT_ROWS;
      return LK_OK;
    }
  if ((experts || t == L->ffn_gate_inp) && lp->n_expert != L->n_expert)
    {
      if ((pc->index = expand (lp->experts, lp->n_expert, 1)) == NULL)
        return lk_error_set (err, LK_ERR_NOMEM, "out of memory");
      pc->n_index = lp->n_expert;
      pc->how = experts ? KEEP_SLICES : KEEP_ROWS;
      return LK_OK;
    }
  if (t == L->wqkv && lp->n_head != L->n_head)
    return plan_fused_qkv (lp, L, hd, pc, err);
  if (L->ffn_fused && t == L->ffn_up && lp->n_ff != L->n_ff)
    return plan_fused_up (lp, L, pc, err);
  if (!known && (lp->n_head != L->n_head || lp->n_ff != L->n_ff))
    return lk_error_set (err, LK_ERR_UNSUPPORTED, "tensor %s: Lathe does not know how to prune it",
                         t->name);
  if (units == NULL)
    return LK_OK;
  if ((pc->index = expand (units, n_units, is_ffn ? 1 : hd)) == NULL)
    return lk_error_set (err, LK_ERR_NOMEM, "out of memory");
  pc->n_index = (int64_t) n_units * (is_ffn ? 1 : hd);
  pc->how = t->n_dims == 1 || t == L->wo || t == L->ffn_down ? KEEP_COLS : KEEP_ROWS;
  return LK_OK;
}

static void
piece_shape (const piece *pc, uint32_t *n_dims, int64_t ne[4])
{
  const lk_tensor *t = pc->src;

  *n_dims = (uint32_t) t->n_dims;
  memcpy (ne, t->ne, 4 * sizeof *ne);
  if (pc->how == KEEP_ROWS)
    ne[1] = pc->n_index;
  else if (pc->how == KEEP_COLS)
    ne[0] = pc->n_index;
  else if (pc->how == KEEP_SLICES)
    ne[2] = pc->n_index;
  else if (pc->how == KEEP_EXPERT_ROWS || pc->how == KEEP_EXPERT_COLS)
    {
      ne[2] = pc->n_index;
      ne[pc->how == KEEP_EXPERT_ROWS ? 1 : 0] = pc->n_keep;
    }
}

/* Some architectures know a layer's kind by its position (gemma2/3: which
 * layers slide, smollm3: which have no RoPE), and the file does not say it:
 * every kept layer must keep its kind at its new position. */
static lk_status
check_positions (const lk_model *src, const int *new_index, lk_error *err)
{
  const lk_hparams *hp = lk_model_hparams (src);

  for (int il = 0; il < hp->n_layer; il++)
    {
      const lk_layer *L = lk_model_layer (src, il);
      const int to = new_index[il];
      if (to < 0 || to == il)
        continue;
      if (lk_layer_slides_at (hp->arch, to) != L->swa || lk_layer_ropes_at (hp->arch, to) != L->use_rope)
        return lk_error_set (err, LK_ERR_INVALID,
                             "%s: block %d would become block %d, where %s gives a block %s; drop "
                             "layers so that every later block keeps its kind (%s)",
                             lk_model_path (src), il, to, hp->arch_name,
                             L->swa != lk_layer_slides_at (hp->arch, to)
                               ? (L->swa ? "global attention, not a sliding window" : "a sliding window, not global attention")
                               : (L->use_rope ? "no RoPE" : "RoPE"),
                             lk_layer_pattern_hint (hp->arch));
    }
  return LK_OK;
}

lk_status
lk_structure_write (const lk_model *src, const lk_structure_plan *p, const char *path,
                    void (*add_metadata) (void *user, lk_gguf_writer *w), void *user, lk_error *err)
{
  const lk_hparams *hp = lk_model_hparams (src);
  const size_t n = lk_model_n_tensors (src);
  lk_hparams out_hp = *hp;
  lk_gguf_writer *w = lk_gguf_writer_new ();
  piece *pieces = calloc (n ? n : 1, sizeof *pieces);
  int *new_index = malloc ((size_t) hp->n_layer * sizeof *new_index);
  int *nh = malloc ((size_t) hp->n_layer * sizeof *nh), *nkv = malloc ((size_t) hp->n_layer * sizeof *nkv);
  int *nff = malloc ((size_t) hp->n_layer * sizeof *nff);
  lk_status s = LK_OK;
  int kept = 0;

  if (w == NULL || pieces == NULL || new_index == NULL || nh == NULL || nkv == NULL || nff == NULL)
    {
      s = lk_error_set (err, LK_ERR_NOMEM, "out of memory");
      goto out;
    }
  for (int il = 0; il < hp->n_layer; il++)
    {
      const lk_layer_plan *lp = &p->layers[il];
      new_index[il] = lp->drop ? -1 : kept;
      if (!lp->drop)
        {
          nh[kept] = lp->n_head;
          nkv[kept] = lp->n_head_kv;
          nff[kept] = lp->n_ff;
          kept++;
        }
    }
  /* Qwen's MoE files give the experts one FFN size for all layers. */
  if ((hp->arch == LK_ARCH_QWEN2MOE || hp->arch == LK_ARCH_QWEN3MOE) && kept > 0)
    for (int il = 1; il < kept; il++)
      if (nff[il] != nff[0])
        {
          s = lk_error_set (err, LK_ERR_UNSUPPORTED,
                            "%s keeps one expert FFN size for all layers "
                            "(expert_feed_forward_length): cut as many channels from every layer",
                            hp->arch_name);
          goto out;
        }
  if (kept == 0)
    {
      s = lk_error_set (err, LK_ERR_INVALID, "every layer would go: keep at least one");
      goto out;
    }
  if ((s = check_positions (src, new_index, err)) != LK_OK)
    goto out;
  out_hp.n_layer = kept;
  if (hp->n_expert > 0)
    {
      int ne = -1;
      for (int il = 0; il < hp->n_layer; il++)
        if (!p->layers[il].drop)
          {
            if (ne >= 0 && p->layers[il].n_expert != ne)
              {
                s = lk_error_set (err, LK_ERR_INVALID,
                                  "layers keep %d and %d experts: GGUF has one expert count for all",
                                  ne, p->layers[il].n_expert);
                goto out;
              }
            ne = p->layers[il].n_expert;
          }
      out_hp.n_expert = ne;
      out_hp.n_expert_used = hp->n_expert_used < ne ? hp->n_expert_used : ne;
    }
  if (lk_model_gguf (src) != NULL)
    lk_gguf_writer_copy_kv (w, lk_model_gguf (src));
  lk_forget_provenance (w);
  lk_write_hparams (w, &out_hp, nh, nkv, nff);
  if (lk_model_vocab (src) != NULL)
    lk_vocab_write_gguf (lk_model_vocab (src), w);
  if (add_metadata != NULL)
    add_metadata (user, w);
  for (size_t i = 0; i < n && s == LK_OK; i++)
    {
      const lk_tensor *t = lk_model_tensor_at (src, i);
      piece *pc = &pieces[i];
      int layer = -1, used = 0;
      uint32_t n_dims;
      int64_t ne[4];

      pc->src = t;
      pc->to = lk_type_unpacked (t->type);
      snprintf (pc->name, sizeof pc->name, "%s", t->name);
      if (sscanf (t->name, "blk.%d.%n", &layer, &used) == 1 && used > 0 && layer >= 0 && layer < hp->n_layer)
        {
          if (new_index[layer] < 0)
            continue;
          snprintf (pc->name, sizeof pc->name, "blk.%d.%s", new_index[layer], t->name + used);
          s = plan_piece (src, &p->layers[layer], lk_model_layer (src, layer), t, pc, err);
          if (s != LK_OK)
            break;
        }
      piece_shape (pc, &n_dims, ne);
      if ((pc->how == KEEP_COLS || pc->how == KEEP_EXPERT_COLS) && lk_row_size (pc->to, ne[0]) == 0)
        pc->to = lk_type_fallback (pc->to, ne[0]);
      s = lk_gguf_writer_add_tensor_fill (w, pc->name, pc->to, n_dims, ne, fill_piece, pc, err);
    }
  if (s == LK_OK)
    s = lk_gguf_writer_write (w, path, err);
out:
  for (size_t i = 0; pieces != NULL && i < n; i++)
    free (pieces[i].index);
  free (pieces);
  free (new_index);
  free (nh);
  free (nkv);
  free (nff);
  lk_gguf_writer_free (w);
  return s;
}
