/* SPDX-License-Identifier: MIT */
/* Pre-tokenizers of byte-level BPE vocabularies.
 *
 * A GGUF file names its pre-tokenizer in tokenizer.ggml.pre; each name stands
 * for a list of regular expressions (those of the model's tokenizer.json).
 * The text is split by the first expression into matches and the gaps
 * between them; every piece is split again by the next expression, and so
 * on. The expressions use Unicode properties, so they run on PCRE2 in UTF
 * mode with Unicode character classes.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lk-vocab-private.h"

#define GPT2_RE "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"

#define LLAMA3_RE                                                                              \
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}"                     \
  "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

#define QWEN2_RE                                                                               \
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}"                          \
  "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

#define TEKKEN_RE                                                                              \
  "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+"  \
  "|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*" \
  "|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

#define BLOOM_RE " ?[^(\\s|.,!?\xe2\x80\xa6\xe3\x80\x82\xef\xbc\x8c\xe3\x80\x81\xe0\xa5\xa4\xdb\x94\xd8\x8c)]+"

/* The letter ranges of DeepSeek's tokenizer: Latin, Greek, Cyrillic,
 * Armenian, Georgian, Cherokee and other cased scripts, as its
 * tokenizer.json lists them. */
#define DEEPSEEK_LETTERS                                                                       \
  "\\s?[A-Za-z\xc2\xb5\xc3\x80-\xc3\x96\xc3\x98-\xc3\xb6\xc3\xb8-\xc6\xba\xc6\xbc-\xc6\xbf"    \
  "\xc7\x84-\xca\x93\xca\x95-\xca\xaf\xcd\xb0-\xcd\xb3\xcd\xb6\xcd\xb7\xcd\xbb-\xcd\xbd"       \
  "\xcd\xbf\xce\x86\xce\x88-\xce\x8a\xce\x8c\xce\x8e-\xce\xa1\xce\xa3-\xcf\xb5\xcf\xb7-\xd2\x81" \
  "\xd2\x8a-\xd4\xaf\xd4\xb1-\xd5\x96\xe1\x82\xa0-\xe1\x83\x85\xe1\x8e\xa0-\xe1\x8f\xb5"       \
  "\xe1\x8f\xb8-\xe1\x8f\xbd\xe1\xb2\x90-\xe1\xb2\xba\xe1\xb2\xbd-\xe1\xb2\xbf"                 \
  "\xe1\xb4\x80-\xe1\xb4\xab\xe1\xb5\xab-\xe1\xb5\xb7\xe1\xb5\xb9-\xe1\xb6\x9a"                 \
  "\xe1\xb8\x80-\xe1\xbc\x95\xe1\xbc\x98-\xe1\xbc\x9d\xe1\xbc\xa0-\xe1\xbd\x85"                 \
  "\xe1\xbd\x88-\xe1\xbd\x8d\xe1\xbd\x90-\xe1\xbd\x97\xe1\xbd\x99\xe1\xbd\x9b\xe1\xbd\x9d"      \
  "\xe1\xbd\x9f-\xe1\xbd\xbd\xe1\xbe\x80-\xe1\xbe\xb4\xe1\xbe\xb6-\xe1\xbe\xbc\xe1\xbe\xbe"      \
  "\xe1\xbf\x82-\xe1\xbf\x84\xe1\xbf\x86-\xe1\xbf\x8c\xe1\xbf\x90-\xe1\xbf\x93"                 \
  "\xe1\xbf\x96-\xe1\xbf\x9b\xe1\xbf\xa0-\xe1\xbf\xac\xe1\xbf\xb2-\xe1\xbf\xb4"                 \
  "\xe1\xbf\xb6-\xe1\xbf\xbc\xe2\x84\x82\xe2\x84\x87\xe2\x84\x8a-\xe2\x84\x93\xe2\x84\x95"      \
  "\xe2\x84\x99-\xe2\x84\x9d\xe2\x84\xa4\xe2\x84\xa6\xe2\x84\xa8\xe2\x84\xaa-\xe2\x84\xad"      \
  "\xe2\x84\xaf-\xe2\x84\xb4\xe2\x84\xb9\xe2\x84\xbc-\xe2\x84\xbf\xe2\x85\x85-\xe2\x85\x89"      \
  "\xe2\x85\x8e\xe2\x86\x83\xe2\x86\x84\xe2\xb0\x80-\xe2\xb1\xbb\xe2\xb1\xbe-\xe2\xb3\xa4"      \
  "\xe2\xb3\xab-\xe2\xb3\xae\xe2\xb3\xb2\xe2\xb3\xb3\xea\x99\x80-\xea\x99\xad"                 \
  "\xea\x9a\x80-\xea\x9a\x9b\xea\x9c\xa2-\xea\x9d\xaf\xea\x9d\xb1-\xea\x9e\x87"                 \
  "\xea\x9e\x8b-\xea\x9e\x8e\xea\xad\xb0-\xea\xae\xbf\xef\xac\x80-\xef\xac\x86"                 \
  "\xef\xac\x93-\xef\xac\x97\xef\xbc\xa1-\xef\xbc\xba\xef\xbd\x81-\xef\xbd\x9a"                 \
  "\xf0\x90\x90\x80-\xf0\x90\x91\x8f\xf0\x90\x92\xb0-\xf0\x90\x93\x93"                         \
  "\xf0\x90\x93\x98-\xf0\x90\x93\xbb\xf0\x90\xb2\x80-\xf0\x90\xb2\xb2"                         \
  "\xf0\x90\xb3\x80-\xf0\x90\xb3\xb2\xf0\x91\xa2\xa0-\xf0\x91\xa3\x9f"                         \
  "\xf0\x9e\xa4\x80-\xf0\x9e\xa5\x83]+"

