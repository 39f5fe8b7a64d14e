/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lk-export.h"
#include "lk-pack.h"
#include "lk-pool.h"
#include "lk-quant.h"
#include "lk-quantize.h"
#include "lk-quant-iq.h"

void
lk_quantize_params_init (lk_quantize_params *p)
{
  memset (p, 0, sizeof *p);
  p->type = LK_TYPE_Q8_0;
}

static const struct
{
  const char *name;
  lk_type type;
  lk_mix mix;
} presets[] = {
  { "Q2_K", LK_TYPE_Q2_K, LK_MIX_Q2_K },
  { "Q3_K_M", LK_TYPE_Q3_K, LK_MIX_Q3_K_M },
  { "Q3_K", LK_TYPE_Q3_K, LK_MIX_Q3_K_M },
  { "Q4_K_M", LK_TYPE_Q4_K, LK_MIX_Q4_K_M },
  { "Q4_K", LK_TYPE_Q4_K, LK_MIX_Q4_K_M },
  { "Q5_K_M", LK_TYPE_Q5_K, LK_MIX_Q5_K_M },
  { "Q5_K", LK_TYPE_Q5_K, LK_MIX_Q5_K_M },
};

bool
lk_quantize_needs_importance (lk_type type)
{
  return type == LK_TYPE_IQ2_XXS || type == LK_TYPE_IQ2_XS || type == LK_TYPE_IQ2_S || type == LK_TYPE_IQ3_XXS
         || type == LK_TYPE_IQ3_S || type == LK_TYPE_IQ1_S || type == LK_TYPE_IQ1_M;
}

bool
lk_quantize_can_write (lk_type type)
{
  switch (type)
    {
    case LK_TYPE_F32: case LK_TYPE_F16: case LK_TYPE_BF16:
    case LK_TYPE_Q4_0: case LK_TYPE_Q4_1: case LK_TYPE_Q5_0: case LK_TYPE_Q5_1: case LK_TYPE_Q8_0:
    case LK_TYPE_Q2_K: case LK_TYPE_Q3_K: case LK_TYPE_Q4_K: case LK_TYPE_Q5_K: case LK_TYPE_Q6_K:
    case LK_TYPE_IQ4_NL: case LK_TYPE_IQ4_XS: case LK_TYPE_TQ1_0: case LK_TYPE_TQ2_0: case LK_TYPE_MXFP4:
    case LK_TYPE_IQ2_XXS: case LK_TYPE_IQ2_XS: case LK_TYPE_IQ2_S: case LK_TYPE_IQ3_XXS: case LK_TYPE_IQ3_S:
    case LK_TYPE_IQ1_S: case LK_TYPE_IQ1_M:
      return lk_get_quantize_ref (type) != NULL;
    default:
      return false;
    }
}

const char *
lk_quantize_writable_list (void)
{
  return "F32, F16, BF16, Q8_0, Q6_K, Q5_1, Q5_K, Q5_0, Q4_1, Q4_K, Q4_0, IQ4_XS, IQ4_NL, MXFP4, Q3_K, "
         "Q2_K, TQ2_0, TQ1_0, and with an importance matrix IQ3_S, IQ3_XXS, IQ2_S, IQ2_XS, IQ2_XXS, IQ1_M, IQ1_S";
}

bool
lk_quantize_parse_type (const char *name, lk_type *type, lk_mix *mix)
{
  lk_type t;

  for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++)
    if (strcasecmp (name, presets[i].name) == 0)
      {
        *type = presets[i].type;
        *mix = presets[i].mix;
        return true;
      }
  t = lk_type_from_name (name);
  if (t == LK_TYPE_COUNT || !lk_quantize_can_write (t))
    return false;
  *type = t;
  *mix = LK_MIX_NONE;
  return true;
}

const char *
lk_mix_name (lk_mix mix)
{
  switch (mix)
    {
    case LK_MIX_PURE: return "pure";
    case LK_MIX_Q2_K: return "Q2_K";
    case LK_MIX_Q3_K_M: return "Q3_K_M";
    case LK_MIX_Q4_K_M: return "Q4_K_M";
    case LK_MIX_Q5_K_M: return "Q5_K_M";
    default: return "none";
    }
}

