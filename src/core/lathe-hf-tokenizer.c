/* SPDX-License-Identifier: MIT */
/* The tokenizer of a Hugging Face checkpoint as GGUF keys: SentencePiece's
 * tokenizer.model (a protobuf) or tokenizers' tokenizer.json, read as
 * untrusted input. */
#define G_LOG_DOMAIN "lathe-hf"

#include "config.h"

#include <string.h>

#include "lathe-error.h"
#include "lathe-hf-private.h"
#include "lathe-io.h"
#include "lathe-json.h"
#include "lk-vocab.h"

/* Larger than any tokenizer published (Gemma 3's tokenizer.json is 33 MB). */
#define TOKENIZER_LIMIT ((gsize) 256 << 20)
#define MAX_TOKENS (1 << 24)

/* SentencePiece's ModelProto fields (sentencepiece_model.proto). */
enum
{
  PB_MODEL_PIECES = 1,
  PB_MODEL_TRAINER = 2,
  PB_MODEL_NORMALIZER = 3,
  PB_PIECE_TEXT = 1,
  PB_PIECE_SCORE = 2,
  PB_PIECE_TYPE = 3,
  PB_TRAINER_MODEL_TYPE = 3,
  PB_TRAINER_UNK = 40,
  PB_TRAINER_BOS = 41,
  PB_TRAINER_EOS = 42,
  PB_TRAINER_PAD = 43,
  PB_NORMALIZER_ADD_DUMMY_PREFIX = 3,
  SPM_MODEL_BPE = 2,
};

typedef struct
{
  GPtrArray *texts; /* char *, owned */
  GArray *scores;   /* float */
  GArray *types;    /* gint32 */
  GPtrArray *merges; /* char *, owned; NULL for SentencePiece */
  const char *model; /* "llama" or "gpt2" */
  char pre[32];
  gint64 unk, bos, eos, pad; /* -1: none */
  int add_space_prefix;      /* -1: not said */
} Vocab;

static void
vocab_init (Vocab *v)
{
  v->texts = g_ptr_array_new_with_free_func (g_free);
  v->scores = g_array_new (FALSE, TRUE, sizeof (float));
  v->types = g_array_new (FALSE, TRUE, sizeof (gint32));
  v->merges = NULL;
  v->model = "llama";
  g_strlcpy (v->pre, "default", sizeof v->pre);
  v->unk = v->bos = v->eos = v->pad = -1;
  v->add_space_prefix = -1;
}

static void
vocab_clear (Vocab *v)
{
  g_ptr_array_unref (v->texts);
  g_array_unref (v->scores);
  g_array_unref (v->types);
  if (v->merges != NULL)
    g_ptr_array_unref (v->merges);
}

static void
vocab_push (Vocab *v, char *text, float score, gint32 type)
{
  g_ptr_array_add (v->texts, text);
  g_array_append_val (v->scores, score);
  g_array_append_val (v->types, type);
}

/* Ids up to n exist ("[PAD<i>]", unused, as llama.cpp pads). */
static void
vocab_pad (Vocab *v, guint n)
{
  while (v->texts->len < n)
    vocab_push (v, g_strdup_printf ("[PAD%u]", v->texts->len), 0.0f, LATHE_TOKEN_UNUSED);
}

static gint64
vocab_find (const Vocab *v, const char *text)
{
  for (guint i = 0; i < v->texts->len; i++)
    if (strcmp (g_ptr_array_index (v->texts, i), text) == 0)
      return i;
  return -1;
}

/* Protobuf ---------------------------------------------------------------- */

typedef struct
{
  const guint8 *p, *end;
} Pb;

static gboolean
pb_varint (Pb *b, guint64 *out)
{
  guint64 v = 0;

  for (guint shift = 0; shift < 70; shift += 7)
    {
      if (b->p >= b->end)
        return FALSE;
      v |= (guint64) (*b->p & 0x7f) << shift;
      if ((*b->p++ & 0x80) == 0)
        {
          *out = v;
          return TRUE;
        }
    }
  return FALSE;
}

