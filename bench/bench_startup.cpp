// The real sam-ml-backend binary as a user starts it: time from process start to the first
// /health 200, and resident memory (/proc/<pid>/status) once embeddings are cached.
//   server_start_mobilesam        MobileSAM, median of 5 starts (DESIGN.md target 1 s)
//   server_rss_mobilesam_8_cached VmRSS after clicks on 8 different 1920x1080 images (target 300 MB)
//   server_start_vit_b            a full-size ViT-B-shaped checkpoint of random weights, written to
//                                 a temp file here (~360 MB, deleted afterwards), median of 3
//   server_rss_vit_b_1_embedding  VmRSS after one embedding; rss_file_mb vs rss_anon_mb shows the
//                                 weights are the mapped file, not a second copy
// Checkpoints come from the page cache (written or read just before): warm starts.
// Usage: bench_startup [--no-vit]. SAM_BACKEND_BIN overrides the binary (default: the
// one of this build); MOBILESAM_CHECKPOINT the MobileSAM checkpoint.
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.hpp"
#include "support/checkpoint_writer.hpp"
#include "server_process.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

using Clock = std::chrono::steady_clock;

void print_mb(const std::string& name, const std::vector<double>& mb, const std::string& extra) {
    std::vector<double> s = mb;
    std::sort(s.begin(), s.end());
    std::printf("{\"name\": \"%s\", \"unit\": \"MB\", \"median\": %.1f, \"min\": %.1f, \"max\": %.1f, \"runs\": %zu, %s}\n",
                name.c_str(), s[s.size() / 2], s.front(), s.back(), s.size(), extra.c_str());
    std::fflush(stdout);
}

std::string status_extra(const std::map<std::string, double>& st) {
    char buf[256];
    std::snprintf(buf, sizeof buf,
                  "\"vm_hwm_mb\": %.1f, \"rss_anon_mb\": %.1f, \"rss_file_mb\": %.1f, \"threads\": %.0f",
                  st.at("VmHWM") / 1024, st.at("RssAnon") / 1024, st.at("RssFile") / 1024, st.at("Threads"));
    return buf;
}

// kB fields of /proc/<pid>/status (VmRSS, VmHWM, RssAnon, RssFile, Threads, ...).
std::map<std::string, double> proc_status(pid_t pid) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/status");
    std::map<std::string, double> out;
    std::string line;
    while (std::getline(f, line)) {
        const size_t colon = line.find(':');
        if (colon != std::string::npos) out[line.substr(0, colon)] = std::atof(line.c_str() + colon + 1);
    }
    return out;
}

double seconds_to_health(const std::map<std::string, std::string>& vars, double limit_s) {
    const auto t0 = Clock::now();
    const auto server = sambench::start_server(vars, limit_s);
    return std::chrono::duration<double>(Clock::now() - t0).count();  // before it stops
}

using sambench::figures;

