/* SPDX-License-Identifier: MIT */
#pragma once

#include "lathe-compress-page.h"
#include "lathe-devices-page.h"
#include "lathe-tradeoffs-page.h"
#include "lathe-welcome-page.h"
#include "lathe-window.h"

struct _LatheWindow
{
  AdwApplicationWindow parent_instance;
  GSettings *settings;
  LatheSession *session;

  AdwToastOverlay *toast_overlay;
  AdwViewSwitcherTitle *switcher_title;
  AdwViewSwitcherBar *switcher_bar;
  GtkStack *main_stack;
  AdwViewStack *view_stack;
  LatheWelcomePage *welcome_page;
  LatheModelPage *model_page;
  LathePlaygroundPage *playground_page;
  LatheTradeoffsPage *tradeoffs_page;
  LatheCompressPage *compress_page;
  LatheDevicesPage *devices_page;
  GtkLabel *loading_label;
  GtkRevealer *job_revealer;
  GtkLabel *job_label;
  GtkProgressBar *job_progress;
  gboolean holding; /* the application, while a job runs */
  char *last_toast;
};

/* lathe-window-actions.c */
void _lathe_window_class_actions_init (GtkWidgetClass *widget_class);
void _lathe_window_actions_update (LatheWindow *self);