lk_type
lk_type_fallback (lk_type type, int64_t n_cols)
{
  lk_type t = type;

  if (lk_row_size (t, n_cols) != 0)
    return t;
  /* The 32-element type nearest in size and quality. */
  switch (type)
    {
    case LK_TYPE_Q2_K:
    case LK_TYPE_Q3_K: t = LK_TYPE_Q4_0; break;
    case LK_TYPE_Q4_K: t = LK_TYPE_Q5_0; break;
    case LK_TYPE_Q5_K: t = LK_TYPE_Q5_1; break;
    case LK_TYPE_Q6_K: t = LK_TYPE_Q8_0; break;
    case LK_TYPE_IQ4_XS:
    case LK_TYPE_IQ2_XXS:
    case LK_TYPE_IQ2_XS:
    case LK_TYPE_IQ2_S:
    case LK_TYPE_IQ3_XXS:
    case LK_TYPE_IQ3_S:
    case LK_TYPE_IQ1_S:
    case LK_TYPE_IQ1_M: t = LK_TYPE_IQ4_NL; break; /* as llama.cpp falls back */
    case LK_TYPE_TQ1_0:
    case LK_TYPE_TQ2_0: t = LK_TYPE_Q4_0; break;
    default: t = LK_TYPE_F16; break;
    }
  if (lk_row_size (t, n_cols) == 0)
    t = LK_TYPE_F16;
  return t;
}

/* llama.cpp's rule: more bits in the first and last eighth of the layers and
 * every third layer between. */
static bool
use_more_bits (int layer, int n_layer)
{
  return layer < n_layer / 8 || layer >= 7 * n_layer / 8 || (layer - n_layer / 8) % 3 == 2;
}

static int
layer_of (const char *name)
{
  int layer;

  return sscanf (name, "blk.%d.", &layer) == 1 ? layer : -1;
}

static lk_type
preset_type (const lk_model *m, const lk_tensor *t, const lk_quantize_params *p)
{
  const char *name = t->name;
  const int n_layer = lk_model_hparams (m)->n_layer;
  const int layer = layer_of (name);
  const lk_layer *l0 = lk_model_layer (m, 0);
  const int gqa = l0->n_head / l0->n_head_kv;
  const bool is_output = strcmp (name, "output.weight") == 0
                         || (lk_model_output_tied (m) && strcmp (name, "token_embd.weight") == 0);

  if (p->mix == LK_MIX_PURE)
    return p->type;
  /* The embedding is looked up, not multiplied: no importance matrix has
   * it, and the grids need one; it gets the K-quant of as many bits. */
  if (strcmp (name, "token_embd.weight") == 0 && !is_output && lk_quantize_needs_importance (p->type))
    return p->type == LK_TYPE_IQ3_XXS || p->type == LK_TYPE_IQ3_S ? LK_TYPE_Q3_K : LK_TYPE_Q2_K;
  if (is_output)
    {
      /* The output head is where quantization error hurts most. */
      if (p->type == LK_TYPE_F32 || p->type == LK_TYPE_F16 || p->type == LK_TYPE_BF16
          || p->type == LK_TYPE_Q8_0)
        return p->type;
      return lk_row_size (LK_TYPE_Q6_K, t->ne[0]) ? LK_TYPE_Q6_K : LK_TYPE_Q8_0;
    }
  if (strstr (name, "attn_v.weight") != NULL)
    switch (p->mix)
      {
      case LK_MIX_Q2_K: return gqa >= 4 ? LK_TYPE_Q4_K : LK_TYPE_Q3_K;
      case LK_MIX_Q3_K_M: return layer < 2 ? LK_TYPE_Q5_K : LK_TYPE_Q4_K;
      case LK_MIX_Q4_K_M:
      case LK_MIX_Q5_K_M: return use_more_bits (layer, n_layer) ? LK_TYPE_Q6_K : p->type;
      default: return p->type;
      }
  if (strstr (name, "ffn_down") != NULL)
    switch (p->mix)
      {
      case LK_MIX_Q2_K: return LK_TYPE_Q3_K;
      case LK_MIX_Q3_K_M:
        return layer < n_layer / 16 ? LK_TYPE_Q5_K : LK_TYPE_Q4_K;
      case LK_MIX_Q4_K_M:
      case LK_MIX_Q5_K_M: return use_more_bits (layer, n_layer) ? LK_TYPE_Q6_K : p->type;
      default: return p->type;
      }
  if (strstr (name, "attn_output.weight") != NULL)
    switch (p->mix)
      {
      case LK_MIX_Q2_K: return LK_TYPE_Q3_K;
      case LK_MIX_Q3_K_M: return LK_TYPE_Q4_K;
      default: return p->type;
      }
  return p->type;
}

