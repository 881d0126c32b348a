// Process-wide malloc settings for inference workloads; call once at the top of main().
#pragma once

namespace sam {

// An encoder pass allocates and frees tens of buffers of 8-64 MB. By default glibc serves each
// from a fresh mmap and unmaps it on free, so every pass pays page faults for ~1 GB of memory
// (a third of MobileSAM's encoder time). Served from the heap instead, the freed blocks are
// reused by the next pass; two arenas keep request threads from each holding a heap of their own.
void tune_allocator_for_inference();

// Hands the heap's free pages back to the system. The settings above keep an encoder pass's
// scratch (hundreds of MB) for the next pass; a long-lived result allocated meanwhile (a cached
// embedding) pins it. Call after computing something that will be kept: it costs the next pass
// its page faults (~50 ms for MobileSAM) and keeps a server's memory at what it really holds.
void release_free_memory();

}  // namespace sam
