// The bounded worker pool (server/worker_pool.hpp): how many jobs it takes, and that shutdown
// destroys waiting jobs (so their responders answer) while running ones finish.
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <memory>

#include "server/worker_pool.hpp"

using sam::server::WorkerPool;

namespace {

// Counts its own destruction: a job's captures going away is how a waiting request gets its 503.
struct Witness {
    std::atomic<int>* destroyed = nullptr;
    ~Witness() {
        if (destroyed) (*destroyed)++;
    }
};

TEST(WorkerPool, TakesThreadsPlusCapacityJobsThenRefuses) {
    WorkerPool pool("test", 2, 3);
    std::promise<void> release;
    std::shared_future<void> go = release.get_future().share();
    std::atomic<int> ran{0};
    int accepted = 0;
    for (int i = 0; i < 8; ++i) accepted += pool.submit([&, go] { go.wait(); ran++; });
    EXPECT_EQ(accepted, 5);  // 2 running (or about to) + 3 waiting
    EXPECT_EQ(pool.stats().rejected, 3);
    for (int i = 0; i < 1000 && pool.stats().running < 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    EXPECT_EQ(pool.stats().running, 2);
    EXPECT_EQ(pool.stats().queued, 3);
    release.set_value();
    pool.shutdown();
    EXPECT_GE(ran, 2);  // the running ones finished; waiting ones may have run or been dropped
    EXPECT_FALSE(pool.submit([] {}));  // closed
}

TEST(WorkerPool, ShutdownDestroysWaitingJobsAndJoinsRunningOnes) {
    WorkerPool pool("test", 1, 4);
    std::promise<void> started, release;
    std::atomic<int> destroyed{0};
    std::atomic<bool> finished{false};
    ASSERT_TRUE(pool.submit([&, r = release.get_future().share()] {
        started.set_value();
        r.wait();
        finished = true;
    }));
    started.get_future().wait();
    for (int i = 0; i < 3; ++i) {
        auto w = std::make_shared<Witness>();
        w->destroyed = &destroyed;
        ASSERT_TRUE(pool.submit([w] { FAIL() << "a waiting job ran after shutdown"; }));
    }
    std::thread stopper([&] { pool.shutdown(); });
    for (int i = 0; i < 1000 && destroyed < 3; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    EXPECT_EQ(destroyed, 3);     // dropped while the running job still runs
    EXPECT_FALSE(finished);
    release.set_value();
    stopper.join();
    EXPECT_TRUE(finished);  // shutdown waited for it
}

}  // namespace
