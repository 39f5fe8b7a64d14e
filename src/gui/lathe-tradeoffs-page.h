/* SPDX-License-Identifier: MIT */
#pragma once

#include <adwaita.h>

#include "lathe-chart.h"
#include "lathe-workspace.h"

G_BEGIN_DECLS

#define LATHE_TYPE_TRADEOFFS_PAGE (lathe_tradeoffs_page_get_type ())
G_DECLARE_FINAL_TYPE (LatheTradeoffsPage, lathe_tradeoffs_page, LATHE, TRADEOFFS_PAGE, AdwBin)

/* The workspace whose variants are shown (NULL: none). */
void lathe_tradeoffs_page_set_workspace (LatheTradeoffsPage *self, LatheWorkspace *workspace);
/* Axes are remembered in these settings (chart-x, chart-y). */
void lathe_tradeoffs_page_set_settings (LatheTradeoffsPage *self, GSettings *settings);
LatheChart *lathe_tradeoffs_page_get_chart (LatheTradeoffsPage *self);
void lathe_tradeoffs_page_set_axes (LatheTradeoffsPage *self, LatheMetric x, LatheMetric y);
void lathe_tradeoffs_page_set_log_scale (LatheTradeoffsPage *self, gboolean x_log, gboolean y_log);
/* Writes the chart ("png", "svg") or the table ("csv") to path. */
gboolean lathe_tradeoffs_page_export (LatheTradeoffsPage *self, const char *format, const char *path,
                                      GError **error);
/* Writes a deployment bundle (a folder, or .tar.gz) of the selected variant
 * for arch (NULL: this machine's) in a worker thread. */
void lathe_tradeoffs_page_export_bundle_async (LatheTradeoffsPage *self, const char *path, const char *arch,
                                               GCancellable *cancellable, GAsyncReadyCallback callback,
                                               gpointer user_data);
gboolean lathe_tradeoffs_page_export_bundle_finish (LatheTradeoffsPage *self, GAsyncResult *result,
                                                    GError **error);
/* The same, ending in a toast that says where it went and who signed it
 * (or why it was not written): what Export Bundle does once a file is chosen. */
void lathe_tradeoffs_page_write_bundle (LatheTradeoffsPage *self, const char *path, const char *arch);
/* Deletes the selected variant and its file, without asking. */
gboolean lathe_tradeoffs_page_delete_selected (LatheTradeoffsPage *self, GError **error);

G_END_DECLS
