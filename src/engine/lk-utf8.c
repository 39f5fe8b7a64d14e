/* SPDX-License-Identifier: MIT */
#include <stdlib.h>
#include <string.h>

#include "lk-vocab-private.h"

size_t
lk_utf8_len (uint8_t c)
{
  static const uint8_t lookup[16] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4 };

  return lookup[c >> 4];
}

size_t
lk_utf8_decode (const char *str, size_t len, uint32_t *cp)
{
  const uint8_t *s = (const uint8_t *) str;
  size_t n;
  uint32_t c;

  if (len == 0)
    return 0;
  if (s[0] < 0x80)
    {
      *cp = s[0];
      return 1;
    }
  if (s[0] < 0xC2 || s[0] > 0xF4)
    return 0;
  n = s[0] < 0xE0 ? 2 : s[0] < 0xF0 ? 3 : 4;
  if (n > len)
    return 0;
  c = s[0] & (0x7F >> n);
  for (size_t i = 1; i < n; i++)
    {
      if ((s[i] & 0xC0) != 0x80)
        return 0;
      c = (c << 6) | (s[i] & 0x3F);
    }
  /* Overlong forms, surrogates and values past U+10FFFF are invalid. */
  if ((n == 3 && c < 0x800) || (n == 4 && c < 0x10000) || c > 0x10FFFF
      || (c >= 0xD800 && c <= 0xDFFF))
    return 0;
  *cp = c;
  return n;
}

size_t
lk_utf8_encode (uint32_t cp, char out[4])
{
  if (cp < 0x80)
    {
      out[0] = (char) cp;
      return 1;
    }
  if (cp < 0x800)
    {
      out[0] = (char) (0xC0 | (cp >> 6));
      out[1] = (char) (0x80 | (cp & 0x3F));
      return 2;
    }
  if (cp < 0x10000)
    {
      out[0] = (char) (0xE0 | (cp >> 12));
      out[1] = (char) (0x80 | ((cp >> 6) & 0x3F));
      out[2] = (char) (0x80 | (cp & 0x3F));
      return 3;
    }
  out[0] = (char) (0xF0 | (cp >> 18));
  out[1] = (char) (0x80 | ((cp >> 12) & 0x3F));
  out[2] = (char) (0x80 | ((cp >> 6) & 0x3F));
  out[3] = (char) (0x80 | (cp & 0x3F));
  return 4;
}

char *
lk_utf8_sanitize (const char *text, size_t len, size_t *out_len)
{
  /* Each invalid byte becomes three bytes at most. */
  char *out = malloc (len * 3 + 1);
  size_t o = 0;

  if (out == NULL)
    return NULL;
  for (size_t i = 0; i < len;)
    {
      uint32_t cp;
      const size_t n = lk_utf8_decode (text + i, len - i, &cp);
      if (n == 0)
        {
          o += lk_utf8_encode (0xFFFD, out + o);
          i++;
        }
      else
        {
          memcpy (out + o, text + i, n);
          o += n;
          i += n;
        }
    }
  out[o] = '\0';
  *out_len = o;
  return out;
}
