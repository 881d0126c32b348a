// How many threads the compute kernels (oneDNN and our own, one OpenMP pool) use, and how
// their idle threads wait. Annotation servers share their machine (Label Studio, a database):
// the pool must size itself to the CPUs this process may really use and must not hold cores
// it is not computing on.
#pragma once

#include <string>

namespace sam::threads {

// CPUs this process may use: its affinity mask (taskset, docker --cpuset-cpus), capped by a
// cgroup CPU quota (docker --cpus=1.5 allows 2 threads' worth of time slices: 2).
int available_cpus();

// The CPU quota of the cgroup files under `root` (v2 cpu.max, or v1 cpu.cfs_quota_us and
// cpu.cfs_period_us), rounded up to whole CPUs; 0 when there is no quota.
int cgroup_cpu_limit(const std::string& root = "/sys/fs/cgroup");

// The OpenMP runtime reads its thread count and wait policy once, when it loads, before main();
// omp_set_num_threads() would only reach the calling thread, not the server's request threads.
// So where the user has set neither, this sets OMP_NUM_THREADS to available_cpus() and
// GOMP_SPINCOUNT to kSpinCount, and executes the program again (same PID, same arguments) so
// that the runtime starts with them. Call first thing in main(). Returns only if nothing had to
// change (or the re-execution failed: the defaults then stay).
void apply_openmp_environment(char** argv);

// How long an idle OpenMP thread spins before it sleeps, in GOMP_SPINCOUNT units (pause loops
// of 10-30 ns): tens of microseconds bridge the gaps between one kernel and the next, and a
// waiting thread still gives its core back at once when another process wants it. GOMP's own
// default (300000, milliseconds) holds both cores while a neighbour waits (bench/README.md,
// "Sharing the CPU").
inline constexpr const char* kSpinCount = "1000";

// One line for the log: "2 compute threads (2 CPUs available), GOMP_SPINCOUNT=1000".
std::string describe();

}  // namespace sam::threads