lk_type
lk_quantize_tensor_type (const lk_model *m, const lk_tensor *t, const lk_quantize_params *p,
                         bool *fell_back, lk_type *asked)
{
  lk_type want;

  *fell_back = false;
  /* Vectors (norms, biases) stay as they are: they are tiny and sensitive. */
  if (t->n_dims < 2)
    {
      *asked = lk_type_unpacked (t->type);
      return *asked;
    }
  want = preset_type (m, t, p);
  if (p->override != NULL)
    want = p->override (p->user, t->name, layer_of (t->name), want);
  *asked = want;
  if (lk_row_size (want, t->ne[0]) == 0)
    {
      *fell_back = true;
      return lk_type_fallback (want, t->ne[0]);
    }
  return want;
}

/* Conversion -------------------------------------------------------------- */

typedef struct
{
  const lk_tensor *src;
  lk_type to;
  const float *imp;
  const float *f32; /* the rows already in F32 (pruned), or NULL */
  atomic_int *cancel;
  _Atomic int64_t next_row;
  uint8_t *dst;
  atomic_int failed; /* 1: out of memory, 2: no quantizer for the type */
} convert_job;

#define ROWS_PER_GRAB 8

/* The 32-element formats: llama.cpp's reference quantizer (byte-exact),
 * or with importance the weighted search. */
static bool
quantize_row_32 (lk_type to, const float *x, void *out, int64_t n, const float *imp)
{
  if (imp != NULL)
    switch (to)
      {
      case LK_TYPE_Q4_0: lk_quantize_row_q4_0_imp (x, out, n, imp); return true;
      case LK_TYPE_Q4_1: lk_quantize_row_q4_1_imp (x, out, n, imp); return true;
      case LK_TYPE_Q5_0: lk_quantize_row_q5_0_imp (x, out, n, imp); return true;
      case LK_TYPE_Q5_1: lk_quantize_row_q5_1_imp (x, out, n, imp); return true;
      case LK_TYPE_Q8_0: lk_quantize_row_q8_0_imp (x, out, n, imp); return true;
      default: break;
      }
  return lk_quantize_row_ref (to, x, out, n);
}