/* The next field's number and wire type; FALSE at the end or on bad bytes
 * (*bad tells which). */
static gboolean
pb_next (Pb *b, guint32 *field, guint *wire, gboolean *bad)
{
  guint64 key;

  *bad = FALSE;
  if (b->p >= b->end)
    return FALSE;
  if (!pb_varint (b, &key) || (key >> 3) == 0 || (key >> 3) > G_MAXUINT32)
    {
      *bad = TRUE;
      return FALSE;
    }
  *field = (guint32) (key >> 3);
  *wire = (guint) (key & 7);
  return TRUE;
}

/* The value of the field just read: a varint, 4 or 8 fixed bytes, or a
 * length-delimited range (sub). */
static gboolean
pb_value (Pb *b, guint wire, guint64 *v, Pb *sub)
{
  guint64 n;

  switch (wire)
    {
    case 0:
      return pb_varint (b, v);
    case 1:
    case 5:
      n = wire == 1 ? 8 : 4;
      if ((guint64) (b->end - b->p) < n)
        return FALSE;
      *v = 0;
      memcpy (v, b->p, n);
      *v = GUINT64_FROM_LE (*v);
      b->p += n;
      return TRUE;
    case 2:
      if (!pb_varint (b, &n) || n > (guint64) (b->end - b->p))
        return FALSE;
      sub->p = b->p;
      sub->end = b->p + n;
      b->p += n;
      return TRUE;
    default:
      return FALSE;
    }
}

static gboolean
bad_model (GError **error, const char *path, const char *what)
{
  g_set_error (error, LATHE_ERROR, LATHE_ERROR_FORMAT,
               "%s: not a SentencePiece model: %s", path, what);
  return FALSE;
}

static gboolean
read_piece (Pb *b, Vocab *v, const char *path, GError **error)
{
  g_autofree char *text = NULL;
  float score = 0.0f;
  gint32 type = LATHE_TOKEN_NORMAL;
  guint32 field;
  guint wire;
  gboolean bad;

  while (pb_next (b, &field, &wire, &bad))
    {
      guint64 x = 0;
      Pb sub = { 0 };
      if (!pb_value (b, wire, &x, &sub))
        return bad_model (error, path, "a piece's field runs past its end");
      if (field == PB_PIECE_TEXT && wire == 2)
        {
          if (!g_utf8_validate ((const char *) sub.p, sub.end - sub.p, NULL))
            return bad_model (error, path, "a piece is not UTF-8 text");
          g_free (text);
          text = g_strndup ((const char *) sub.p, sub.end - sub.p);
        }
      else if (field == PB_PIECE_SCORE && wire == 5)
        {
          guint32 bits = (guint32) x;
          memcpy (&score, &bits, 4);
        }
      else if (field == PB_PIECE_TYPE && wire == 0)
        {
          if (x < LATHE_TOKEN_NORMAL || x > LATHE_TOKEN_BYTE)
            return bad_model (error, path, "a piece's type is not 1 to 6");
          type = (gint32) x;
        }
    }
  if (bad)
    return bad_model (error, path, "a piece holds bytes that are no field");
  if (text == NULL)
    return bad_model (error, path, "a piece has no text");
  if (v->texts->len >= MAX_TOKENS)
    return bad_model (error, path, "more than 16777216 pieces");
  vocab_push (v, g_steal_pointer (&text), score, type);
  return TRUE;
}

