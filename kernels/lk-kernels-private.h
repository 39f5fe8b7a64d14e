/* SPDX-License-Identifier: MIT */
/* Entry points of the instruction-set versions, each compiled in its own file
 * with its own flags. */
#pragma once

#include "lk-kernels.h"

const lk_kernels *lk_kernels_avx2 (void);
bool lk_kernels_avx2_runnable (const lk_cpu_features *f);
const lk_kernels *lk_kernels_avx512 (void);
bool lk_kernels_avx512_runnable (const lk_cpu_features *f);
const lk_kernels *lk_kernels_neon (void);
bool lk_kernels_neon_runnable (const lk_cpu_features *f);
