#ifndef GRAPEVINE_MALLOC_COUNTER_H
#define GRAPEVINE_MALLOC_COUNTER_H
/// Calls to malloc, calloc, realloc and the aligned allocators since the process started.
unsigned long long wire_bench_malloc_count(void);
#endif