static void
quantize_rows (convert_job *job, float *buf, int64_t r0, int64_t r1)
{
  const lk_tensor *t = job->src;
  const int64_t n = t->ne[0];
  const size_t out_row = lk_row_size (job->to, n);
  void *tmp = buf + n; /* room for a row copied out of an interleaved group */

  for (int64_t r = r0; r < r1; r++)
    {
      uint8_t *out = job->dst + (size_t) r * out_row;
      /* A stack of experts: each expert's rows take its own statistics. */
      const float *imp = job->imp != NULL && t->n_dims >= 3 && t->ne[2] > 1
                           ? job->imp + (size_t) (r / t->ne[1]) * (size_t) n
                           : job->imp;
      lk_type type;
      if (job->f32 != NULL)
        memcpy (buf, job->f32 + (size_t) r * (size_t) n, (size_t) n * sizeof *buf);
      else
        {
          const void *in = lk_tensor_row (t, r, tmp, &type);
          lk_dequantize_row (type, in, buf, n);
        }
      switch (job->to)
        {
        case LK_TYPE_Q2_K: lk_quantize_row_q2_K_imp (buf, out, n, imp); break;
        case LK_TYPE_Q3_K: lk_quantize_row_q3_K_imp (buf, out, n, imp); break;
        case LK_TYPE_Q4_K: lk_quantize_row_q4_K_imp (buf, out, n, imp); break;
        case LK_TYPE_Q5_K: lk_quantize_row_q5_K_imp (buf, out, n, imp); break;
        case LK_TYPE_Q6_K: lk_quantize_row_q6_K_imp (buf, out, n, imp); break;
        case LK_TYPE_IQ4_NL: lk_quantize_row_iq4_nl_imp (buf, out, n, imp); break;
        case LK_TYPE_IQ4_XS: lk_quantize_row_iq4_xs_imp (buf, out, n, imp); break;
        case LK_TYPE_IQ2_XXS: lk_quantize_row_iq2_xxs_imp (buf, out, n, imp); break;
        case LK_TYPE_IQ2_XS: lk_quantize_row_iq2_xs_imp (buf, out, n, imp); break;
        case LK_TYPE_IQ2_S: lk_quantize_row_iq2_s_imp (buf, out, n, imp); break;
        case LK_TYPE_IQ3_XXS: lk_quantize_row_iq3_xxs_imp (buf, out, n, imp); break;
        case LK_TYPE_IQ3_S: lk_quantize_row_iq3_s_imp (buf, out, n, imp); break;
        case LK_TYPE_IQ1_S: lk_quantize_row_iq1_s_imp (buf, out, n, imp); break;
        case LK_TYPE_IQ1_M: lk_quantize_row_iq1_m_imp (buf, out, n, imp); break;
        default:
          if (!quantize_row_32 (job->to, buf, out, n, imp))
            atomic_store (&job->failed, 2);
          break;
        }
    }
}

static void
convert_task (void *arg, int ith, int nth)
{
  convert_job *job = arg;
  const int64_t n = job->src->ne[0], rows = lk_tensor_nelements (job->src) / n;
  /* n floats, then one source row (never wider than n floats). */
  float *buf = malloc (2 * (size_t) n * sizeof *buf);

  (void) ith;
  (void) nth;
  if (buf == NULL)
    {
      atomic_store (&job->failed, 1);
      return;
    }
  for (;;)
    {
      const int64_t r0 = atomic_fetch_add (&job->next_row, ROWS_PER_GRAB);
      if (r0 >= rows || (job->cancel != NULL && atomic_load (job->cancel)))
        break;
      quantize_rows (job, buf, r0, r0 + ROWS_PER_GRAB < rows ? r0 + ROWS_PER_GRAB : rows);
    }
  free (buf);
}

typedef struct
{
  const lk_tensor *src;
  lk_type to;
  const float *imp;
  lk_pool *pool;
  const lk_quantize_params *params;
  int index, total;
  bool prune;
  lk_prune_spec spec;
  lk_quantize_entry *entry;
} fill_ctx;

/* The whole matrix in F32, pruned as the spec says. */
static lk_status
pruned_rows (fill_ctx *fc, float **out, lk_error *err)
{
  const lk_tensor *t = fc->src;
  const int64_t n = t->ne[0], rows = lk_tensor_nelements (t) / n;
  float *f = malloc ((size_t) (n * rows) * sizeof *f);
  void *tmp = malloc (lk_row_size (lk_type_unpacked (t->type), n) + 64);
  int64_t zeros;

  if (f == NULL || tmp == NULL)
    {
      free (f);
      free (tmp);
      return lk_error_set (err, LK_ERR_NOMEM, "out of memory pruning '%s'", t->name);
    }
  for (int64_t r = 0; r < rows; r++)
    {
      lk_type type;
      const void *in = lk_tensor_row (t, r, tmp, &type);
      lk_dequantize_row (type, in, f + (size_t) (r * n), n);
    }
  free (tmp);
  if (fc->spec.score == LK_PRUNE_WANDA && t->n_dims >= 3 && t->ne[2] > 1)
    {
      /* A stack of experts: each expert's matrix by its own statistics. */
      zeros = 0;
      for (int64_t e = 0; e < t->ne[2] && zeros >= 0; e++)
        {
          lk_prune_spec one = fc->spec;
          int64_t z;
          one.col_norm = fc->spec.col_norm + (size_t) e * (size_t) n;
          z = lk_prune_matrix (f + (size_t) (e * t->ne[1] * n), n, t->ne[1], &one);
          zeros = z < 0 ? z : zeros + z;
        }
    }
  else
    zeros = lk_prune_matrix (f, n, rows, &fc->spec);
  if (zeros < 0)
    {
      free (f);
      return lk_error_set (err, LK_ERR_INVALID,
                           "tensor '%s' (rows of %lld) cannot be pruned as asked (N:M needs rows "
                           "that are a multiple of M; sparsity must be in 0..1)",
                           t->name, (long long) n);
    }
  if (fc->entry != NULL)
    fc->entry->zeros = zeros;
  *out = f;
  return LK_OK;
}

