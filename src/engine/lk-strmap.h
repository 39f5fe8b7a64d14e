/* SPDX-License-Identifier: MIT */
/* A hash map from byte strings to int32 values (open addressing). The keys
 * are referenced, not copied: they must outlive the map. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct
{
  const char *key;
  uint32_t len;
  int32_t value;
} lk_strmap_slot;

typedef struct
{
  lk_strmap_slot *slots;
  size_t cap; /* a power of two */
  size_t count;
} lk_strmap;

bool lk_strmap_init (lk_strmap *m, size_t expected);
void lk_strmap_clear (lk_strmap *m);
/* Inserts or replaces. Returns false on allocation failure. If the key was
 * present, *old (when given) receives its previous value. */
bool lk_strmap_put (lk_strmap *m, const char *key, size_t len, int32_t value, int32_t *old,
                    bool *existed);
/* -1 when absent (values are assumed non-negative by callers that use this). */
int32_t lk_strmap_get (const lk_strmap *m, const char *key, size_t len);
bool lk_strmap_lookup (const lk_strmap *m, const char *key, size_t len, int32_t *value);

uint64_t lk_hash_bytes (const void *data, size_t len);
