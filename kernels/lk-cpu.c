/* SPDX-License-Identifier: MIT */
/* Run-time CPU feature detection and the choice of kernel version. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "lk-kernels.h"
#include "lk-kernels-private.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif

static lk_cpu_features features;
static pthread_once_t features_once = PTHREAD_ONCE_INIT;

#if defined(__x86_64__) || defined(__i386__)
static unsigned long long
read_xcr0 (void)
{
  unsigned int eax, edx;

  __asm__ volatile ("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return ((unsigned long long) edx << 32) | eax;
}

static void
detect_x86 (lk_cpu_features *f)
{
  unsigned int eax, ebx, ecx, edx;
  bool os_avx = false, os_avx512 = false;

  if (!__get_cpuid (1, &eax, &ebx, &ecx, &edx))
    return;
  f->fma = (ecx >> 12) & 1;
  f->f16c = (ecx >> 29) & 1;
  if ((ecx >> 27) & 1) /* OSXSAVE: the OS saves the wide registers */
    {
      const unsigned long long xcr0 = read_xcr0 ();
      os_avx = (xcr0 & 0x6) == 0x6;
      os_avx512 = os_avx && (xcr0 & 0xe0) == 0xe0;
    }
  if (!os_avx)
    {
      f->fma = f->f16c = false;
      return;
    }
  if (__get_cpuid_count (7, 0, &eax, &ebx, &ecx, &edx))
    {
      f->avx2 = (ebx >> 5) & 1;
      if (os_avx512)
        {
          f->avx512f = (ebx >> 16) & 1;
          f->avx512bw = (ebx >> 30) & 1;
          f->avx512vl = (ebx >> 31) & 1;
          f->avx512dq = (ebx >> 17) & 1;
          f->avx512vnni = (ecx >> 11) & 1;
        }
    }
  if (__get_cpuid_count (7, 1, &eax, &ebx, &ecx, &edx))
    {
      f->avxvnni = (eax >> 4) & 1;
      if (os_avx512)
        f->avx512bf16 = (eax >> 5) & 1;
    }
}
#endif

static void
detect_features (void)
{
#if defined(__x86_64__) || defined(__i386__)
  detect_x86 (&features);
#elif defined(__aarch64__)
  features.neon = true;
#if defined(__linux__)
  {
    const unsigned long hwcap = getauxval (AT_HWCAP);
    features.fp16 = (hwcap & (1UL << 9)) != 0;     /* HWCAP_FPHP */
    features.dotprod = (hwcap & (1UL << 20)) != 0; /* HWCAP_ASIMDDP */
  }
#endif
#endif
}

const lk_cpu_features *
lk_cpu_get_features (void)
{
  pthread_once (&features_once, detect_features);
  return &features;
}

/* Every version compiled into this binary, worst first. */
typedef struct
{
  const char *name;
  const lk_kernels *(*get) (void);
  bool (*runnable) (const lk_cpu_features *f);
} version;

static bool
always (const lk_cpu_features *f)
{
  (void) f;
  return true;
}

static const version versions[] = {
  { "reference", lk_kernels_reference, always },
  { "scalar", lk_kernels_scalar, always },
#ifdef LK_HAVE_AVX2
  { "avx2", lk_kernels_avx2, lk_kernels_avx2_runnable },
#endif
#ifdef LK_HAVE_AVX512
  { "avx512", lk_kernels_avx512, lk_kernels_avx512_runnable },
  { "avx512vnni", lk_kernels_avx512vnni, lk_kernels_avx512vnni_runnable },
#endif
#ifdef LK_HAVE_NEON
  { "neon", lk_kernels_neon, lk_kernels_neon_runnable },
  { "neon-dotprod", lk_kernels_neon_dotprod, lk_kernels_neon_dotprod_runnable },
#endif
};

#define N_VERSIONS (sizeof versions / sizeof versions[0])

static const lk_kernels *_Atomic active;
static pthread_once_t active_once = PTHREAD_ONCE_INIT;
static const char *available_names[N_VERSIONS + 1];

const lk_kernels *
lk_kernels_find (const char *name)
{
  const lk_cpu_features *f = lk_cpu_get_features ();

  if (name == NULL)
    return NULL;
  for (size_t i = 0; i < N_VERSIONS; i++)
    if (strcmp (versions[i].name, name) == 0 && versions[i].runnable (f))
      return versions[i].get ();
  return NULL;
}

static void
choose_default (void)
{
  const lk_cpu_features *f = lk_cpu_get_features ();
  const char *forced = getenv ("LATHE_KERNEL");
  const lk_kernels *best = lk_kernels_scalar ();
  size_t n = 0;

  for (size_t i = 0; i < N_VERSIONS; i++)
    if (versions[i].runnable (f))
      {
        best = versions[i].get ();
        available_names[n++] = versions[i].name;
      }
  available_names[n] = NULL;
  if (forced != NULL && *forced != '\0' && lk_kernels_find (forced) != NULL)
    best = lk_kernels_find (forced);
  active = best;
}

const lk_kernels *
lk_kernels_get (void)
{
  pthread_once (&active_once, choose_default);
  return active;
}

bool
lk_kernels_force (const char *name)
{
  const lk_kernels *k = lk_kernels_find (name);

  pthread_once (&active_once, choose_default);
  if (k == NULL)
    return false;
  active = k;
  return true;
}

const char *const *
lk_kernels_available (void)
{
  pthread_once (&active_once, choose_default);
  return available_names;
}
