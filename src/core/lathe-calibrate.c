/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lathe-core"

#include "config.h"

#include <stdatomic.h>

#include "lathe-calibrate.h"
#include "lathe-error.h"
#include "lathe-io.h"
#include "lk-eval.h"

#define DEFAULT_CALIBRATION_CTX 256

void
lathe_calibrate_options_init (LatheCalibrateOptions *o)
{
  memset (o, 0, sizeof *o);
}

static void
cancel_cb (GCancellable *cancellable, gpointer data)
{
  atomic_store ((atomic_int *) data, 1);
}

static void
progress_cb (void *user, int chunk, int n_chunks)
{
  const LatheCalibrateOptions *o = user;

  o->progress (o->user, chunk + 1, n_chunks);
}

lk_imatrix *
lathe_calibrate (LatheModel *model, const char *text_path, const LatheCalibrateOptions *o,
                 GCancellable *cancellable, GError **error)
{
  const lk_model *m = lathe_model_get_engine (model);
  const int train = lk_model_hparams (m)->n_ctx_train;
  g_autofree char *text = NULL;
  gsize len = 0;
  lk_tokens toks = { 0 };
  lk_ctx_params cp;
  lk_ctx *ctx = NULL;
  lk_imatrix *im = NULL;
  lk_error err = { 0 };
  atomic_int cancel = 0;
  gulong handler = 0;
  lk_status s;

  if (!lathe_model_check_tokenizer (model, error)
      || (text = lathe_file_read_bounded (text_path, LATHE_TEXT_LIMIT, &len, error)) == NULL)
    return NULL;
  lk_ctx_params_init (&cp);
  cp.n_ctx = o->n_ctx > 0 ? o->n_ctx : DEFAULT_CALIBRATION_CTX;
  if (o->n_ctx <= 0 && train > 0 && cp.n_ctx > train)
    cp.n_ctx = train;
  cp.n_threads = o->n_threads;
  s = lk_eval_tokenize (lk_model_vocab (m), text, len, &toks, &err);
  if (s == LK_OK)
    s = lk_ctx_new (m, &cp, &ctx, &err);
  if (s == LK_OK && (im = lk_imatrix_new ()) == NULL)
    s = lk_error_set (&err, LK_ERR_NOMEM, "out of memory");
  if (s == LK_OK)
    {
      if (cancellable != NULL)
        handler = g_cancellable_connect (cancellable, G_CALLBACK (cancel_cb), &cancel, NULL);
      lk_ctx_set_cancel (ctx, &cancel);
      s = lk_imatrix_collect (im, ctx, &toks, cp.n_ctx, o->max_chunks,
                              o->progress != NULL ? progress_cb : NULL, (void *) o, &err);
      if (handler != 0)
        g_cancellable_disconnect (cancellable, handler);
    }
  lk_ctx_free (ctx);
  lk_tokens_clear (&toks);
  if (s != LK_OK)
    {
      if (s != LK_ERR_CANCELLED)
        lk_error_prefix (&err, "%s", text_path);
      lathe_error_from_engine (error, &err);
      lk_imatrix_free (im);
      return NULL;
    }
  return im;
}

lk_imatrix *
lathe_imatrix_load (const char *path, GError **error)
{
  lk_imatrix *im = NULL;
  lk_error err = { 0 };

  if (lk_imatrix_load (path, &im, &err) != LK_OK)
    {
      lathe_error_from_engine (error, &err);
      return NULL;
    }
  return im;
}