/* CJK ideographs, Samaritan..CJK, Hangul: [一-龥ࠀ-一가-퟿] */
#define DEEPSEEK_CJK "[\xe4\xb8\x80-\xe9\xbe\xa5\xe0\xa0\x80-\xe4\xb8\x80\xea\xb0\x80-\xed\x9f\xbf]+"

typedef struct
{
  const char *names; /* space-separated names GGUF files use */
  bool ignore_merges;
  const char *regex[LK_MAX_PRETOK_REGEX];
} pretok_def;

static const pretok_def defs[] = {
  { "default", false,
    { "[\\p{P}\\$\\+<=>\\^~\\|]+", GPT2_RE, "\\p{N}+", "[0-9][0-9][0-9]" } },
  { "gpt-2 phi-2 jina-es jina-de gigachat jina-v1-en jina-v2-es jina-v2-de jina-v2-code "
    "roberta-bpe mpt olmo jais", false, { GPT2_RE } },
  { "llama-bpe llama3 llama-v3 falcon3", true, { LLAMA3_RE } },
  { "dbrx smaug-bpe chatglm-bpe", false, { LLAMA3_RE } },
  { "qwen2 stablelm2 megrez", false, { QWEN2_RE } },
  { "starcoder refact command-r smollm codeshell exaone minerva-7b", false,
    { "\\p{N}", GPT2_RE } },
  { "falcon", false,
    { "[\\p{P}\\$\\+<=>\\^~\\|`]+", GPT2_RE, "[0-9][0-9][0-9]" } },
  { "deepseek-llm", false,
    { "[\r\n]", DEEPSEEK_LETTERS, "\\s?[!-/:-~\xef\xbc\x81-\xef\xbc\x8f\xef\xbc\x9a-\xef\xbd\x9e"
      "\xe2\x80\x98-\xe2\x80\x9f\xe3\x80\x80-\xe3\x80\x82]+",
      "\\s+$", DEEPSEEK_CJK, "\\p{N}+" } },
  { "deepseek-coder", false,
    { "[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", DEEPSEEK_CJK, "\\p{N}" } },
  { "deepseek-v3", false,
    { "\\p{N}{1,3}",
      "[\xe4\xb8\x80-\xe9\xbe\xa5\xe3\x81\x80-\xe3\x82\x9f\xe3\x82\xa0-\xe3\x83\xbf]+",
      "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?"
      "[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+" } },
  { "poro-chat bloom gpt3-finnish", false, { BLOOM_RE } },
  { "viking", false, { BLOOM_RE, "\\p{N}" } },
  { "tekken", true, { TEKKEN_RE } },
  { "chameleon", false,
    { "<sentinel:[0-9]+>", "(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z", "([\\t\\n]|    |  )",
      "\\p{N}", "[\\p{P}!-/:-@\\[-`{-~]", GPT2_RE } },
};

