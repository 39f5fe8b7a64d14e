/* SPDX-License-Identifier: MIT */
/* Unstructured and N:M pruning of a weight matrix held as F32 rows. Scores
 * are |w| (magnitude) or |w| times the norm of the input channel the weight
 * meets (activation-aware, as Wanda does). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

typedef enum
{
  LK_PRUNE_MAGNITUDE,
  LK_PRUNE_WANDA,
} lk_prune_score;

typedef struct
{
  lk_prune_score score;
  float sparsity;         /* unstructured: fraction of weights set to zero, 0..1 */
  int nm_n, nm_m;         /* N:M: keep nm_n of every nm_m consecutive inputs (0: unstructured) */
  const float *col_norm;  /* WANDA: per input column (n_cols values; a stack of experts: per expert) */
  float threshold;        /* > 0 (unstructured magnitude): zero every |w| below it instead of
                           * a fraction; a threshold shared by many matrices is a global ratio */
} lk_prune_spec;

/* Zeroes weights of a row-major matrix (rows of n_cols). Unstructured
 * magnitude pruning compares all weights of the matrix; Wanda compares the
 * weights of each output row, as in its paper; N:M compares each group of
 * nm_m consecutive weights of a row. Returns the number of zeros written, or
 * -1 for a spec that does not fit (n_cols not a multiple of nm_m, no norms
 * for WANDA, sparsity outside 0..1, or no memory). */
int64_t lk_prune_matrix (float *w, int64_t n_cols, int64_t n_rows, const lk_prune_spec *spec);

/* "2:4" to n = 2, m = 4 (1 <= n < m <= 64). */
bool lk_prune_parse_nm (const char *text, int *n, int *m);
