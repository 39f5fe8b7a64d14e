/* SPDX-License-Identifier: MIT */
/* libFuzzer target: bytes as a llama2.c checkpoint and its tokenizer.bin.
 * The first four bytes give the checkpoint's length; the rest after it is the
 * tokenizer. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "lk-context.h"
#include "lk-model.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  lk_model_params p;
  lk_model *m = NULL;
  lk_error err;
  uint32_t model_len;

  if (size < 4)
    return 0;
  memcpy (&model_len, data, 4);
  data += 4;
  size -= 4;
  if (model_len > size)
    model_len = (uint32_t) size;
  lk_model_params_init (&p);
  p.tokenizer_data = data + model_len;
  p.tokenizer_size = size - model_len;
  if (lk_model_open_buffer (data, model_len, "fuzz.bin", &p, &m, &err) == LK_OK)
    {
      lk_ctx_params cp;
      lk_ctx *ctx = NULL;
      lk_tokens toks = { 0 };
      int32_t ids[2] = { 1, 2 };

      lk_vocab_tokenize (lk_model_vocab (m), "Hello fuzz \xc3\xa9", 13, true, false, &toks, &err);
      lk_tokens_clear (&toks);
      lk_ctx_params_init (&cp);
      cp.n_ctx = 8;
      cp.n_threads = 1;
      if (lk_ctx_new (m, &cp, &ctx, &err) == LK_OK)
        {
          ids[1] = lk_model_hparams (m)->n_vocab - 1;
          lk_ctx_decode (ctx, ids, 2, false, &err);
          lk_ctx_free (ctx);
        }
      lk_model_free (m);
    }
  return 0;
}
