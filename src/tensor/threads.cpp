#include "tensor/threads.hpp"

#include <omp.h>
#include <sched.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace sam::threads {
namespace {

// "max 100000" or "150000 100000" (cgroup v2 cpu.max).
int quota_v2(const std::string& path) {
    std::ifstream f(path);
    std::string quota;
    double period = 0;
    if (!(f >> quota >> period) || quota == "max" || period <= 0) return 0;
    const double q = std::atof(quota.c_str());
    return q > 0 ? int(std::ceil(q / period)) : 0;
}

// cpu.cfs_quota_us (-1: none) and cpu.cfs_period_us (cgroup v1).
int quota_v1(const std::string& dir) {
    std::ifstream fq(dir + "/cpu.cfs_quota_us"), fp(dir + "/cpu.cfs_period_us");
    double q = 0, p = 0;
    if (!(fq >> q) || !(fp >> p) || q <= 0 || p <= 0) return 0;
    return int(std::ceil(q / p));
}

bool is_set(const char* name) {
    const char* v = std::getenv(name);
    return v && *v;
}

}  // namespace

int cgroup_cpu_limit(const std::string& root) {
    if (int n = quota_v2(root + "/cpu.max")) return n;
    for (const char* dir : {"/cpu", "/cpu,cpuacct", "/cpuacct,cpu"})
        if (int n = quota_v1(root + dir)) return n;
    return 0;
}

int available_cpus() {
    int n = 0;
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) n = CPU_COUNT(&set);
    if (n <= 0) n = omp_get_num_procs();
    const int quota = cgroup_cpu_limit();
    if (quota > 0 && quota < n) n = quota;
    return n > 0 ? n : 1;
}

void apply_openmp_environment(char** argv) {
    constexpr const char* kDone = "SAM_OPENMP_ENV_APPLIED";  // also the way to opt out
    if (is_set(kDone)) return;
    bool changed = false;
    if (!is_set("OMP_NUM_THREADS")) {
        setenv("OMP_NUM_THREADS", std::to_string(available_cpus()).c_str(), 1);
        changed = true;
    }
    if (!is_set("OMP_WAIT_POLICY") && !is_set("GOMP_SPINCOUNT")) {
        setenv("GOMP_SPINCOUNT", kSpinCount, 1);
        changed = true;
    }
    if (!changed) return;
    setenv(kDone, "1", 1);
    execv("/proc/self/exe", argv);
}

std::string describe() {
    std::ostringstream s;
    s << omp_get_max_threads() << " compute threads (" << available_cpus() << " CPUs available)";
    if (is_set("OMP_WAIT_POLICY")) s << ", OMP_WAIT_POLICY=" << std::getenv("OMP_WAIT_POLICY");
    if (is_set("GOMP_SPINCOUNT")) s << ", GOMP_SPINCOUNT=" << std::getenv("GOMP_SPINCOUNT");
    return s.str();
}

}  // namespace sam::threads