struct lk_pretok
{
  const pretok_def *def;
  pcre2_code *code[LK_MAX_PRETOK_REGEX];
  int n;
};

static bool
name_in_list (const char *list, const char *name)
{
  const size_t n = strlen (name);

  for (const char *p = list; *p;)
    {
      const char *end = strchr (p, ' ');
      const size_t len = end ? (size_t) (end - p) : strlen (p);
      if (len == n && memcmp (p, name, n) == 0)
        return true;
      if (end == NULL)
        break;
      p = end + 1;
    }
  return false;
}

static const pretok_def *
find_def (const char *name)
{
  for (size_t i = 0; i < sizeof defs / sizeof defs[0]; i++)
    if (name_in_list (defs[i].names, name))
      return &defs[i];
  return NULL;
}

bool
lk_pretok_known (const char *name)
{
  return find_def (name) != NULL;
}

/* Equal, or equal but for a last "|\\s+" one of them has: tokenizer.json
 * writes GPT-2's expression with it, llama.cpp's copy leaves it out (the
 * alternative before it already takes every such run but the last space). */
static bool
same_regex (const char *a, const char *b)
{
  static const char tail[] = "|\\s+";
  size_t na = strlen (a), nb = strlen (b);
  const size_t nt = sizeof tail - 1;

  if (na >= nt && strcmp (a + na - nt, tail) == 0)
    na -= nt;
  if (nb >= nt && strcmp (b + nb - nt, tail) == 0)
    nb -= nt;
  return na == nb && memcmp (a, b, na) == 0;
}

size_t
lk_pretok_match (const char *const *regex, int n, bool ignore_merges, char *name, size_t cap)
{
  for (size_t i = 0; i < sizeof defs / sizeof defs[0]; i++)
    {
      const pretok_def *d = &defs[i];
      int k = 0;
      while (k < LK_MAX_PRETOK_REGEX && d->regex[k] != NULL)
        k++;
      if (k != n || d->ignore_merges != ignore_merges)
        continue;
      for (k = 0; k < n && same_regex (d->regex[k], regex[k]); k++)
        ;
      if (k == n)
        {
          const size_t len = strcspn (d->names, " ");
          if (cap > 0)
            snprintf (name, cap, "%.*s", (int) len, d->names);
          return len;
        }
    }
  return 0;
}

void
lk_pretok_free (lk_pretok *p)
{
  if (p == NULL)
    return;
  for (int i = 0; i < p->n; i++)
    pcre2_code_free (p->code[i]);
  free (p);
}

lk_pretok *
lk_pretok_new (const char *name, bool *ignore_merges, lk_error *err)
{
  const pretok_def *def = find_def (name);
  lk_pretok *p;

  if (def == NULL)
    {
      lk_error_set (err, LK_ERR_UNSUPPORTED,
                    "field 'tokenizer.ggml.pre' is '%s', a pre-tokenizer Lathe does not know "
                    "(known: llama3, qwen2, gpt-2, deepseek-llm, deepseek-coder, deepseek-v3, "
                    "falcon, starcoder, smollm, tekken, chameleon, bloom, viking, default, …)",
                    name);
      return NULL;
    }
  p = calloc (1, sizeof *p);
  if (p == NULL)
    {
      lk_error_set (err, LK_ERR_NOMEM, "out of memory");
      return NULL;
    }
  p->def = def;
  *ignore_merges = def->ignore_merges;
  for (int i = 0; i < LK_MAX_PRETOK_REGEX && def->regex[i] != NULL; i++)
    {
      int errcode;
      PCRE2_SIZE erroff;
      pcre2_code *code = pcre2_compile ((PCRE2_SPTR) def->regex[i], PCRE2_ZERO_TERMINATED,
                                        PCRE2_UTF | PCRE2_UCP, &errcode, &erroff, NULL);
      if (code == NULL)
        {
          PCRE2_UCHAR msg[256];
          pcre2_get_error_message (errcode, msg, sizeof msg);
          lk_error_set (err, LK_ERR_UNSUPPORTED,
                        "pre-tokenizer '%s': expression %d does not compile at %zu: %s", name, i,
                        (size_t) erroff, (const char *) msg);
          lk_pretok_free (p);
          return NULL;
        }
      /* JIT is an optimisation: without it (e.g. where it is unsupported)
       * the interpreter gives the same matches. */
      pcre2_jit_compile (code, PCRE2_JIT_COMPLETE);
      p->code[p->n++] = code;
    }
  return p;
}