static lk_status
fill_tensor (void *user, void *dst, size_t nbytes, lk_error *err)
{
  fill_ctx *fc = user;
  convert_job job = { fc->src, fc->to, fc->imp, NULL, fc->params->cancel, 0, dst, 0 };
  float *f32 = NULL;

  (void) nbytes;
  if (fc->params->progress != NULL)
    fc->params->progress (fc->params->user, fc->index, fc->total, fc->src->name);
  if (fc->prune)
    {
      lk_status s = pruned_rows (fc, &f32, err);
      if (s != LK_OK)
        return s;
      job.f32 = f32;
    }
  else if (fc->to == fc->src->type)
    {
      memcpy (dst, fc->src->data, fc->src->nbytes);
      return LK_OK;
    }
  else if (fc->to == lk_type_unpacked (fc->src->type))
    {
      /* The same type in one of Lathe's layouts: back to GGUF's, losslessly. */
      const size_t row = lk_row_size (fc->to, fc->src->ne[0]);
      for (int64_t r = 0; r < lk_tensor_nelements (fc->src) / fc->src->ne[0]; r++)
        lk_tensor_row_gguf (fc->src, r, (uint8_t *) dst + (size_t) r * row);
      return LK_OK;
    }
  atomic_init (&job.next_row, 0);
  lk_pool_run (fc->pool, convert_task, &job);
  free (f32);
  if (fc->params->cancel != NULL && atomic_load (fc->params->cancel))
    return lk_error_set (err, LK_ERR_CANCELLED, "cancelled");
  if (atomic_load (&job.failed) == 2)
    return lk_error_set (err, LK_ERR_UNSUPPORTED, "tensor '%s': rows cannot be written as %s",
                         fc->src->name, lk_type_name (fc->to));
  if (atomic_load (&job.failed))
    return lk_error_set (err, LK_ERR_NOMEM, "out of memory converting '%s'", fc->src->name);
  return LK_OK;
}

void
lk_quantize_report_clear (lk_quantize_report *r)
{
  for (size_t i = 0; i < r->n; i++)
    free (r->entries[i].name);
  free (r->entries);
  memset (r, 0, sizeof *r);
}

static uint32_t
file_type_for (lk_type type, lk_mix mix)
{
  switch (mix)
    {
    case LK_MIX_Q2_K: return 10;
    case LK_MIX_Q3_K_M: return 12;
    case LK_MIX_Q4_K_M: return 15;
    case LK_MIX_Q5_K_M: return 17;
    default: break;
    }
  switch (type)
    {
    case LK_TYPE_F32: return 0;
    case LK_TYPE_F16: return 1;
    case LK_TYPE_Q4_0: return 2;
    case LK_TYPE_Q4_1: return 3;
    case LK_TYPE_Q8_0: return 7;
    case LK_TYPE_Q5_0: return 8;
    case LK_TYPE_Q5_1: return 9;
    case LK_TYPE_Q2_K: return 10;
    case LK_TYPE_Q3_K: return 12;
    case LK_TYPE_Q4_K: return 15;
    case LK_TYPE_Q5_K: return 17;
    case LK_TYPE_Q6_K: return 18;
    case LK_TYPE_BF16: return 32;
    case LK_TYPE_IQ4_NL: return 25;
    case LK_TYPE_IQ4_XS: return 30;
    case LK_TYPE_IQ2_XXS: return 19;
    case LK_TYPE_IQ2_XS: return 20;
    case LK_TYPE_IQ2_S: return 28;
    case LK_TYPE_IQ3_XXS: return 23;
    case LK_TYPE_IQ3_S: return 26;
    case LK_TYPE_IQ1_S: return 24;
    case LK_TYPE_IQ1_M: return 31;
    case LK_TYPE_TQ1_0: return 36;
    case LK_TYPE_TQ2_0: return 37;
    case LK_TYPE_MXFP4: return 38; /* llama.cpp's MXFP4_MOE */
    default: return 0;
    }
}

