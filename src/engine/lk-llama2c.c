/* SPDX-License-Identifier: MIT */
/* llama2.c checkpoints and their tokenizer.bin.
 *
 * Three layouts exist: the legacy one (seven int32 fields, then float32
 * weights grouped by kind, a negative vocab_size meaning an untied output
 * head), version 1 (magic "ak42", a 256-byte header, float32 weights with the
 * norms first) and version 2 (the same header plus a group size, norms in
 * float32, other weights as int8 with one float32 scale per group).
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lk-model-private.h"

#define AK42_MAGIC 0x616b3432u
#define V_HEADER_BYTES 256

typedef struct
{
  int32_t dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len;
} config;

typedef struct
{
  const uint8_t *p;
  size_t left;
} reader;

bool
lk_llama2c_sniff (const uint8_t *data, size_t size)
{
  uint32_t magic;

  if (size < 28)
    return false;
  memcpy (&magic, data, 4);
  return magic == AK42_MAGIC;
}

static lk_status
check_config (const char *path, const config *c, lk_error *err)
{
  if (c->dim <= 0 || c->hidden_dim <= 0 || c->n_layers <= 0 || c->n_heads <= 0
      || c->n_kv_heads <= 0 || c->vocab_size <= 0 || c->seq_len <= 0)
    return lk_error_set (err, LK_ERR_FORMAT,
                         "%s: llama2.c header fields must be positive: dim %d, hidden_dim %d, "
                         "n_layers %d, n_heads %d, n_kv_heads %d, vocab_size %d, seq_len %d",
                         path, c->dim, c->hidden_dim, c->n_layers, c->n_heads, c->n_kv_heads,
                         c->vocab_size, c->seq_len);
  if (c->dim % c->n_heads != 0 || c->n_heads % c->n_kv_heads != 0 || (c->dim / c->n_heads) % 2)
    return lk_error_set (err, LK_ERR_FORMAT,
                         "%s: field 'dim' %d must be a multiple of 'n_heads' %d (with an even "
                         "head size), and 'n_heads' a multiple of 'n_kv_heads' %d",
                         path, c->dim, c->n_heads, c->n_kv_heads);
  if (c->n_layers > 4096 || c->dim > (1 << 20) || c->hidden_dim > (1 << 22)
      || c->vocab_size > (1 << 24) || c->seq_len > (1 << 24))
    return lk_error_set (err, LK_ERR_FORMAT, "%s: llama2.c header values are implausibly large",
                         path);
  return LK_OK;
}

/* The tensors in file order, as (name, rows, cols) for each kind. */
typedef struct
{
  const char *fmt; /* GGUF name; %d is the layer */
  bool per_layer;
  int64_t ne0, ne1; /* ne1 = 0 for vectors */
} kind;

static void
kinds_of (const config *c, kind k[11])
{
  const int64_t hd = c->dim / c->n_heads;
  const int64_t q = c->n_heads * hd, kv = c->n_kv_heads * hd;

  k[0] = (kind) { "token_embd.weight", false, c->dim, c->vocab_size };
  k[1] = (kind) { "blk.%d.attn_norm.weight", true, c->dim, 0 };
  k[2] = (kind) { "blk.%d.attn_q.weight", true, c->dim, q };
  k[3] = (kind) { "blk.%d.attn_k.weight", true, c->dim, kv };
  k[4] = (kind) { "blk.%d.attn_v.weight", true, c->dim, kv };
  k[5] = (kind) { "blk.%d.attn_output.weight", true, q, c->dim };
  k[6] = (kind) { "blk.%d.ffn_norm.weight", true, c->dim, 0 };
  k[7] = (kind) { "blk.%d.ffn_gate.weight", true, c->dim, c->hidden_dim };
  k[8] = (kind) { "blk.%d.ffn_down.weight", true, c->hidden_dim, c->dim };
  k[9] = (kind) { "blk.%d.ffn_up.weight", true, c->dim, c->hidden_dim };
  k[10] = (kind) { "output_norm.weight", false, c->dim, 0 };
}

static int64_t
kind_elems (const kind *k)
{
  return k->ne0 * (k->ne1 ? k->ne1 : 1);
}

static lk_status
add_tensor (lk_model *m, const char *name, int64_t ne0, int64_t ne1, const void *data,
            lk_error *err)
{
  lk_tensor *t = &m->tensors[m->n_tensors];
  char *owned = strdup (name);

  if (owned == NULL)
    return lk_error_set (err, LK_ERR_NOMEM, "out of memory");
  m->names[m->n_tensors++] = owned;
  t->name = owned;
  t->type = LK_TYPE_F32;
  t->n_dims = ne1 ? 2 : 1;
  t->ne[0] = ne0;
  t->ne[1] = ne1 ? ne1 : 1;
  t->ne[2] = t->ne[3] = 1;
  t->data = data;
  t->nbytes = (size_t) (ne0 * (ne1 ? ne1 : 1)) * sizeof (float);
  return LK_OK;
}