// Random weights with the names and shapes of Meta's sam_vit_b_01ec64.pth: image encoder
// (768 dim, 12 blocks, 12 heads of 64, global attention in blocks 2, 5, 8, 11), the standard
// prompt encoder and mask decoder. Returns the number of parameters.
int64_t write_vit_b_checkpoint(const std::string& path) {
    const int64_t E = 768, depth = 12, hd = 64, C = 256;
    uint64_t st = 0x9E3779B97F4A7C15ull;
    samtest::CheckpointWriter w(path, "sam_vit_b_random");
    int64_t params = 0;
    std::vector<float> buf;
    // Uniform in [offset - scale, offset + scale] from xorshift: fast and reproducible.
    auto add = [&](const std::string& name, sam::Shape shape, float scale, float offset = 0) {
        int64_t n = 1;
        for (int64_t d : shape) n *= d;
        buf.resize(size_t(n));
        for (float& v : buf) {
            st ^= st << 13, st ^= st >> 7, st ^= st << 17;
            v = offset + scale * (float(st >> 40) / float(1 << 24) * 2 - 1);
        }
        w.add(name, shape, buf.data());
        params += n;
    };
    auto linear = [&](const std::string& p, int64_t out, int64_t in) {
        add(p + ".weight", {out, in}, 1 / std::sqrt(float(in)));
        add(p + ".bias", {out}, 0.02f);
    };
    auto norm = [&](const std::string& p, int64_t n) {
        add(p + ".weight", {n}, 0.1f, 1);
        add(p + ".bias", {n}, 0.02f);
    };

    const std::string ie = "image_encoder.";
    add(ie + "pos_embed", {1, 64, 64, E}, 0.02f);
    add(ie + "patch_embed.proj.weight", {E, 3, 16, 16}, 1 / std::sqrt(768.0f));
    add(ie + "patch_embed.proj.bias", {E}, 0.02f);
    for (int64_t i = 0; i < depth; ++i) {
        const std::string b = ie + "blocks." + std::to_string(i) + ".";
        const int64_t rows = i % 3 == 2 ? 2 * 64 - 1 : 2 * 14 - 1;  // global blocks 2, 5, 8, 11
        norm(b + "norm1", E);
        add(b + "attn.rel_pos_h", {rows, hd}, 0.02f);
        add(b + "attn.rel_pos_w", {rows, hd}, 0.02f);
        linear(b + "attn.qkv", 3 * E, E);
        linear(b + "attn.proj", E, E);
        norm(b + "norm2", E);
        linear(b + "mlp.lin1", 4 * E, E);
        linear(b + "mlp.lin2", E, 4 * E);
    }
    add(ie + "neck.0.weight", {C, E, 1, 1}, 1 / std::sqrt(float(E)));
    norm(ie + "neck.1", C);
    add(ie + "neck.2.weight", {C, C, 3, 3}, 1 / std::sqrt(float(C * 9)));
    norm(ie + "neck.3", C);

    const std::string pe = "prompt_encoder.";
    add(pe + "pe_layer.positional_encoding_gaussian_matrix", {2, 128}, 1);
    for (int k = 0; k < 4; ++k) add(pe + "point_embeddings." + std::to_string(k) + ".weight", {1, C}, 1);
    add(pe + "not_a_point_embed.weight", {1, C}, 1);
    add(pe + "mask_downscaling.0.weight", {4, 1, 2, 2}, 0.5f);
    add(pe + "mask_downscaling.0.bias", {4}, 0.02f);
    norm(pe + "mask_downscaling.1", 4);
    add(pe + "mask_downscaling.3.weight", {16, 4, 2, 2}, 1 / std::sqrt(16.0f));
    add(pe + "mask_downscaling.3.bias", {16}, 0.02f);
    norm(pe + "mask_downscaling.4", 16);
    add(pe + "mask_downscaling.6.weight", {C, 16, 1, 1}, 0.25f);
    add(pe + "mask_downscaling.6.bias", {C}, 0.02f);
    add(pe + "no_mask_embed.weight", {1, C}, 1);

    const std::string md = "mask_decoder.";
    auto attention = [&](const std::string& p, int64_t inner) {
        linear(p + ".q_proj", inner, C);
        linear(p + ".k_proj", inner, C);
        linear(p + ".v_proj", inner, C);
        linear(p + ".out_proj", C, inner);
    };
    for (int l = 0; l < 2; ++l) {
        const std::string p = md + "transformer.layers." + std::to_string(l) + ".";
        attention(p + "self_attn", C);
        norm(p + "norm1", C);
        attention(p + "cross_attn_token_to_image", C / 2);
        norm(p + "norm2", C);
        linear(p + "mlp.lin1", 2048, C);
        linear(p + "mlp.lin2", C, 2048);
        norm(p + "norm3", C);
        norm(p + "norm4", C);
        attention(p + "cross_attn_image_to_token", C / 2);
    }
    attention(md + "transformer.final_attn_token_to_image", C / 2);
    norm(md + "transformer.norm_final_attn", C);
    add(md + "iou_token.weight", {1, C}, 1);
    add(md + "mask_tokens.weight", {4, C}, 1);
    add(md + "output_upscaling.0.weight", {C, 64, 2, 2}, 1 / std::sqrt(float(C)));
    add(md + "output_upscaling.0.bias", {64}, 0.02f);
    norm(md + "output_upscaling.1", 64);
    add(md + "output_upscaling.3.weight", {64, 32, 2, 2}, 1 / std::sqrt(64.0f));
    add(md + "output_upscaling.3.bias", {32}, 0.02f);
    for (int k = 0; k < 4; ++k) {
        const std::string p = md + "output_hypernetworks_mlps." + std::to_string(k) + ".layers.";
        linear(p + "0", C, C);
        linear(p + "1", C, C);
        linear(p + "2", 32, C);
    }
    linear(md + "iou_prediction_head.layers.0", C, C);
    linear(md + "iou_prediction_head.layers.1", C, C);
    linear(md + "iou_prediction_head.layers.2", 4, C);
    w.finish();
    return params;
}

