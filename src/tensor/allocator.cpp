#include "tensor/allocator.hpp"

#include <malloc.h>

namespace sam {

void tune_allocator_for_inference() {
    mallopt(M_MMAP_THRESHOLD, 256 << 20);  // larger than any activation buffer
    mallopt(M_TRIM_THRESHOLD, 512 << 20);  // keep freed blocks for the next pass
    mallopt(M_ARENA_MAX, 2);
}

void release_free_memory() { malloc_trim(0); }

}  // namespace sam