static lk_status
add_kind (lk_model *m, const config *c, const kind *k, const float **src, lk_error *err)
{
  char name[96];
  const int n = k->per_layer ? c->n_layers : 1;

  for (int l = 0; l < n; l++)
    {
      lk_status s;
      snprintf (name, sizeof name, k->fmt, l);
      s = add_tensor (m, name, k->ne0, k->ne1, *src, err);
      if (s != LK_OK)
        return s;
      *src += kind_elems (k);
    }
  return LK_OK;
}

static lk_status
alloc_tensors (lk_model *m, const config *c, bool shared, lk_error *err)
{
  const size_t n = 9 * (size_t) c->n_layers + 2 + (shared ? 0 : 1);

  m->tensors = calloc (n, sizeof *m->tensors);
  m->names = calloc (n, sizeof *m->names);
  if (m->tensors == NULL || m->names == NULL)
    return lk_error_set (err, LK_ERR_NOMEM, "out of memory");
  return LK_OK;
}

static uint64_t
total_floats (const config *c, const kind k[11], bool shared)
{
  uint64_t n = 0;

  for (int i = 0; i < 11; i++)
    n += (uint64_t) kind_elems (&k[i]) * (k[i].per_layer ? (uint64_t) c->n_layers : 1);
  if (!shared)
    n += (uint64_t) c->dim * (uint64_t) c->vocab_size;
  return n;
}

static lk_status
size_mismatch (const char *path, const char *layout, uint64_t expected, size_t got, lk_error *err)
{
  return lk_error_set (err, LK_ERR_FORMAT,
                       "%s: a %s llama2.c checkpoint with this header has %" PRIu64
                       " bytes, the file has %zu: truncated, or not a llama2.c checkpoint",
                       path, layout, expected, got);
}

/* Legacy: token_embd, then per kind all layers (attn_norm, wq, wk, wv, wo,
 * ffn_norm, w1, w2, w3), the final norm, two unused RoPE tables, wcls. */
static lk_status
load_legacy (lk_model *m, config *out, lk_error *err)
{
  config c;
  kind k[11];
  bool shared;
  const float *src;
  uint64_t need;
  lk_status s;

  memcpy (&c, m->file.data, sizeof c);
  shared = c.vocab_size > 0;
  if (c.vocab_size < 0 && c.vocab_size != INT32_MIN)
    c.vocab_size = -c.vocab_size;
  if ((s = check_config (m->path, &c, err)) != LK_OK)
    return s;
  kinds_of (&c, k);
  need = sizeof c + 4 * (total_floats (&c, k, shared) + (uint64_t) c.seq_len * (c.dim / c.n_heads));
  if (need != m->file.size)
    return size_mismatch (m->path, "legacy", need, m->file.size, err);
  if ((s = alloc_tensors (m, &c, shared, err)) != LK_OK)
    return s;
  src = (const float *) (m->file.data + sizeof c);
  for (int i = 0; i < 11 && s == LK_OK; i++)
    s = add_kind (m, &c, &k[i], &src, err);
  if (s != LK_OK)
    return s;
  src += (size_t) c.seq_len * (size_t) (c.dim / c.n_heads); /* freq_cis_real, freq_cis_imag */
  if (!shared)
    s = add_tensor (m, "output.weight", c.dim, c.vocab_size, src, err);
  *out = c;
  return s;
}

typedef struct
{
  uint32_t magic;
  int32_t version;
  config c;
  uint8_t shared;
  int32_t group_size; /* version 2 */
} v_header;

static lk_status
read_v_header (lk_model *m, v_header *h, lk_error *err)
{
  const uint8_t *p = m->file.data;

  if (m->file.size < V_HEADER_BYTES)
    return lk_error_set (err, LK_ERR_FORMAT, "%s: truncated llama2.c header (%zu bytes, need %d)",
                         m->path, m->file.size, V_HEADER_BYTES);
  memcpy (&h->magic, p, 4);
  memcpy (&h->version, p + 4, 4);
  memcpy (&h->c, p + 8, sizeof h->c);
  h->shared = p[8 + sizeof h->c];
  memcpy (&h->group_size, p + 9 + sizeof h->c, 4);
  if (h->version != 1 && h->version != 2)
    return lk_error_set (err, LK_ERR_UNSUPPORTED,
                         "%s: field 'version' of the llama2.c header is %d, expected 1 or 2",
                         m->path, h->version);
  if (h->shared > 1)
    return lk_error_set (err, LK_ERR_FORMAT,
                         "%s: field 'shared_classifier' is %u, expected 0 or 1", m->path,
                         h->shared);
  return check_config (m->path, &h->c, err);
}

