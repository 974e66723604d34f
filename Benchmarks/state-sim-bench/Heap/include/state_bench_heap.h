#include <stddef.h>

/// Bytes of heap in use (glibc's mallinfo2().uordblks), for state-sim-bench's memory figure.
size_t state_bench_heap_in_use(void);
