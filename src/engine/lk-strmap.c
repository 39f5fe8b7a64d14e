/* SPDX-License-Identifier: MIT */
#include <stdlib.h>
#include <string.h>

#include "lk-strmap.h"

uint64_t
lk_hash_bytes (const void *data, size_t len)
{
  /* FNV-1a, then a final mix so that low bits depend on every byte. */
  const uint8_t *p = data;
  uint64_t h = 0xcbf29ce484222325ull;

  for (size_t i = 0; i < len; i++)
    {
      h ^= p[i];
      h *= 0x100000001b3ull;
    }
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return h;
}

bool
lk_strmap_init (lk_strmap *m, size_t expected)
{
  size_t cap = 16;

  while (cap < expected * 2 + 1)
    cap *= 2;
  m->slots = calloc (cap, sizeof *m->slots);
  m->cap = m->slots ? cap : 0;
  m->count = 0;
  return m->slots != NULL;
}

void
lk_strmap_clear (lk_strmap *m)
{
  free (m->slots);
  memset (m, 0, sizeof *m);
}

static lk_strmap_slot *
find_slot (lk_strmap_slot *slots, size_t cap, const char *key, size_t len)
{
  size_t i = (size_t) lk_hash_bytes (key, len) & (cap - 1);

  for (;;)
    {
      lk_strmap_slot *s = &slots[i];
      if (s->key == NULL || (s->len == len && memcmp (s->key, key, len) == 0))
        return s;
      i = (i + 1) & (cap - 1);
    }
}

static bool
grow (lk_strmap *m)
{
  const size_t cap = m->cap ? m->cap * 2 : 16;
  lk_strmap_slot *slots = calloc (cap, sizeof *slots);

  if (slots == NULL)
    return false;
  for (size_t i = 0; i < m->cap; i++)
    if (m->slots[i].key != NULL)
      *find_slot (slots, cap, m->slots[i].key, m->slots[i].len) = m->slots[i];
  free (m->slots);
  m->slots = slots;
  m->cap = cap;
  return true;
}

bool
lk_strmap_put (lk_strmap *m, const char *key, size_t len, int32_t value, int32_t *old,
               bool *existed)
{
  lk_strmap_slot *s;

  if (len > UINT32_MAX)
    return false;
  if ((m->count + 1) * 2 > m->cap && !grow (m))
    return false;
  s = find_slot (m->slots, m->cap, key, len);
  if (existed)
    *existed = s->key != NULL;
  if (s->key != NULL)
    {
      if (old)
        *old = s->value;
    }
  else
    {
      s->key = key;
      s->len = (uint32_t) len;
      m->count++;
    }
  s->value = value;
  return true;
}

bool
lk_strmap_lookup (const lk_strmap *m, const char *key, size_t len, int32_t *value)
{
  const lk_strmap_slot *s;

  if (m->cap == 0)
    return false;
  s = find_slot (m->slots, m->cap, key, len);
  if (s->key == NULL)
    return false;
  *value = s->value;
  return true;
}

int32_t
lk_strmap_get (const lk_strmap *m, const char *key, size_t len)
{
  int32_t v;

  return lk_strmap_lookup (m, key, len, &v) ? v : -1;
}
