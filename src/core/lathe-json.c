/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lathe-json"

#include "config.h"

#include <glib/gi18n-lib.h>
#include <math.h>
#include <string.h>

#include "lathe-error.h"
#include "lathe-io.h"
#include "lathe-json.h"

/* Reading ------------------------------------------------------------------- */

/* The deepest nesting of arrays and objects in text, counted outside
 * strings, stopping as soon as it passes max. */
static int
nesting (const char *text, gsize len, int max)
{
  gboolean in_string = FALSE, escaped = FALSE;
  int depth = 0, deepest = 0;

  for (gsize i = 0; i < len; i++)
    {
      const char c = text[i];
      if (in_string)
        {
          if (escaped)
            escaped = FALSE;
          else if (c == '\\')
            escaped = TRUE;
          else if (c == '"')
            in_string = FALSE;
          continue;
        }
      if (c == '"')
        in_string = TRUE;
      else if (c == '[' || c == '{')
        {
          if (++depth > deepest && (deepest = depth) > max)
            return deepest;
        }
      else if ((c == ']' || c == '}') && depth > 0)
        depth--;
    }
  return deepest;
}

JsonNode *
lathe_json_parse (const char *text, gssize len, const char *origin, GError **error)
{
  g_autoptr (JsonParser) parser = NULL;
  g_autoptr (GError) local = NULL;
  const gsize n = len < 0 ? strlen (text) : (gsize) len;
  JsonNode *root;

  if (n > LATHE_JSON_LIMIT)
    {
      g_autofree char *size = g_format_size (LATHE_JSON_LIMIT);
      g_set_error (error, LATHE_ERROR, LATHE_ERROR_FORMAT, _("%s: longer than %s, the most Lathe reads as JSON"),
                   origin, size);
      return NULL;
    }
  if (nesting (text, n, LATHE_JSON_MAX_DEPTH) > LATHE_JSON_MAX_DEPTH)
    {
      g_set_error (error, LATHE_ERROR, LATHE_ERROR_FORMAT,
                   _("%s: arrays and objects nested deeper than %d levels (not JSON Lathe reads)"), origin,
                   LATHE_JSON_MAX_DEPTH);
      return NULL;
    }
  parser = json_parser_new ();
  if (!json_parser_load_from_data (parser, text, (gssize) n, &local))
    {
      g_set_error (error, LATHE_ERROR, LATHE_ERROR_FORMAT, _("%s: not valid JSON: %s"), origin, local->message);
      return NULL;
    }
  if ((root = json_parser_steal_root (parser)) == NULL)
    g_set_error (error, LATHE_ERROR, LATHE_ERROR_FORMAT, _("%s: empty (expected JSON)"), origin);
  return root;
}

JsonNode *
lathe_json_load (const char *path, gsize limit, GError **error)
{
  gsize len = 0;
  g_autofree char *text = lathe_file_read_bounded (path, limit > 0 ? limit : LATHE_JSON_LIMIT, &len, error);

  if (text == NULL)
    return NULL;
  return lathe_json_parse (text, (gssize) len, path, error);
}

gboolean
lathe_json_get_finite (JsonNode *node, double *out)
{
  GType type;

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node))
    return FALSE;
  type = json_node_get_value_type (node);
  if (type == G_TYPE_INT64)
    *out = (double) json_node_get_int (node);
  else if (type == G_TYPE_DOUBLE)
    *out = json_node_get_double (node);
  else
    return FALSE;
  return isfinite (*out);
}

gboolean
lathe_json_member_finite (JsonObject *o, const char *member, double *out)
{
  return o != NULL && lathe_json_get_finite (json_object_get_member (o, member), out);
}