/* Version 1 and 2 store the norms first, then the matrices. */
static const int v_norm_order[3] = { 1, 6, 10 };
static const int v_matrix_order[8] = { 0, 2, 3, 4, 5, 7, 8, 9 };

static lk_status
load_v1 (lk_model *m, const v_header *h, lk_error *err)
{
  kind k[11];
  const float *src;
  uint64_t need;
  lk_status s;

  kinds_of (&h->c, k);
  need = V_HEADER_BYTES + 4 * total_floats (&h->c, k, h->shared);
  if (need != m->file.size)
    return size_mismatch (m->path, "version 1", need, m->file.size, err);
  if ((s = alloc_tensors (m, &h->c, h->shared, err)) != LK_OK)
    return s;
  src = (const float *) (m->file.data + V_HEADER_BYTES);
  for (int i = 0; i < 3 && s == LK_OK; i++)
    s = add_kind (m, &h->c, &k[v_norm_order[i]], &src, err);
  for (int i = 0; i < 8 && s == LK_OK; i++)
    s = add_kind (m, &h->c, &k[v_matrix_order[i]], &src, err);
  if (s == LK_OK && !h->shared)
    s = add_tensor (m, "output.weight", h->c.dim, h->c.vocab_size, src, err);
  return s;
}

/* Dequantizes one int8 tensor with per-group float32 scales to F32. */
static lk_status
v2_tensor (lk_model *m, const v_header *h, const char *name, int64_t ne0, int64_t ne1,
           reader *r, lk_error *err)
{
  const int64_t n = ne0 * ne1;
  const int64_t groups = n / h->group_size;
  const size_t bytes = (size_t) n + (size_t) groups * 4;
  float *dst;

  if (bytes > r->left)
    return lk_error_set (err, LK_ERR_FORMAT, "%s: truncated in tensor '%s' (version 2 layout)",
                         m->path, name);
  dst = lk_model_own (m, malloc ((size_t) n * sizeof (float)));
  if (dst == NULL)
    return lk_error_set (err, LK_ERR_NOMEM, "out of memory");
  for (int64_t g = 0; g < groups; g++)
    {
      float scale;
      memcpy (&scale, r->p + n + g * 4, 4);
      for (int64_t j = 0; j < h->group_size; j++)
        dst[g * h->group_size + j] = (float) (int8_t) r->p[g * h->group_size + j] * scale;
    }
  r->p += bytes;
  r->left -= bytes;
  return add_tensor (m, name, ne0, ne1, dst, err);
}

static lk_status
load_v2 (lk_model *m, const v_header *h, lk_error *err)
{
  kind k[11];
  reader r = { m->file.data + V_HEADER_BYTES, m->file.size - V_HEADER_BYTES };
  lk_status s;
  char name[96];

  /* Groups run over each flattened tensor; every tensor has dim as a factor. */
  if (h->group_size <= 0 || h->c.dim % h->group_size != 0)
    return lk_error_set (err, LK_ERR_FORMAT,
                         "%s: field 'group_size' is %d, expected a positive divisor of dim %d",
                         m->path, h->group_size, h->c.dim);
  kinds_of (&h->c, k);
  if ((s = alloc_tensors (m, &h->c, h->shared, err)) != LK_OK)
    return s;
  for (int i = 0; i < 3 && s == LK_OK; i++)
    {
      const kind *kd = &k[v_norm_order[i]];
      const int n = kd->per_layer ? h->c.n_layers : 1;
      const size_t bytes = (size_t) kd->ne0 * 4;
      for (int l = 0; l < n && s == LK_OK; l++)
        {
          if (bytes > r.left)
            return lk_error_set (err, LK_ERR_FORMAT, "%s: truncated in the norms", m->path);
          snprintf (name, sizeof name, kd->fmt, l);
          s = add_tensor (m, name, kd->ne0, 0, r.p, err);
          r.p += bytes;
          r.left -= bytes;
        }
    }
  for (int i = 0; i < 8 && s == LK_OK; i++)
    {
      const kind *kd = &k[v_matrix_order[i]];
      const int n = kd->per_layer ? h->c.n_layers : 1;
      for (int l = 0; l < n && s == LK_OK; l++)
        {
          snprintf (name, sizeof name, kd->fmt, l);
          s = v2_tensor (m, h, name, kd->ne0, kd->ne1, &r, err);
        }
    }
  if (s == LK_OK && !h->shared)
    s = v2_tensor (m, h, "output.weight", h->c.dim, h->c.vocab_size, &r, err);
  if (s == LK_OK && r.left != 0)
    s = lk_error_set (err, LK_ERR_FORMAT, "%s: %zu unexpected bytes after the last tensor",
                      m->path, r.left);
  return s;
}

