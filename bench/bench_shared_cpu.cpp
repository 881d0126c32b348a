// The encoder (and a click) on a machine shared with another busy process: each round times one
// pass with the machine as it is, then one with a child process spinning on one of this
// process's CPUs (as Label Studio or a database would), and prints the medians and the median of
// the per-round ratios. The OpenMP settings are the binary's (threads/wait policy: see
// src/tensor/threads.hpp); bench/shared_cpu_policies.sh compares other settings.
//   bench_shared_cpu [--checkpoint FILE] [--rounds N] [--tag TEXT]
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "bench_util.hpp"
#include "models/model_loader.hpp"

namespace {

sam::RgbImage synthetic_image(int w, int h) {
    sam::RgbImage img;
    img.width = w, img.height = h;
    img.pixels.resize(size_t(w) * h * 3);
    for (size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = uint8_t((i * 2654435761u) >> 24);
    return img;
}

// A child spinning on the last CPU this process may use; killed by stop().
class BusyProcess {
public:
    BusyProcess() {
        cpu_set_t set;
        sched_getaffinity(0, sizeof set, &set);
        int cpu = -1;
        for (int c = 0; c < CPU_SETSIZE; ++c)
            if (CPU_ISSET(c, &set)) cpu = c;
        pid_ = fork();
        if (pid_ == 0) {
            cpu_set_t one;
            CPU_ZERO(&one);
            CPU_SET(cpu, &one);
            sched_setaffinity(0, sizeof one, &one);
            volatile uint64_t x = 0;
            for (;;) x = x + 1;
        }
    }
    ~BusyProcess() {
        if (pid_ > 0) {
            kill(pid_, SIGKILL);
            waitpid(pid_, nullptr, 0);
        }
    }

private:
    pid_t pid_ = -1;
};

}  // namespace

int main(int argc, char** argv) {
    sambench::setup(argv);
    std::string checkpoint = sambench::golden_dir() + "checkpoints/mobile_sam_random.pt", tag;
    int rounds = 5;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--checkpoint" && i + 1 < argc) checkpoint = argv[++i];
        else if (a == "--rounds" && i + 1 < argc) rounds = std::atoi(argv[++i]);
        else if (a == "--tag" && i + 1 < argc) tag = argv[++i];
        else {
            std::fprintf(stderr, "usage: bench_shared_cpu [--checkpoint FILE] [--rounds N] [--tag TEXT]\n");
            return 2;
        }
    }
    sam::ModelChoice choice;
    choice.sam_choice = "SAM";
    choice.vith_checkpoint = checkpoint;
    auto model = sam::load_segmenter(choice);
    const sam::RgbImage image = synthetic_image(1920, 1080);
    sam::ImageEmbedding emb = model->embed(image);  // warm-up
    sam::Prompt prompt;
    prompt.points.push_back({1100.5f, 400.25f, 1});
    prompt.multimask = true;
    model->predict(emb, prompt);

    std::vector<double> quiet, busy, ratio, click_quiet, click_busy;
    auto one_pass = [&](std::vector<double>& enc, std::vector<double>& click) {
        enc.push_back(sambench::time_runs(1, [&] { emb = model->embed(image); }).median);
        click.push_back(sambench::time_runs(10, [&] { model->predict(emb, prompt); }).median);
    };
    for (int r = 0; r < rounds; ++r) {
        one_pass(quiet, click_quiet);
        {
            BusyProcess neighbour;
            one_pass(busy, click_busy);
        }
        ratio.push_back(busy.back() / quiet.back());
    }
    const std::string extra = "\"policy\": \"" + tag + "\", \"compute\": \"" + sam::threads::describe() + "\"";
    auto print = [&](const char* name, const std::vector<double>& v) {
        std::printf("{\"name\": \"%s\", \"unit\": \"s\", \"median\": %.6f, \"runs\": %d, %s}\n", name,
                    sambench::median_of(v), int(v.size()), extra.c_str());
    };
    print("embed_1080p_quiet", quiet);
    print("embed_1080p_one_cpu_busy", busy);
    print("click_quiet", click_quiet);
    print("click_one_cpu_busy", click_busy);
    std::printf("{\"name\": \"embed_busy_over_quiet\", \"unit\": \"ratio\", \"median\": %.3f, \"runs\": %d, %s}\n",
                sambench::median_of(ratio), rounds, extra.c_str());
    return 0;
}