void
lk_forget_provenance (lk_gguf_writer *w)
{
  static const char *const keys[] = {
    "lathe.recipe", "lathe.recipe.name", "lathe.source.sha256", "lathe.source.file",
    "lathe.quantize.fallbacks", "lathe.conditional.skip_layers", "lathe.conditional.exit_threshold",
    "lathe.conditional.exit_min_layer", "lathe.conditional.exit_on_margin",
    "lathe.conditional.experts_used",
  };

  for (size_t k = 0; k < sizeof keys / sizeof *keys; k++)
    lk_gguf_writer_remove (w, keys[k]);
}

/* "tensor=ASKED" for each matrix whose rows did not fit the asked type, so
 * that inspecting the file tells why a tensor has another type. */
static lk_status
note_fallbacks (lk_gguf_writer *w, const lk_model *src, const lk_quantize_params *p)
{
  const size_t n = lk_model_n_tensors (src);
  char **items = calloc (n ? n : 1, sizeof *items);
  size_t count = 0;

  if (items == NULL)
    return LK_ERR_NOMEM;
  for (size_t i = 0; i < n; i++)
    {
      const lk_tensor *t = lk_model_tensor_at (src, i);
      bool fell_back;
      lk_type asked;
      lk_quantize_tensor_type (src, t, p, &fell_back, &asked);
      if (fell_back && (items[count] = malloc (strlen (t->name) + 16)) != NULL)
        sprintf (items[count++], "%s=%s", t->name, lk_type_name (asked));
    }
  lk_gguf_writer_remove (w, "lathe.quantize.fallbacks");
  if (count > 0)
    lk_gguf_writer_set_arr_str (w, "lathe.quantize.fallbacks", (const char *const *) items, NULL, count);
  for (size_t i = 0; i < count; i++)
    free (items[i]);
  free (items);
  return LK_OK;
}

