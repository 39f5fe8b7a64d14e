/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <math.h>
#include <stdlib.h>

#include "lathe-pareto.h"

typedef struct
{
  double x, y; /* both turned so that more is better */
  guint i;
} Point;

/* By x falling, then y falling: a point is on the front when its y beats
 * every y before it that has a greater x. */
static int
by_x_then_y (gconstpointer a, gconstpointer b)
{
  const Point *p = a, *q = b;

  if (p->x != q->x)
    return p->x > q->x ? -1 : 1;
  if (p->y != q->y)
    return p->y > q->y ? -1 : 1;
  return 0;
}

void
lathe_pareto_front (const double *x, const double *y, guint n, gboolean x_higher_better,
                    gboolean y_higher_better, gboolean *on_front)
{
  g_autofree Point *p = g_new (Point, MAX (n, 1));
  guint m = 0, i = 0;
  double best_y = -INFINITY;

  for (guint k = 0; k < n; k++)
    {
      on_front[k] = FALSE;
      if (isnan (x[k]) || isnan (y[k]))
        continue;
      p[m].x = x_higher_better ? x[k] : -x[k];
      p[m].y = y_higher_better ? y[k] : -y[k];
      p[m].i = k;
      m++;
    }
  qsort (p, m, sizeof *p, by_x_then_y);
  /* Points of equal x: only those with that group's best y can be on the
   * front, and only if that y beats every greater x's. */
  while (i < m)
    {
      guint j = i;
      const double group_y = p[i].y;
      while (j < m && p[j].x == p[i].x)
        j++;
      if (group_y > best_y)
        {
          for (guint k = i; k < j && p[k].y == group_y; k++)
            on_front[p[k].i] = TRUE;
          best_y = group_y;
        }
      i = j;
    }
}
