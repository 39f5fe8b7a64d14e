/* SPDX-License-Identifier: MIT */
/* libFuzzer target: any bytes as a GGUF model. Whatever parses must also
 * tokenize and run without a fault. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "lk-context.h"
#include "lk-model.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
exercise (const lk_model *m)
{
  const lk_vocab *v = lk_model_vocab (m);
  lk_ctx_params cp;
  lk_ctx *ctx = NULL;
  lk_tokens toks = { 0 };
  lk_error err;
  const char text[] = "Once upon a time, 42 \xe2\x96\x81 caf\xc3\xa9 \xff!";
  int32_t ids[2] = { 0, 1 };

  if (v != NULL && lk_vocab_tokenize (v, text, sizeof text - 1, true, true, &toks, &err) == LK_OK)
    {
      char buf[64];
      for (size_t i = 0; i < toks.n; i++)
        lk_vocab_piece (v, toks.ids[i], true, buf, sizeof buf);
    }
  lk_tokens_clear (&toks);
  lk_ctx_params_init (&cp);
  cp.n_ctx = 8;
  cp.n_threads = 1;
  if (lk_ctx_new (m, &cp, &ctx, &err) == LK_OK)
    {
      ids[1] = lk_model_hparams (m)->n_vocab - 1;
      lk_ctx_decode (ctx, ids, 2, true, &err);
      lk_ctx_free (ctx);
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  lk_model *m = NULL;
  lk_error err;

  if (lk_model_open_buffer (data, size, "fuzz.gguf", NULL, &m, &err) == LK_OK)
    {
      exercise (m);
      lk_model_free (m);
    }
  return 0;
}