lk_status
lk_quantize_model (const lk_model *src, const char *path, const lk_quantize_params *p,
                   lk_quantize_report *report, lk_error *err)
{
  const lk_hparams *hp = lk_model_hparams (src);
  const size_t n = lk_model_n_tensors (src);
  lk_gguf_writer *w = lk_gguf_writer_new ();
  fill_ctx *fills = calloc (n ? n : 1, sizeof *fills);
  lk_pool *pool = lk_pool_new (p->n_threads);
  int *nh = malloc ((size_t) hp->n_layer * sizeof *nh);
  int *nkv = malloc ((size_t) hp->n_layer * sizeof *nkv);
  int *nff = malloc ((size_t) hp->n_layer * sizeof *nff);
  lk_status s = LK_OK;

  if (report != NULL)
    {
      memset (report, 0, sizeof *report);
      report->entries = calloc (n ? n : 1, sizeof *report->entries);
    }
  if (w == NULL || fills == NULL || pool == NULL || nh == NULL || nkv == NULL || nff == NULL
      || (report != NULL && report->entries == NULL))
    {
      s = lk_error_set (err, LK_ERR_NOMEM, "out of memory");
      goto out;
    }
  for (int il = 0; il < hp->n_layer; il++)
    {
      nh[il] = lk_model_layer (src, il)->n_head;
      nkv[il] = lk_model_layer (src, il)->n_head_kv;
      nff[il] = lk_model_layer (src, il)->n_ff;
    }
  if (lk_model_gguf (src) != NULL)
    lk_gguf_writer_copy_kv (w, lk_model_gguf (src));
  lk_forget_provenance (w);
  lk_write_hparams (w, hp, nh, nkv, nff);
  if (lk_model_vocab (src) != NULL)
    lk_vocab_write_gguf (lk_model_vocab (src), w);
  lk_gguf_writer_set_u32 (w, "general.quantization_version", 2);
  lk_gguf_writer_set_u32 (w, "general.file_type", file_type_for (p->type, p->mix));
  if (p->add_metadata != NULL)
    p->add_metadata (p->user, w);

  for (size_t i = 0; i < n && s == LK_OK; i++)
    {
      const lk_tensor *t = lk_model_tensor_at (src, i);
      bool fell_back;
      lk_type asked;
      const lk_type to = lk_quantize_tensor_type (src, t, p, &fell_back, &asked);

      if (to != lk_type_unpacked (t->type) && lk_get_dequantize (lk_type_row_group (t->type) > 1 ? lk_type_unpacked (t->type) : t->type) == NULL)
        {
          s = lk_error_set (err, LK_ERR_UNSUPPORTED, "tensor '%s' of type %s cannot be converted",
                            t->name, lk_type_name (t->type));
          break;
        }
      /* A type asked by an override (a recipe, a sensitivity table) that
       * Lathe has no quantizer for: refused here, before a buffer is
       * written that nothing would fill. */
      if (to != lk_type_unpacked (t->type) && to != t->type && !lk_quantize_can_write (to))
        {
          s = lk_error_set (err, LK_ERR_UNSUPPORTED,
                            "tensor '%s': Lathe cannot write type %s (it writes %s)", t->name,
                            lk_type_name (to), lk_quantize_writable_list ());
          break;
        }
      fills[i] = (fill_ctx) { t, to, NULL, pool, p, (int) i, (int) n, false, { 0 }, NULL };
      if (p->importance != NULL && t->n_dims >= 2)
        fills[i].imp = p->importance (p->user, t->name,
                                      t->ne[0] * (t->n_dims >= 3 && t->ne[2] > 1 ? t->ne[2] : 1));
      /* As llama.cpp: the 2-bit grids are written only where the importance
       * of each column is known. */
      if (lk_quantize_needs_importance (to) && to != t->type && fills[i].imp == NULL)
        {
          s = lk_error_set (err, LK_ERR_INVALID,
                            strcmp (t->name, "token_embd.weight") == 0
                              ? "tensor '%s': %s needs an importance matrix with its columns, and "
                                "the embedding has none (it is looked up): give it another type "
                                "(--tensor-type token_embd.weight=Q2_K) or leave out --pure"
                              : "tensor '%s': %s needs an importance matrix with its columns (give "
                                "--imatrix, made by lathe-cli calibrate)",
                            t->name, lk_type_name (to));
          break;
        }
      if (p->prune != NULL && t->n_dims >= 2)
        fills[i].prune = p->prune (p->user, t, &fills[i].spec);
      s = lk_gguf_writer_add_tensor_fill (w, t->name, to, (uint32_t) t->n_dims, t->ne, fill_tensor,
                                          &fills[i], err);
      if (report != NULL && s == LK_OK)
        {
          char *name = strdup (t->name);
          if (name == NULL)
            {
              s = lk_error_set (err, LK_ERR_NOMEM, "out of memory");
              break;
            }
          fills[i].entry = &report->entries[report->n];
          report->entries[report->n++] = (lk_quantize_entry) { name, lk_type_unpacked (t->type),
                                                               to, fell_back, asked, 0,
                                                               lk_tensor_nelements (t) };
          report->bytes_in += t->nbytes;
          report->bytes_out += lk_row_size (to, t->ne[0]) * (uint64_t) (lk_tensor_nelements (t) / t->ne[0]);
        }
    }
  if (s == LK_OK)
    s = note_fallbacks (w, src, p);
  if (s == LK_OK)
    s = lk_gguf_writer_write (w, path, err);
out:
  if (s != LK_OK && report != NULL)
    lk_quantize_report_clear (report);
  free (nh);
  free (nkv);
  free (nff);
  free (fills);
  lk_pool_free (pool);
  lk_gguf_writer_free (w);
  return s;
}
