/* SPDX-License-Identifier: MIT */
/* JSON as Lathe reads and writes it. Every JSON text Lathe reads comes from
 * somewhere it does not control (a file, a device, a download): it is
 * bounded in size and nesting before json-glib sees it, since json-glib's
 * parser recurses once per level. Every JSON text Lathe writes is valid
 * JSON: json-glib 1.6 writes inf, nan and 1e+22 as "inf.0", "nan.0" and
 * "1e+22.0", which no parser reads back; here a number that is not finite
 * is written as null, and every finite one so that it reads back the same. */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* Deeper than any JSON Lathe writes (recipes nest 4 levels, profiles 6). */
#define LATHE_JSON_MAX_DEPTH 64
/* What Lathe reads at most of a JSON file of its own kinds (workspaces of
 * many thousand variants, sensitivity tables of large models). */
#define LATHE_JSON_LIMIT ((gsize) 256 << 20)

/* Parses text (len bytes, or up to its NUL when len < 0) of at most
 * LATHE_JSON_LIMIT bytes and LATHE_JSON_MAX_DEPTH levels. origin names
 * the text in errors ("devices.json", "the device's lathe-run"). */
JsonNode *lathe_json_parse (const char *text, gssize len, const char *origin, GError **error);
/* Reads and parses a file of at most limit bytes (0: LATHE_JSON_LIMIT). */
JsonNode *lathe_json_load (const char *path, gsize limit, GError **error);

/* The node as JSON text: compact, or indented by two spaces. */
char *lathe_json_to_string (JsonNode *node, gboolean pretty);
/* Writes the node (indented, with a final newline) to path atomically. */
gboolean lathe_json_save (const char *path, JsonNode *node, GError **error);

/* A finite number (integer or not) in a node from outside; FALSE for
 * anything else (a string, null, 1e999 read as infinity). */
gboolean lathe_json_get_finite (JsonNode *node, double *out);
/* The same for a member of an object; FALSE when it is missing too. */
gboolean lathe_json_member_finite (JsonObject *o, const char *member, double *out);
/* A string member, or NULL when it is missing or not a string. */
const char *lathe_json_member_string (JsonObject *o, const char *member);

G_END_DECLS