/* tokenizer.bin ------------------------------------------------------------ */

static lk_status
load_tokenizer (lk_model *m, const char *path, const uint8_t *data, size_t size, int32_t n_vocab,
                lk_error *err)
{
  lk_file_buf f = { 0 };
  lk_status s = data != NULL ? LK_OK : lk_file_load (path, LK_LOAD_READ, &f, err);
  reader r;
  int32_t max_len;
  char **texts = NULL;
  size_t *lens = NULL;
  float *scores = NULL;
  uint8_t *types = NULL;

  if (s != LK_OK)
    return s;
  r = data != NULL ? (reader) { data, size } : (reader) { f.data, f.size };
  texts = calloc ((size_t) n_vocab, sizeof *texts);
  lens = calloc ((size_t) n_vocab, sizeof *lens);
  scores = calloc ((size_t) n_vocab, sizeof *scores);
  types = calloc ((size_t) n_vocab, sizeof *types);
  if (texts == NULL || lens == NULL || scores == NULL || types == NULL)
    {
      s = lk_error_set (err, LK_ERR_NOMEM, "out of memory");
      goto out;
    }
  if (r.left < 4)
    {
      s = lk_error_set (err, LK_ERR_FORMAT, "%s: truncated before 'max_token_length'", path);
      goto out;
    }
  memcpy (&max_len, r.p, 4);
  r.p += 4;
  r.left -= 4;
  if (max_len <= 0 || max_len > (1 << 16))
    {
      s = lk_error_set (err, LK_ERR_FORMAT,
                        "%s: field 'max_token_length' is %d, expected 1..65536: not a llama2.c "
                        "tokenizer", path, max_len);
      goto out;
    }
  for (int32_t i = 0; i < n_vocab; i++)
    {
      int32_t len;
      if (r.left < 8)
        {
          s = lk_error_set (err, LK_ERR_FORMAT,
                            "%s: ends after %d tokens, but the model's vocab_size is %d", path, i,
                            n_vocab);
          goto out;
        }
      memcpy (&scores[i], r.p, 4);
      memcpy (&len, r.p + 4, 4);
      r.p += 8;
      r.left -= 8;
      if (len < 0 || len > max_len || (size_t) len > r.left)
        {
          s = lk_error_set (err, LK_ERR_FORMAT,
                            "%s: token %d: field 'len' is %d, expected 0..%d within the file",
                            path, i, len, max_len);
          goto out;
        }
      texts[i] = malloc ((size_t) len * 3 + 1);
      if (texts[i] == NULL)
        {
          s = lk_error_set (err, LK_ERR_NOMEM, "out of memory");
          goto out;
        }
      /* llama2.c stores spaces where SentencePiece has U+2581, and BOS/EOS
       * wrapped in newlines; store them the GGUF way. */
      {
        const char *t = (const char *) r.p;
        size_t o = 0;
        if (len >= 4 && t[0] == '\n' && t[len - 1] == '\n' && t[1] == '<' && t[len - 2] == '>')
          {
            t++;
            len -= 2;
            types[i] = LK_TOKEN_CONTROL;
          }
        for (int32_t j = 0; j < len; j++)
          {
            if (t[j] == ' ')
              {
                memcpy (texts[i] + o, "\xe2\x96\x81", 3);
                o += 3;
              }
            else
              texts[i][o++] = t[j];
          }
        texts[i][o] = '\0';
        lens[i] = o;
        r.p += (types[i] == LK_TOKEN_CONTROL) ? (size_t) len + 2 : (size_t) len;
        r.left -= (types[i] == LK_TOKEN_CONTROL) ? (size_t) len + 2 : (size_t) len;
      }
      if (types[i] == LK_TOKEN_CONTROL)
        continue;
      if (i == 0 && strcmp (texts[i], "<unk>") == 0)
        types[i] = LK_TOKEN_UNKNOWN;
      else if (lens[i] == 6 && strncmp (texts[i], "<0x", 3) == 0 && texts[i][5] == '>')
        types[i] = LK_TOKEN_BYTE;
      else
        types[i] = LK_TOKEN_NORMAL;
    }
  if (r.left != 0)
    {
      s = lk_error_set (err, LK_ERR_FORMAT,
                        "%s: %zu bytes remain after %d tokens: the tokenizer has more tokens "
                        "than the model's vocab_size %d",
                        path, r.left, n_vocab, n_vocab);
      goto out;
    }
  s = lk_vocab_new_spm (n_vocab, (const char *const *) texts, lens, scores, types, 1, 2, 0,
                        &m->vocab, err);
out:
  if (texts != NULL)
    for (int32_t i = 0; i < n_vocab; i++)
      free (texts[i]);
  free (texts);
  free (lens);
  free (scores);
  free (types);
  lk_file_release (&f);
  return s;
}

