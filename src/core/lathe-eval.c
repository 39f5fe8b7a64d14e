/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lathe-core"

#include "config.h"

#include <glib/gi18n.h>
#include <stdatomic.h>

#include "lathe-error.h"
#include "lathe-io.h"
#include "lathe-eval.h"
#include "lk-gguf.h"

#define DEFAULT_EVAL_CTX 256
#define REFERENCE_TYPE "lathe.reference-logits"

void
lathe_eval_options_init (LatheEvalOptions *o)
{
  memset (o, 0, sizeof *o);
}

gboolean
lathe_apply_conditional (lk_ctx *ctx, const char *skip_layers, float exit_threshold,
                         int exit_min_layer, GError **error)
{
  const LatheConditional c = { skip_layers, exit_threshold, exit_min_layer, FALSE, 0 };

  return lathe_apply_conditional_full (ctx, &c, error);
}

gboolean
lathe_apply_conditional_full (lk_ctx *ctx, const LatheConditional *c, GError **error)
{
  const char *skip_layers = c->skip_layers;
  const int n = lk_model_hparams (lk_ctx_model (ctx))->n_layer;
  g_autofree bool *skip = NULL;
  lk_cond_params cp;
  lk_error err = { 0 };

  lk_cond_params_init (&cp);
  cp.exit_threshold = c->exit_threshold;
  cp.exit_min_layer = c->exit_min_layer;
  cp.exit_on_margin = c->exit_on_margin;
  cp.moe_top_k = c->experts_used;
  if (skip_layers != NULL)
    {
      skip = g_new0 (bool, n);
      if (lk_cond_parse_layers (skip_layers, n, skip, &err) != LK_OK)
        {
          lathe_error_from_engine (error, &err);
          return FALSE;
        }
      cp.skip = skip;
    }
  if (lk_ctx_set_conditional (ctx, &cp, &err) != LK_OK)
    {
      lathe_error_from_engine (error, &err);
      return FALSE;
    }
  return TRUE;
}

gboolean
lathe_eval_is_reference_file (const char *path)
{
  lk_gguf *g = NULL;
  lk_error err = { 0 };
  g_autofree char *type = NULL;

  if (lk_gguf_open (path, LK_LOAD_MMAP, &g, &err) != LK_OK)
    return FALSE;
  type = lk_gguf_get_str_dup (g, "general.type");
  lk_gguf_free (g);
  return type != NULL && strcmp (type, REFERENCE_TYPE) == 0;
}

typedef struct
{
  const LatheEvalOptions *o;
  const char *stage;
} Progress;

static void
progress_cb (void *user, int chunk, int n_chunks)
{
  Progress *p = user;

  if (p->o->progress != NULL)
    p->o->progress (p->o->user, p->stage, chunk + 1, n_chunks);
}

static void
cancel_cb (GCancellable *cancellable, gpointer data)
{
  atomic_store ((atomic_int *) data, 1);
}

/* Tokens per chunk: as asked, else 256 within every model's context. */
static int
eval_ctx (const LatheEvalOptions *o, LatheModel *model, LatheModel *ref_model)
{
  int n = o->n_ctx > 0 ? o->n_ctx : DEFAULT_EVAL_CTX;

  if (o->n_ctx > 0)
    return n;
  for (int i = 0; i < 2; i++)
    {
      LatheModel *m = i == 0 ? model : ref_model;
      const int train = m != NULL ? lk_model_hparams (lathe_model_get_engine (m))->n_ctx_train : 0;
      if (train > 0 && n > train)
        n = train;
    }
  return n;
}

static lk_ctx *
new_context (LatheModel *model, int n_ctx, int n_threads, atomic_int *cancel, GError **error)
{
  lk_ctx_params cp;
  lk_ctx *ctx = NULL;
  lk_error err = { 0 };

  lk_ctx_params_init (&cp);
  cp.n_ctx = n_ctx;
  cp.n_threads = n_threads;
  if (lk_ctx_new (lathe_model_get_engine (model), &cp, &ctx, &err) != LK_OK)
    {
      lk_error_prefix (&err, "%s", lathe_model_get_path (model));
      lathe_error_from_engine (error, &err);
      return NULL;
    }
  lk_ctx_set_cancel (ctx, cancel);
  return ctx;
}

static gboolean
read_tokens (LatheModel *model, const char *text_path, lk_tokens *toks, GError **error)
{
  g_autofree char *text = NULL;
  gsize len = 0;
  lk_error err = { 0 };

  if (!lathe_model_check_tokenizer (model, error)
      || (text = lathe_file_read_bounded (text_path, LATHE_TEXT_LIMIT, &len, error)) == NULL)
    return FALSE;
  if (lk_eval_tokenize (lk_model_vocab (lathe_model_get_engine (model)), text, len, toks, &err)
      != LK_OK)
    {
      lk_error_prefix (&err, "%s", text_path);
      lathe_error_from_engine (error, &err);
      return FALSE;
    }
  return TRUE;
}