static gboolean
read_trainer (Pb *b, Vocab *v, gboolean *bpe)
{
  guint32 field;
  guint wire;
  gboolean bad;

  *bpe = FALSE; /* SentencePiece's default model type is unigram */
  while (pb_next (b, &field, &wire, &bad))
    {
      guint64 x = 0;
      Pb sub;
      if (!pb_value (b, wire, &x, &sub))
        return FALSE;
      if (wire != 0)
        continue;
      if (field == PB_TRAINER_MODEL_TYPE)
        *bpe = x == SPM_MODEL_BPE;
      else if (field == PB_TRAINER_UNK)
        v->unk = (gint32) x;
      else if (field == PB_TRAINER_BOS)
        v->bos = (gint32) x;
      else if (field == PB_TRAINER_EOS)
        v->eos = (gint32) x;
      else if (field == PB_TRAINER_PAD)
        v->pad = (gint32) x;
    }
  return !bad;
}

static gboolean
read_normalizer (Pb *b, Vocab *v)
{
  guint32 field;
  guint wire;
  gboolean bad;

  v->add_space_prefix = TRUE; /* the proto's default */
  while (pb_next (b, &field, &wire, &bad))
    {
      guint64 x = 0;
      Pb sub;
      if (!pb_value (b, wire, &x, &sub))
        return FALSE;
      if (field == PB_NORMALIZER_ADD_DUMMY_PREFIX && wire == 0)
        v->add_space_prefix = x != 0;
    }
  return !bad;
}

static gboolean
read_spm (const char *path, Vocab *v, GError **error)
{
  g_autofree char *data = NULL;
  gsize len;
  Pb b;
  guint32 field;
  guint wire;
  gboolean bad, bpe = FALSE, have_trainer = FALSE;

  data = lathe_file_read_bounded (path, TOKENIZER_LIMIT, &len, error);
  if (data == NULL)
    return FALSE;
  b.p = (const guint8 *) data;
  b.end = b.p + len;
  v->unk = 0, v->bos = 1, v->eos = 2; /* the trainer's defaults */
  while (pb_next (&b, &field, &wire, &bad))
    {
      guint64 x;
      Pb sub = { 0 };
      if (!pb_value (&b, wire, &x, &sub))
        return bad_model (error, path, "a field runs past the end of the file");
      if (field == PB_MODEL_PIECES && wire == 2 && !read_piece (&sub, v, path, error))
        return FALSE;
      if (field == PB_MODEL_TRAINER && wire == 2)
        {
          have_trainer = TRUE;
          if (!read_trainer (&sub, v, &bpe))
            return bad_model (error, path, "its trainer_spec is damaged");
        }
      if (field == PB_MODEL_NORMALIZER && wire == 2 && !read_normalizer (&sub, v))
        return bad_model (error, path, "its normalizer_spec is damaged");
    }
  if (bad)
    return bad_model (error, path, "bytes that are no protobuf field");
  if (v->texts->len == 0)
    return bad_model (error, path, "it has no pieces");
  if (have_trainer && !bpe)
    {
      g_set_error (error, LATHE_ERROR, LATHE_ERROR_UNSUPPORTED,
                   "%s: a SentencePiece unigram model; Lathe reads BPE SentencePiece models "
                   "(LLaMA, Mistral, Gemma) and byte-level BPE tokenizer.json",
                   path);
      return FALSE;
    }
  v->model = "llama";
  return TRUE;
}

/* tokenizer.json ----------------------------------------------------------- */

static gboolean
bad_json (GError **error, const char *path, const char *fmt, ...) G_GNUC_PRINTF (3, 4);

static gboolean
bad_json (GError **error, const char *path, const char *fmt, ...)
{
  g_autofree char *what = NULL;
  va_list ap;

  va_start (ap, fmt);
  what = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_set_error (error, LATHE_ERROR, LATHE_ERROR_FORMAT, "%s: %s", path, what);
  return FALSE;
}

/* A boolean member, or dflt when it is missing or no boolean. */
static int
member_bool (JsonObject *o, const char *member, int dflt)
{
  JsonNode *n = json_object_get_member (o, member);

  if (n == NULL || !JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_BOOLEAN)
    return dflt;
  return json_node_get_boolean (n);
}