static bool
push_range (size_t **ranges, size_t *n, size_t *cap, size_t start, size_t end)
{
  if (*n + 2 > *cap)
    {
      const size_t ncap = *cap ? *cap * 2 : 64;
      size_t *r = realloc (*ranges, ncap * sizeof *r);
      if (r == NULL)
        return false;
      *ranges = r;
      *cap = ncap;
    }
  (*ranges)[(*n)++] = start;
  (*ranges)[(*n)++] = end;
  return true;
}

/* Splits [start, end) of text with one expression, appending matches and the
 * gaps between them. The expression sees only that piece, so look-arounds
 * stop at its edges. */
static lk_status
split_piece (pcre2_code *code, pcre2_match_data *md, const char *text, size_t start, size_t end,
             size_t **out, size_t *n_out, size_t *cap, lk_error *err)
{
  const PCRE2_SPTR subject = (PCRE2_SPTR) (text + start);
  const size_t len = end - start;
  size_t pos = 0, last = 0;

  while (pos < len)
    {
      const int rc = pcre2_match (code, subject, len, pos, PCRE2_NO_UTF_CHECK, md, NULL);
      if (rc == PCRE2_ERROR_NOMATCH)
        break;
      if (rc < 0)
        return lk_error_set (err, LK_ERR_INVALID, "pre-tokenizer: regular expression error %d", rc);
      const PCRE2_SIZE *ov = pcre2_get_ovector_pointer (md);
      size_t ms = ov[0], me = ov[1];
      if (me == ms)
        {
          /* An empty match splits nothing: step over one character. */
          pos = ms + lk_utf8_len ((uint8_t) text[start + ms]);
          continue;
        }
      if (ms > last && !push_range (out, n_out, cap, start + last, start + ms))
        return lk_error_set (err, LK_ERR_NOMEM, "out of memory");
      if (!push_range (out, n_out, cap, start + ms, start + me))
        return lk_error_set (err, LK_ERR_NOMEM, "out of memory");
      last = pos = me;
    }
  if (last < len && !push_range (out, n_out, cap, start + last, end))
    return lk_error_set (err, LK_ERR_NOMEM, "out of memory");
  return LK_OK;
}

lk_status
lk_pretok_split (const lk_pretok *p, const char *text, size_t len, size_t **ranges,
                 size_t *n_ranges, size_t *cap, lk_error *err)
{
  size_t *cur = NULL, n_cur = 0, cap_cur = 0;
  pcre2_match_data *md = NULL;
  lk_status status = LK_OK;

  if (len == 0)
    return LK_OK;
  if (!push_range (&cur, &n_cur, &cap_cur, 0, len))
    return lk_error_set (err, LK_ERR_NOMEM, "out of memory");
  for (int r = 0; r < p->n && status == LK_OK; r++)
    {
      size_t *next = NULL, n_next = 0, cap_next = 0;
      md = pcre2_match_data_create_from_pattern (p->code[r], NULL);
      if (md == NULL)
        status = lk_error_set (err, LK_ERR_NOMEM, "out of memory");
      for (size_t i = 0; i < n_cur && status == LK_OK; i += 2)
        status = split_piece (p->code[r], md, text, cur[i], cur[i + 1], &next, &n_next,
                              &cap_next, err);
      pcre2_match_data_free (md);
      free (cur);
      cur = next;
      n_cur = n_next;
      cap_cur = cap_next;
    }
  for (size_t i = 0; i < n_cur && status == LK_OK; i += 2)
    if (!push_range (ranges, n_ranges, cap, cur[i], cur[i + 1]))
      status = lk_error_set (err, LK_ERR_NOMEM, "out of memory");
  free (cur);
  return status;
}