/* Without -z: "tokenizer.bin" beside the model, else llama2.c's naming for
 * custom vocabularies, "tok<vocab_size>.bin". */
static char *
find_tokenizer (const char *model_path, int n_vocab)
{
  char *copy = strdup (model_path), *path = NULL;
  const char *dir;

  if (copy == NULL)
    return NULL;
  dir = dirname (copy);
  if (asprintf (&path, "%s/tokenizer.bin", dir) >= 0 && access (path, R_OK) == 0)
    goto done;
  free (path);
  path = NULL;
  if (asprintf (&path, "%s/tok%d.bin", dir, n_vocab) >= 0 && access (path, R_OK) == 0)
    goto done;
  free (path);
  path = NULL;
done:
  free (copy);
  return path;
}

lk_status
lk_model_load_llama2c (lk_model *m, const lk_model_params *params, lk_error *err)
{
  lk_status s = LK_OK;
  config c = { 0 };

  m->format = LK_FORMAT_LLAMA2C;
  if (m->buffer.data != NULL)
    {
      /* The model keeps its bytes in one place for both ways of opening. */
      m->file = m->buffer;
      memset (&m->buffer, 0, sizeof m->buffer);
    }
  else if ((s = lk_file_load (m->path, params->load_mode, &m->file, err)) != LK_OK)
    return s;
  m->file_size = m->file.size;
  if (m->file.size < sizeof (config))
    return lk_error_set (err, LK_ERR_FORMAT,
                         "%s: %zu bytes: too short for a GGUF file or a llama2.c checkpoint",
                         m->path, m->file.size);
  if (lk_llama2c_sniff (m->file.data, m->file.size))
    {
      v_header h;
      if ((s = read_v_header (m, &h, err)) != LK_OK)
        return s;
      s = h.version == 1 ? load_v1 (m, &h, err) : load_v2 (m, &h, err);
      c = h.c;
    }
  else
    s = load_legacy (m, &c, err);
  if (s != LK_OK)
    return s;

  strcpy (m->hp.arch_name, "llama");
  m->hp.arch = LK_ARCH_LLAMA;
  m->hp.n_vocab = c.vocab_size;
  m->hp.n_embd = c.dim;
  m->hp.n_layer = c.n_layers;
  m->hp.n_ctx_train = c.seq_len;
  m->hp.head_dim = c.dim / c.n_heads;
  m->hp.n_rot = m->hp.head_dim;
  m->hp.rope_neox = false;
  m->hp.rope_base = 10000.0f;
  m->hp.rope_freq_scale = 1.0f;
  m->hp.norm_eps = 1e-5f;
  m->n_head = malloc ((size_t) c.n_layers * sizeof (int));
  m->n_head_kv = malloc ((size_t) c.n_layers * sizeof (int));
  m->n_ff = malloc ((size_t) c.n_layers * sizeof (int));
  if (m->n_head == NULL || m->n_head_kv == NULL || m->n_ff == NULL)
    return lk_error_set (err, LK_ERR_NOMEM, "out of memory");
  for (int l = 0; l < c.n_layers; l++)
    {
      m->n_head[l] = c.n_heads;
      m->n_head_kv[l] = c.n_kv_heads;
      m->n_ff[l] = c.hidden_dim;
    }

  if (params->tokenizer_data != NULL)
    return load_tokenizer (m, "tokenizer", params->tokenizer_data, params->tokenizer_size,
                           c.vocab_size, err);
  if (params->tokenizer_path != NULL)
    return load_tokenizer (m, params->tokenizer_path, NULL, 0, c.vocab_size, err);
  {
    char *found = find_tokenizer (m->path, c.vocab_size);
    if (found != NULL)
      {
        s = load_tokenizer (m, found, NULL, 0, c.vocab_size, err);
        free (found);
      }
  }
  return s;
}
