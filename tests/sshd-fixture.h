/* SPDX-License-Identifier: MIT */
/* A private sshd on 127.0.0.1 for the device tests: its own host key, a
 * test user with /bin/sh and a home of its own, an authorized key, and an
 * ssh_config file naming it "dev". Needs root (to start sshd for another
 * user); without it the tests skip. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct
{
  char *dir;         /* everything lives here */
  char *home;        /* the test user's home */
  char *ssh_config;  /* for ssh -F: Host dev */
  char *known_hosts; /* the client's */
  char *config;      /* sshd's */
  char *user;
  int port;
  GSubprocess *sshd;
} SshdFixture;

/* FALSE (and the test marked skipped) when sshd cannot run here. */
gboolean sshd_fixture_start (SshdFixture *f, const char *name);
/* Kills sshd and every process of its connections. */
void sshd_fixture_kill (SshdFixture *f);
void sshd_fixture_stop (SshdFixture *f);
/* Runs a command as root here, failing the test when it fails; its output. */
char *sshd_fixture_sh (const char *fmt, ...) G_GNUC_PRINTF (1, 2);

G_END_DECLS
