/* Counts heap allocations: preloaded (LD_PRELOAD) into a program, it
 * forwards malloc and friends to glibc and counts each call; the program
 * reads the count through ftc_test_mallocs(). */
#include <stddef.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static long count;

long ftc_test_mallocs(void) { return __atomic_load_n(&count, __ATOMIC_SEQ_CST); }

static void counted(void) { __atomic_add_fetch(&count, 1, __ATOMIC_SEQ_CST); }

void *malloc(size_t n) {
  counted();
  return __libc_malloc(n);
}
void *calloc(size_t n, size_t size) {
  counted();
  return __libc_calloc(n, size);
}
void *realloc(void *p, size_t n) {
  counted();
  return __libc_realloc(p, n);
}
void *aligned_alloc(size_t alignment, size_t n) {
  counted();
  return __libc_memalign(alignment, n);
}
void *memalign(size_t alignment, size_t n) {
  counted();
  return __libc_memalign(alignment, n);
}
int posix_memalign(void **out, size_t alignment, size_t n) {
  counted();
  *out = __libc_memalign(alignment, n);
  return *out ? 0 : 12; /* ENOMEM */
}