const char *
lathe_json_member_string (JsonObject *o, const char *member)
{
  JsonNode *n = o != NULL ? json_object_get_member (o, member) : NULL;

  if (n == NULL || !JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (n);
}

/* Writing ------------------------------------------------------------------- */

static void
put_string (GString *s, const char *text)
{
  g_autofree char *valid = NULL;

  if (text == NULL)
    text = "";
  /* Text from a device or a file may not be UTF-8; JSON must be. */
  if (!g_utf8_validate (text, -1, NULL))
    text = valid = g_utf8_make_valid (text, -1);
  g_string_append_c (s, '"');
  for (const unsigned char *p = (const unsigned char *) text; *p != '\0'; p++)
    switch (*p)
      {
      case '"': g_string_append (s, "\\\""); break;
      case '\\': g_string_append (s, "\\\\"); break;
      case '\b': g_string_append (s, "\\b"); break;
      case '\f': g_string_append (s, "\\f"); break;
      case '\n': g_string_append (s, "\\n"); break;
      case '\r': g_string_append (s, "\\r"); break;
      case '\t': g_string_append (s, "\\t"); break;
      default:
        if (*p < 0x20)
          g_string_append_printf (s, "\\u%04x", *p);
        else
          g_string_append_c (s, (char) *p);
      }
  g_string_append_c (s, '"');
}

/* The shortest text that reads back as v, and reads back as a number with
 * a fraction (so that 3.0 stays a double): "0.1", "3.0", "1e+22". */
static void
put_double (GString *s, double v)
{
  char buf[G_ASCII_DTOSTR_BUF_SIZE];

  if (!isfinite (v))
    {
      g_string_append (s, "null");
      return;
    }
  for (int digits = 15; digits <= 17; digits++)
    {
      char format[8];
      g_snprintf (format, sizeof format, "%%.%dg", digits);
      g_ascii_formatd (buf, sizeof buf, format, v);
      if (g_ascii_strtod (buf, NULL) == v)
        break;
    }
  g_string_append (s, buf);
  if (strpbrk (buf, ".eE") == NULL)
    g_string_append (s, ".0");
}

static void
put_value (GString *s, JsonNode *node)
{
  const GType type = json_node_get_value_type (node);

  if (type == G_TYPE_INT64)
    g_string_append_printf (s, "%" G_GINT64_FORMAT, json_node_get_int (node));
  else if (type == G_TYPE_DOUBLE)
    put_double (s, json_node_get_double (node));
  else if (type == G_TYPE_BOOLEAN)
    g_string_append (s, json_node_get_boolean (node) ? "true" : "false");
  else if (type == G_TYPE_STRING)
    put_string (s, json_node_get_string (node));
  else
    g_string_append (s, "null");
}

static void
newline (GString *s, gboolean pretty, int level)
{
  if (!pretty)
    return;
  g_string_append_c (s, '\n');
  for (int i = 0; i < level; i++)
    g_string_append (s, "  ");
}

static void put_node (GString *s, JsonNode *node, gboolean pretty, int level);

static void
put_object (GString *s, JsonObject *o, gboolean pretty, int level)
{
  g_autoptr (GList) members = json_object_get_members (o);

  if (members == NULL)
    {
      g_string_append (s, "{}");
      return;
    }
  g_string_append_c (s, '{');
  for (GList *l = members; l != NULL; l = l->next)
    {
      newline (s, pretty, level + 1);
      put_string (s, l->data);
      g_string_append (s, pretty ? " : " : ":");
      put_node (s, json_object_get_member (o, l->data), pretty, level + 1);
      if (l->next != NULL)
        g_string_append_c (s, ',');
    }
  newline (s, pretty, level);
  g_string_append_c (s, '}');
}

static void
put_array (GString *s, JsonArray *a, gboolean pretty, int level)
{
  const guint n = json_array_get_length (a);

  if (n == 0)
    {
      g_string_append (s, "[]");
      return;
    }
  g_string_append_c (s, '[');
  for (guint i = 0; i < n; i++)
    {
      newline (s, pretty, level + 1);
      put_node (s, json_array_get_element (a, i), pretty, level + 1);
      if (i + 1 < n)
        g_string_append_c (s, ',');
    }
  newline (s, pretty, level);
  g_string_append_c (s, ']');
}

static void
put_node (GString *s, JsonNode *node, gboolean pretty, int level)
{
  switch (node != NULL ? json_node_get_node_type (node) : JSON_NODE_NULL)
    {
    case JSON_NODE_OBJECT: put_object (s, json_node_get_object (node), pretty, level); break;
    case JSON_NODE_ARRAY: put_array (s, json_node_get_array (node), pretty, level); break;
    case JSON_NODE_VALUE: put_value (s, node); break;
    case JSON_NODE_NULL:
    default: g_string_append (s, "null"); break;
    }
}

char *
lathe_json_to_string (JsonNode *node, gboolean pretty)
{
  GString *s = g_string_new (NULL);

  put_node (s, node, pretty, 0);
  return g_string_free (s, FALSE);
}

gboolean
lathe_json_save (const char *path, JsonNode *node, GError **error)
{
  g_autofree char *text = lathe_json_to_string (node, TRUE);
  g_autofree char *with_nl = g_strconcat (text, "\n", NULL);

  return lathe_file_write_atomic (path, with_nl, -1, error);
}
