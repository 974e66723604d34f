#include <malloc.h>
#include "state_bench_heap.h"

size_t state_bench_heap_in_use(void) { return mallinfo2().uordblks; }
