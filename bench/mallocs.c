/* Counts malloc calls of the process it is preloaded into and appends the
 * count to the file named by MALLOCS_OUT when the process exits (bench/allocations.sh). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

static atomic_long calls;
static void *(*next_malloc)(size_t);

void *malloc(size_t size) {
    if (!next_malloc) next_malloc = dlsym(RTLD_NEXT, "malloc");
    atomic_fetch_add_explicit(&calls, 1, memory_order_relaxed);
    return next_malloc(size);
}

__attribute__((destructor)) static void report(void) {
    const char *path = getenv("MALLOCS_OUT");
    FILE *out = path ? fopen(path, "a") : NULL;
    if (!out) return;
    fprintf(out, "%ld\n", (long)atomic_load(&calls));
    fclose(out);
}