void bench_mobilesam(const fs::path& root) {
    const char* env = std::getenv("MOBILESAM_CHECKPOINT");
    const std::string ck = env ? std::string(env) : sambench::golden_dir() + "checkpoints/mobile_sam_random.pt";
    const std::map<std::string, std::string> vars = {
        {"SAM_CHOICE", "MobileSAM"}, {"MOBILESAM_CHECKPOINT", ck}, {"LOCAL_FILES_DOCUMENT_ROOT", root.string()}};

    seconds_to_health(vars, 30);  // warm-up: binary and checkpoint into the page cache
    std::vector<double> t;
    for (int i = 0; i < 5; ++i) t.push_back(seconds_to_health(vars, 30));
    sambench::print_json("server_start_mobilesam", figures(t), "\"target_median\": 1.0");

    for (int i = 0; i < 8; ++i) sambench::write_image((root / ("img" + std::to_string(i) + ".png")).string(), i);
    std::vector<double> rss;
    std::map<std::string, double> last;
    for (int run = 0; run < 3; ++run) {
        const auto s = sambench::start_server(vars, 30);
        for (int i = 0; i < 8; ++i) sambench::click(s->port(), "img" + std::to_string(i) + ".png", 120);
        last = proc_status(s->pid());
        rss.push_back(last.at("VmRSS") / 1024);
    }
    print_mb("server_rss_mobilesam_8_cached", rss, status_extra(last) + ", \"target_median\": 300");
}

void bench_vit_b(const fs::path& root) {
    const std::string ck = (root / "sam_vit_b_random.pth").string();
    const auto t0 = Clock::now();
    const int64_t params = write_vit_b_checkpoint(ck);
    const double write_s = std::chrono::duration<double>(Clock::now() - t0).count();
    const double file_mb = double(fs::file_size(ck)) / 1048576;
    const std::map<std::string, std::string> vars = {
        {"SAM_CHOICE", "SAM"}, {"VITH_CHECKPOINT", ck}, {"LOCAL_FILES_DOCUMENT_ROOT", root.string()}};

    std::vector<double> t;
    for (int i = 0; i < 3; ++i) t.push_back(seconds_to_health(vars, 60));
    char extra[192];
    std::snprintf(extra, sizeof extra, "\"params\": %lld, \"file_mb\": %.1f, \"write_s\": %.2f, \"target_median_vit_h\": 5.0",
                  static_cast<long long>(params), file_mb, write_s);
    sambench::print_json("server_start_vit_b", figures(t), extra);

    sambench::write_image((root / "vit.png").string(), 9);
    const auto s = sambench::start_server(vars, 60);
    const auto before = proc_status(s->pid());
    const auto c0 = Clock::now();
    sambench::click(s->port(), "vit.png", 600);
    const double click_s = std::chrono::duration<double>(Clock::now() - c0).count();
    const auto st = proc_status(s->pid());
    std::snprintf(extra, sizeof extra, "\"file_mb\": %.1f, \"rss_at_start_mb\": %.1f, \"first_click_s\": %.2f, ", file_mb,
                  before.at("VmRSS") / 1024, click_s);
    print_mb("server_rss_vit_b_1_embedding", {st.at("VmRSS") / 1024}, extra + status_extra(st));
    s->terminate(30);
    fs::remove(ck);
}

}  // namespace

int main(int argc, char** argv) {
    const bool vit = !(argc > 1 && std::strcmp(argv[1], "--no-vit") == 0);
    const fs::path root = fs::temp_directory_path() / ("sam-bench-startup-" + std::to_string(::getpid()));
    fs::create_directories(root);
    int rc = 0;
    try {
        bench_mobilesam(root);
        if (vit) bench_vit_b(root);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_startup: %s\n", e.what());
        rc = 1;
    }
    fs::remove_all(root);
    return rc;
}
