// The compute thread pool's size and wait policy: cgroup CPU quotas, and the binary's OpenMP
// environment as a user starts it (with and without their own settings).
#include <gtest/gtest.h>

#include <sched.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "support/golden.hpp"
#include "support/server_process.hpp"
#include "tensor/threads.hpp"

namespace fs = std::filesystem;

namespace {

struct TempDir {
    fs::path path = fs::temp_directory_path() / ("sam_cgroup_" + std::to_string(::getpid()));
    TempDir() { fs::create_directories(path); }
    ~TempDir() { fs::remove_all(path); }
    void write(const std::string& name, const std::string& text) const {
        fs::create_directories((path / name).parent_path());
        std::ofstream(path / name) << text;
    }
};

}  // namespace

TEST(ComputeThreads, CgroupV2Quota) {
    TempDir d;
    d.write("cpu.max", "max 100000\n");
    EXPECT_EQ(sam::threads::cgroup_cpu_limit(d.path.string()), 0);
    d.write("cpu.max", "150000 100000\n");  // docker --cpus=1.5
    EXPECT_EQ(sam::threads::cgroup_cpu_limit(d.path.string()), 2);
    d.write("cpu.max", "100000 100000\n");
    EXPECT_EQ(sam::threads::cgroup_cpu_limit(d.path.string()), 1);
    d.write("cpu.max", "garbage\n");
    EXPECT_EQ(sam::threads::cgroup_cpu_limit(d.path.string()), 0);
}

TEST(ComputeThreads, CgroupV1Quota) {
    TempDir d;
    EXPECT_EQ(sam::threads::cgroup_cpu_limit(d.path.string()), 0);  // no files: no quota
    d.write("cpu,cpuacct/cpu.cfs_quota_us", "-1\n");
    d.write("cpu,cpuacct/cpu.cfs_period_us", "100000\n");
    EXPECT_EQ(sam::threads::cgroup_cpu_limit(d.path.string()), 0);
    d.write("cpu,cpuacct/cpu.cfs_quota_us", "300000\n");
    EXPECT_EQ(sam::threads::cgroup_cpu_limit(d.path.string()), 3);
}

TEST(ComputeThreads, AvailableCpusIsWithinTheAffinityMask) {
    cpu_set_t set;
    ASSERT_EQ(sched_getaffinity(0, sizeof set, &set), 0);
    const int n = sam::threads::available_cpus();
    EXPECT_GE(n, 1);
    EXPECT_LE(n, CPU_COUNT(&set));
}

// Without the user's settings the server sizes its pool to the available CPUs and spins briefly;
// with them, it keeps theirs.
TEST(ComputeThreads, ServerAppliesItsOpenMpDefaultsUnlessTheUserSetsThem) {
    if (!samtest::golden_available()) GTEST_SKIP() << "no golden data";
    const std::string ckpt = samtest::golden("checkpoints/mobile_sam_random.pt");
    {
        samtest::ServerProcess server({{"MOBILESAM_CHECKPOINT", ckpt}, {"OMP_NUM_THREADS", ""}});
        ASSERT_TRUE(server.wait_ready(60)) << server.log();
        const int n = sam::threads::available_cpus();
        const std::string want = std::to_string(n) + " compute threads (" + std::to_string(n) +
                                 " CPUs available), GOMP_SPINCOUNT=" + sam::threads::kSpinCount;
        EXPECT_NE(server.log().find(want), std::string::npos) << server.log();
    }
    {
        samtest::ServerProcess server(
            {{"MOBILESAM_CHECKPOINT", ckpt}, {"OMP_NUM_THREADS", "1"}, {"OMP_WAIT_POLICY", "passive"}});
        ASSERT_TRUE(server.wait_ready(60)) << server.log();
        EXPECT_NE(server.log().find("1 compute threads"), std::string::npos) << server.log();
        EXPECT_NE(server.log().find("OMP_WAIT_POLICY=passive"), std::string::npos) << server.log();
        EXPECT_EQ(server.log().find("GOMP_SPINCOUNT"), std::string::npos) << server.log();
    }
}