static const char *
node_string (JsonNode *n)
{
  if (n == NULL || !JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (n);
}

static gboolean
json_id (JsonNode *node, gint64 *out)
{
  double d;

  if (!lathe_json_get_finite (node, &d) || d < 0 || d >= MAX_TOKENS || d != (gint64) d)
    return FALSE;
  *out = (gint64) d;
  return TRUE;
}

static gboolean
read_json_vocab (const char *path, JsonObject *model, Vocab *v, GError **error)
{
  JsonNode *node = json_object_get_member (model, "vocab");
  g_autoptr (GList) members = NULL;
  JsonObject *vocab;

  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    return bad_json (error, path, "field 'model.vocab' is missing or not an object");
  vocab = json_node_get_object (node);
  members = json_object_get_members (vocab);
  for (GList *l = members; l != NULL; l = l->next)
    {
      gint64 id;
      if (!json_id (json_object_get_member (vocab, l->data), &id))
        return bad_json (error, path,
                         "field 'model.vocab' gives '%s' an id that is not an integer 0 to %d",
                         (const char *) l->data, MAX_TOKENS - 1);
      vocab_pad (v, (guint) id + 1);
      if (g_str_has_prefix (g_ptr_array_index (v->texts, id), "[PAD")
          && g_array_index (v->types, gint32, id) == LATHE_TOKEN_UNUSED)
        {
          g_free (g_ptr_array_index (v->texts, id));
          g_ptr_array_index (v->texts, id) = g_strdup (l->data);
          g_array_index (v->types, gint32, id) = LATHE_TOKEN_NORMAL;
        }
      else
        return bad_json (error, path, "field 'model.vocab' gives the id %" G_GINT64_FORMAT " twice",
                         id);
    }
  return TRUE;
}

static gboolean
read_json_merges (const char *path, JsonObject *model, Vocab *v, GError **error)
{
  JsonNode *node = json_object_get_member (model, "merges");
  JsonArray *merges;

  v->merges = g_ptr_array_new_with_free_func (g_free);
  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return TRUE;
  if (!JSON_NODE_HOLDS_ARRAY (node))
    return bad_json (error, path, "field 'model.merges' is not an array");
  merges = json_node_get_array (node);
  for (guint i = 0; i < json_array_get_length (merges); i++)
    {
      JsonNode *m = json_array_get_element (merges, i);
      if (JSON_NODE_HOLDS_VALUE (m) && json_node_get_value_type (m) == G_TYPE_STRING
          && strchr (json_node_get_string (m), ' ') != NULL)
        g_ptr_array_add (v->merges, g_strdup (json_node_get_string (m)));
      else if (JSON_NODE_HOLDS_ARRAY (m) && json_array_get_length (json_node_get_array (m)) == 2)
        {
          JsonArray *pair = json_node_get_array (m);
          const char *a = node_string (json_array_get_element (pair, 0));
          const char *b = node_string (json_array_get_element (pair, 1));
          if (a == NULL || b == NULL)
            return bad_json (error, path, "field 'model.merges' [%u] is not two strings", i);
          g_ptr_array_add (v->merges, g_strconcat (a, " ", b, NULL));
        }
      else
        return bad_json (error, path,
                         "field 'model.merges' [%u] is neither \"a b\" nor [\"a\", \"b\"]", i);
    }
  return TRUE;
}

/* added_tokens: special ones are control tokens, the others user-defined. */
static gboolean
read_json_added (const char *path, JsonObject *root, Vocab *v, GError **error)
{
  JsonNode *node = json_object_get_member (root, "added_tokens");
  JsonArray *added;

  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return TRUE;
  if (!JSON_NODE_HOLDS_ARRAY (node))
    return bad_json (error, path, "field 'added_tokens' is not an array");
  added = json_node_get_array (node);
  for (guint i = 0; i < json_array_get_length (added); i++)
    {
      JsonNode *e = json_array_get_element (added, i);
      JsonObject *o = JSON_NODE_HOLDS_OBJECT (e) ? json_node_get_object (e) : NULL;
      const char *content = o ? lathe_json_member_string (o, "content") : NULL;
      gint64 id;
      gboolean special;
      if (content == NULL || !json_id (json_object_get_member (o, "id"), &id))
        return bad_json (error, path,
                         "field 'added_tokens' [%u] needs 'id' (0 to %d) and 'content'", i,
                         MAX_TOKENS - 1);
      special = member_bool (o, "special", FALSE);
      vocab_pad (v, (guint) id + 1);
      g_free (g_ptr_array_index (v->texts, id));
      g_ptr_array_index (v->texts, id) = g_strdup (content);
      g_array_index (v->types, gint32, id) = special ? LATHE_TOKEN_CONTROL : LATHE_TOKEN_USER_DEFINED;
    }
  return TRUE;
}

/* GPT-2's expression, as ByteLevel uses it when use_regex is on. */
#define BYTE_LEVEL_RE \
  "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"

/* The expressions of one pre-tokenizer step, appended to res. */
static gboolean
pre_step (JsonObject *step, GPtrArray *res, const char **unknown)
{
  const char *type = lathe_json_member_string (step, "type");
  JsonNode *pattern;

  if (g_strcmp0 (type, "ByteLevel") == 0)
    {
      if (member_bool (step, "use_regex", TRUE))
        g_ptr_array_add (res, (gpointer) BYTE_LEVEL_RE);
      return TRUE;
    }
  if (g_strcmp0 (type, "Digits") == 0)
    {
      gboolean single = member_bool (step, "individual_digits", FALSE);
      g_ptr_array_add (res, (gpointer) (single ? "\\p{N}" : "\\p{N}+"));
      return TRUE;
    }
  pattern = json_object_get_member (step, "pattern");
  if (g_strcmp0 (type, "Split") == 0 && pattern != NULL && JSON_NODE_HOLDS_OBJECT (pattern)
      && lathe_json_member_string (json_node_get_object (pattern), "Regex") != NULL)
    {
      g_ptr_array_add (res, (gpointer) lathe_json_member_string (json_node_get_object (pattern),
                                                                 "Regex"));
      return TRUE;
    }
  *unknown = type != NULL ? type : "(no type)";
  return FALSE;
}

/* tokenizer.ggml.pre from the expressions of pre_tokenizer. */
static gboolean
find_pre (const char *path, JsonObject *root, gboolean ignore_merges, Vocab *v, GError **error)
{
  JsonNode *node = json_object_get_member (root, "pre_tokenizer");
  g_autoptr (GPtrArray) res = g_ptr_array_new ();
  const char *unknown = NULL;
  JsonObject *pre;

  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    return bad_json (error, path,
                     "field 'pre_tokenizer' is missing; name the pre-tokenizer with --pre");
  pre = json_node_get_object (node);
  if (g_strcmp0 (lathe_json_member_string (pre, "type"), "Sequence") == 0)
    {
      JsonNode *list = json_object_get_member (pre, "pretokenizers");
      JsonArray *steps = list && JSON_NODE_HOLDS_ARRAY (list) ? json_node_get_array (list) : NULL;
      for (guint i = 0; steps != NULL && i < json_array_get_length (steps) && unknown == NULL; i++)
        {
          JsonNode *s = json_array_get_element (steps, i);
          if (!JSON_NODE_HOLDS_OBJECT (s))
            unknown = "(not an object)";
          else
            pre_step (json_node_get_object (s), res, &unknown);
        }
    }
  else
    pre_step (pre, res, &unknown);
  if (unknown != NULL)
    return bad_json (error, path,
                     "pre-tokenizer step '%s' is not one Lathe reads (ByteLevel, Digits, Split "
                     "with a Regex); name the pre-tokenizer with --pre",
                     unknown);
  if (lk_pretok_match ((const char *const *) res->pdata, (int) res->len, ignore_merges, v->pre,
                       sizeof v->pre) == 0)
    return bad_json (error, path,
                     "its pre-tokenizer (expression 1 of %u: '%s') is none Lathe knows; "
                     "name one with --pre (e.g. gpt-2, llama-bpe, qwen2, smollm)",
                     res->len, res->len > 0 ? (const char *) res->pdata[0] : "");
  return TRUE;
}

/* A byte-fallback BPE (a SentencePiece vocabulary in tokenizer.json form):
 * each token's score is minus the rank of the merge that makes it, so that
 * SentencePiece's highest-score-first merging is BPE's lowest-rank-first. */
static void
scores_from_merges (Vocab *v)
{
  g_autoptr (GHashTable) ids = g_hash_table_new (g_str_hash, g_str_equal);

  for (guint i = 0; i < v->texts->len; i++)
    {
      const char *t = g_ptr_array_index (v->texts, i);
      gint32 type = g_array_index (v->types, gint32, i);
      if (type == LATHE_TOKEN_NORMAL && g_str_has_prefix (t, "<0x") && strlen (t) == 6
          && t[5] == '>')
        g_array_index (v->types, gint32, i) = LATHE_TOKEN_BYTE;
      g_hash_table_insert (ids, (gpointer) t, GUINT_TO_POINTER (i + 1));
    }
  for (guint r = v->merges->len; r-- > 0;)
    {
      g_autofree char *joined = g_strdup (g_ptr_array_index (v->merges, r));
      char *sp = strchr (joined, ' ');
      guint id;
      memmove (sp, sp + 1, strlen (sp));
      id = GPOINTER_TO_UINT (g_hash_table_lookup (ids, joined));
      if (id != 0)
        g_array_index (v->scores, float, id - 1) = -(float) r;
    }
}

static gboolean
read_tokenizer_json (const char *path, const char *pre, Vocab *v, GError **error)
{
  g_autoptr (JsonNode) root = lathe_json_load (path, TOKENIZER_LIMIT, error);
  JsonObject *o, *model;
  JsonNode *node;
  gboolean byte_fallback, ignore_merges;

  if (root == NULL)
    return FALSE;
  if (!JSON_NODE_HOLDS_OBJECT (root))
    return bad_json (error, path, "not a JSON object");
  o = json_node_get_object (root);
  node = json_object_get_member (o, "model");
  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    return bad_json (error, path, "field 'model' is missing or not an object");
  model = json_node_get_object (node);
  if (g_strcmp0 (lathe_json_member_string (model, "type"), "BPE") != 0)
    {
      g_set_error (error, LATHE_ERROR, LATHE_ERROR_UNSUPPORTED,
                   "%s: field 'model.type' is '%s', expected 'BPE' (WordPiece and Unigram "
                   "tokenizers are not read)",
                   path, lathe_json_member_string (model, "type"));
      return FALSE;
    }
  byte_fallback = member_bool (model, "byte_fallback", FALSE);
  ignore_merges = member_bool (model, "ignore_merges", FALSE);
  if (!read_json_vocab (path, model, v, error) || !read_json_merges (path, model, v, error)
      || !read_json_added (path, o, v, error))
    return FALSE;
  if (byte_fallback)
    {
      v->model = "llama";
      scores_from_merges (v);
      g_clear_pointer (&v->merges, g_ptr_array_unref);
      return TRUE;
    }
  v->model = "gpt2";
  if (pre != NULL)
    {
      g_strlcpy (v->pre, pre, sizeof v->pre);
      return TRUE;
    }
  return find_pre (path, o, ignore_merges, v, error);
}

/* Special tokens ------------------------------------------------------------ */

/* A token named in tokenizer_config.json: a string or {"content": …}. */
static const char *
config_token (JsonObject *o, const char *member)
{
  JsonNode *n = json_object_get_member (o, member);

  if (n != NULL && JSON_NODE_HOLDS_OBJECT (n))
    return lathe_json_member_string (json_node_get_object (n), "content");
  return lathe_json_member_string (o, member);
}

/* tokenizer_config.json's added_tokens_decoder: {"id": {"content", "special"}}. */
static void
read_added_decoder (JsonObject *tc, Vocab *v)
{
  JsonNode *n = json_object_get_member (tc, "added_tokens_decoder");
  g_autoptr (GList) members = NULL;
  JsonObject *dec;

  if (n == NULL || !JSON_NODE_HOLDS_OBJECT (n))
    return;
  dec = json_node_get_object (n);
  members = json_object_get_members (dec);
  for (GList *l = members; l != NULL; l = l->next)
    {
      JsonNode *e = json_object_get_member (dec, l->data);
      JsonObject *t = JSON_NODE_HOLDS_OBJECT (e) ? json_node_get_object (e) : NULL;
      const char *content = t ? lathe_json_member_string (t, "content") : NULL;
      gint64 id;
      if (content == NULL || !g_ascii_string_to_signed (l->data, 10, 0, v->texts->len - 1, &id,
                                                        NULL))
        continue;
      g_free (g_ptr_array_index (v->texts, id));
      g_ptr_array_index (v->texts, id) = g_strdup (content);
      g_array_index (v->scores, float, id) = -1000.0f;
      g_array_index (v->types, gint32, id) =
        member_bool (t, "special", FALSE)
          ? LATHE_TOKEN_CONTROL
          : LATHE_TOKEN_USER_DEFINED;
    }
}

static void
set_id_from_config (JsonObject *config, const char *member, gint64 n, gint64 *id)
{
  JsonNode *node = json_object_get_member (config, member);
  double d;

  /* eos_token_id may be a list (Llama 3.1): the first is the end of text. */
  if (node != NULL && JSON_NODE_HOLDS_ARRAY (node) && json_array_get_length (json_node_get_array (node)) > 0)
    node = json_array_get_element (json_node_get_array (node), 0);
  if (node != NULL && lathe_json_get_finite (node, &d) && d >= 0 && d < n)
    *id = (gint64) d;
}

static void
read_specials (const char *folder, JsonObject *config, Vocab *v, int *add_bos, int *add_eos)
{
  g_autofree char *path = g_build_filename (folder, "tokenizer_config.json", NULL);
  g_autoptr (JsonNode) root = NULL;
  static const struct
  {
    const char *token, *id;
    gsize offset;
  } specials[] = {
    { "bos_token", "bos_token_id", G_STRUCT_OFFSET (Vocab, bos) },
    { "eos_token", "eos_token_id", G_STRUCT_OFFSET (Vocab, eos) },
    { "unk_token", "unk_token_id", G_STRUCT_OFFSET (Vocab, unk) },
    { "pad_token", "pad_token_id", G_STRUCT_OFFSET (Vocab, pad) },
  };
  JsonObject *tc = NULL;

  *add_bos = *add_eos = -1;
  if (g_file_test (path, G_FILE_TEST_IS_REGULAR))
    root = lathe_json_load (path, TOKENIZER_LIMIT, NULL);
  if (root != NULL && JSON_NODE_HOLDS_OBJECT (root))
    {
      tc = json_node_get_object (root);
      read_added_decoder (tc, v);
      *add_bos = member_bool (tc, "add_bos_token", -1);
      *add_eos = member_bool (tc, "add_eos_token", -1);
    }
  for (guint i = 0; i < G_N_ELEMENTS (specials); i++)
    {
      gint64 *id = G_STRUCT_MEMBER_P (v, specials[i].offset);
      const char *text = tc != NULL ? config_token (tc, specials[i].token) : NULL;
      gint64 found = text != NULL ? vocab_find (v, text) : -1;
      if (found >= 0)
        *id = found;
      else
        set_id_from_config (config, specials[i].id, v->texts->len, id);
    }
}

static void
set_id (lk_gguf_writer *w, const char *key, gint64 id, guint n)
{
  if (id >= 0 && id < n)
    lk_gguf_writer_set_u32 (w, key, (guint32) id);
}

static void
write_vocab (const Vocab *v, int add_bos, int add_eos, lk_gguf_writer *w)
{
  const guint n = v->texts->len;
  g_autofree gsize *lens = g_new (gsize, n);

  for (guint i = 0; i < n; i++)
    lens[i] = strlen (g_ptr_array_index (v->texts, i));
  lk_gguf_writer_set_str (w, "tokenizer.ggml.model", v->model);
  lk_gguf_writer_set_str (w, "tokenizer.ggml.pre", v->pre);
  lk_gguf_writer_set_arr_str (w, "tokenizer.ggml.tokens", (const char *const *) v->texts->pdata,
                              lens, n);
  if (v->merges == NULL)
    lk_gguf_writer_set_arr (w, "tokenizer.ggml.scores", LK_GGUF_FLOAT32, v->scores->data, n);
  lk_gguf_writer_set_arr (w, "tokenizer.ggml.token_type", LK_GGUF_INT32, v->types->data, n);
  if (v->merges != NULL)
    {
      g_autofree gsize *mlens = g_new (gsize, v->merges->len + 1);
      for (guint i = 0; i < v->merges->len; i++)
        mlens[i] = strlen (g_ptr_array_index (v->merges, i));
      lk_gguf_writer_set_arr_str (w, "tokenizer.ggml.merges",
                                  (const char *const *) v->merges->pdata, mlens, v->merges->len);
    }
  set_id (w, "tokenizer.ggml.bos_token_id", v->bos, n);
  set_id (w, "tokenizer.ggml.eos_token_id", v->eos, n);
  set_id (w, "tokenizer.ggml.unknown_token_id", v->unk, n);
  set_id (w, "tokenizer.ggml.padding_token_id", v->pad, n);
  if (add_bos >= 0)
    lk_gguf_writer_set_bool (w, "tokenizer.ggml.add_bos_token", add_bos);
  if (add_eos >= 0)
    lk_gguf_writer_set_bool (w, "tokenizer.ggml.add_eos_token", add_eos);
  if (v->add_space_prefix >= 0)
    lk_gguf_writer_set_bool (w, "tokenizer.ggml.add_space_prefix", v->add_space_prefix);
}

gboolean
lathe_hf_write_tokenizer (const char *folder, JsonObject *config, gint n_vocab, const char *pre,
                          lk_gguf_writer *w, gint *n_tokens, GError **error)
{
  g_autofree char *spm = g_build_filename (folder, "tokenizer.model", NULL);
  g_autofree char *json = g_build_filename (folder, "tokenizer.json", NULL);
  Vocab v;
  gboolean ok;
  int add_bos, add_eos;

  vocab_init (&v);
  if (g_file_test (spm, G_FILE_TEST_IS_REGULAR))
    ok = read_spm (spm, &v, error);
  else if (g_file_test (json, G_FILE_TEST_IS_REGULAR))
    ok = read_tokenizer_json (json, pre, &v, error);
  else
    {
      g_set_error (error, LATHE_ERROR, LATHE_ERROR_IO,
                   "%s: no tokenizer.model or tokenizer.json: the checkpoint needs its tokenizer",
                   folder);
      ok = FALSE;
    }
  if (ok && n_vocab > 0 && (guint) n_vocab < v.texts->len)
    {
      g_set_error (error, LATHE_ERROR, LATHE_ERROR_FORMAT,
                   "%s: the tokenizer has %u tokens, but config.json's 'vocab_size' is %d", folder,
                   v.texts->len, n_vocab);
      ok = FALSE;
    }
  if (ok)
    {
      vocab_pad (&v, (guint) MAX (n_vocab, 0));
      read_specials (folder, config, &v, &add_bos, &add_eos);
      write_vocab (&v, add_bos, add_eos, w);
      *n_tokens = (gint) v.texts->len;
    }
  vocab_clear (&v);
  return ok;
}