static gboolean
engine_ok (lk_status s, lk_error *err, const char *what, GError **error)
{
  if (s == LK_OK)
    return TRUE;
  if (what != NULL && s != LK_ERR_CANCELLED)
    lk_error_prefix (err, "%s", what);
  lathe_error_from_engine (error, err);
  return FALSE;
}

/* The reference the model is scored against, or NULL without one. ref_ctx
 * receives the reference model's context when it is computed live. */
static gboolean
make_reference (LatheModel *model, lk_ctx *ctx, const char *text_path, const char *ref_path,
                const lk_tokens *toks,
                LatheModel *ref_model, const LatheEvalOptions *o, atomic_int *cancel,
                lk_ctx **ref_ctx, lk_eval_ref **ref, GError **error)
{
  lk_eval_params ep;
  Progress pr = { o, "reference" };
  lk_error err = { 0 };
  const int n_vocab = lk_vocab_n_tokens (lk_model_vocab (lathe_model_get_engine (model)));

  lk_eval_params_init (&ep);
  ep.n_ctx = lk_ctx_n_ctx (ctx);
  ep.max_chunks = o->max_chunks;
  ep.progress = progress_cb;
  ep.user = &pr;
  *ref = NULL;
  if (ref_path != NULL && ref_model == NULL)
    {
      if (o->save_ref != NULL)
        {
          g_set_error (error, LATHE_ERROR, LATHE_ERROR_INVALID,
                       _("%s is already saved log-probabilities; --save-ref needs a reference model"),
                       ref_path);
          return FALSE;
        }
      return engine_ok (lk_eval_ref_load (ref_path, toks, n_vocab, ref, &err), &err, NULL, error);
    }
  if (ref_model != NULL)
    {
      /* The reference runs in full, whatever its file says. */
      if ((*ref_ctx = new_context (ref_model, lk_ctx_n_ctx (ctx), o->n_threads, cancel, error)) == NULL
          || !lathe_apply_conditional (*ref_ctx, NULL, 1.0f, 0, error))
        return FALSE;
    }
  else if (o->save_ref == NULL)
    return TRUE;
  if (o->save_ref == NULL)
    return engine_ok (lk_eval_ref_live (*ref_ctx, toks, &ep, ref, &err), &err, ref_path, error);
  /* Saving needs every chunk; without a reference model the model is its
   * own, run in full. */
  if (*ref_ctx == NULL
      && ((*ref_ctx = new_context (model, lk_ctx_n_ctx (ctx), o->n_threads, cancel, error)) == NULL
          || !lathe_apply_conditional (*ref_ctx, NULL, 1.0f, 0, error)))
    return FALSE;
  if (!engine_ok (lk_eval_ref_compute (*ref_ctx, toks, &ep, ref, &err), &err,
                  ref_path != NULL ? ref_path : text_path, error))
    return FALSE;
  return engine_ok (lk_eval_ref_save (*ref, o->save_ref, &err), &err, NULL, error);
}

gboolean
lathe_eval_run (LatheModel *model, const char *text_path, const char *ref_path,
                const LatheEvalOptions *o, lk_eval_result *out, GCancellable *cancellable,
                GError **error)
{
  atomic_int cancel = 0;
  gulong handler = 0;
  lk_tokens toks = { 0 };
  lk_ctx *ctx = NULL, *ref_ctx = NULL;
  g_autoptr (LatheModel) ref_model = NULL;
  lk_eval_ref *ref = NULL;
  lk_eval_params ep;
  Progress pr = { o, "evaluating" };
  lk_error err = { 0 };
  gboolean ok = FALSE;

  if (cancellable != NULL)
    handler = g_cancellable_connect (cancellable, G_CALLBACK (cancel_cb), &cancel, NULL);
  if (ref_path != NULL && !lathe_eval_is_reference_file (ref_path)
      && (ref_model = lathe_model_load (ref_path, NULL, NULL, error)) == NULL)
    goto out;
  if (!read_tokens (model, text_path, &toks, error)
      || (ctx = new_context (model, eval_ctx (o, model, ref_model), o->n_threads, &cancel, error)) == NULL
      || !make_reference (model, ctx, text_path, ref_path, &toks, ref_model, o, &cancel, &ref_ctx, &ref, error))
    goto out;
  /* After the reference, which may be this model's own full computation. */
  if (o->skip_layers != NULL || o->exit_threshold > 0.0f || o->experts_used > 0)
    {
      const LatheConditional c = { o->skip_layers, o->exit_threshold > 0.0f ? o->exit_threshold : 1.0f,
                                   o->exit_min_layer, o->exit_on_margin, o->experts_used };
      if (!lathe_apply_conditional_full (ctx, &c, error))
        goto out;
    }
  lk_eval_params_init (&ep);
  ep.n_ctx = lk_ctx_n_ctx (ctx);
  ep.max_chunks = o->max_chunks;
  ep.progress = progress_cb;
  ep.user = &pr;
  ok = engine_ok (lk_eval_run (ctx, &toks, &ep, ref, out, &err), &err, text_path, error);
  if (ok)
    {
      out->layers_mean = lk_cond_layers_mean (lk_ctx_cond_stats (ctx));
      out->n_layer = lk_model_hparams (lathe_model_get_engine (model))->n_layer;
    }
out:
  if (handler != 0)
    g_cancellable_disconnect (cancellable, handler);
  lk_eval_ref_free (ref);
  lk_ctx_free (ref_ctx);
  lk_ctx_free (ctx);
  lk_tokens_clear (&toks);
  return ok;
}

/* What both JSON results start with: the scored tokens and the chunking. */
static void
add_counts (JsonBuilder *b, guint64 tokens, int n_ctx, int n_chunks)
{
  json_builder_set_member_name (b, "tokens");
  json_builder_add_int_value (b, (gint64) tokens);
  json_builder_set_member_name (b, "ctx");
  json_builder_add_int_value (b, n_ctx);
  json_builder_set_member_name (b, "chunks");
  json_builder_add_int_value (b, n_chunks);
}

JsonNode *
lathe_eval_result_to_json (const lk_eval_result *r)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();

  json_builder_begin_object (b);
  add_counts (b, r->tokens, r->n_ctx, r->n_chunks);
  json_builder_set_member_name (b, "perplexity");
  json_builder_add_double_value (b, r->perplexity);
  json_builder_set_member_name (b, "nll_mean");
  json_builder_add_double_value (b, r->nll_mean);
  json_builder_set_member_name (b, "n_layer");
  json_builder_add_int_value (b, r->n_layer);
  json_builder_set_member_name (b, "layers_mean");
  json_builder_add_double_value (b, r->layers_mean);
  if (r->has_ref)
    {
      const struct
      {
        const char *key;
        double value;
      } f[] = {
        { "ref_perplexity", r->ref_perplexity }, { "kl_mean", r->kl_mean },
        { "kl_median", r->kl_median },           { "kl_p99", r->kl_p99 },
        { "kl_max", r->kl_max },                 { "top1_agreement", r->top1_agreement },
        { "rms_dp", r->rms_dp },
      };
      for (gsize i = 0; i < G_N_ELEMENTS (f); i++)
        {
          json_builder_set_member_name (b, f[i].key);
          json_builder_add_double_value (b, f[i].value);
        }
    }
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

gboolean
lathe_logit_lens (LatheModel *model, const char *text_path, const LatheEvalOptions *o,
                  lk_lens_result *out, GCancellable *cancellable, GError **error)
{
  atomic_int cancel = 0;
  gulong handler = 0;
  lk_tokens toks = { 0 };
  lk_ctx *ctx = NULL;
  Progress pr = { o, "lens" };
  lk_error err = { 0 };
  gboolean ok = FALSE;

  if (cancellable != NULL)
    handler = g_cancellable_connect (cancellable, G_CALLBACK (cancel_cb), &cancel, NULL);
  if (read_tokens (model, text_path, &toks, error)
      && (ctx = new_context (model, eval_ctx (o, model, NULL), o->n_threads, &cancel, error)) != NULL)
    ok = engine_ok (lk_logit_lens (ctx, &toks, lk_ctx_n_ctx (ctx), o->max_chunks, progress_cb, &pr, out,
                                   &err),
                    &err, text_path, error);
  if (handler != 0)
    g_cancellable_disconnect (cancellable, handler);
  lk_ctx_free (ctx);
  lk_tokens_clear (&toks);
  return ok;
}

JsonNode *
lathe_lens_result_to_json (const lk_lens_result *r)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();

  json_builder_begin_object (b);
  add_counts (b, r->tokens, r->n_ctx, r->n_chunks);
  json_builder_set_member_name (b, "layers");
  json_builder_begin_array (b);
  for (int il = 0; il < r->n_layer; il++)
    {
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "layer");
      json_builder_add_int_value (b, il);
      json_builder_set_member_name (b, "kl_mean");
      json_builder_add_double_value (b, r->kl_mean[il]);
      json_builder_set_member_name (b, "top1_agreement");
      json_builder_add_double_value (b, r->top1_agreement[il]);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}
