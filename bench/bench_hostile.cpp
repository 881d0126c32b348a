// The real sam-ml-backend binary under hostile clients (issue 12): how long /health and a click
// on a cached image take while others attack it. Each figure is the median of 20 probes, every
// /health probe a new connection (as Label Studio's health checks are); a probe that gets no
// answer within 5 s counts as 5 s and is reported in "unanswered".
//   health_idle                         nothing else going on
//   health_200_slow_header_connections  200 connections sending one header byte per second
//                                       each (reopened when the server cuts them off), probes
//                                       500 ms apart so the attack outlasts HEADER_TIMEOUT
//   health_8_hung_downloads             8 /predict whose image URL accepts and never answers
//   click_cached_8_hung_downloads       a click on a cached 1920x1080 image meanwhile
//   click_cached_1080p_before, _after   only with SAM_BACKEND_BIN_BEFORE=<another build>: that
//                                       build and this one side by side, clicks on a cached
//                                       1920x1080 image interleaved (keep-alive client);
//                                       "ratio" = after / before
// SAM_BACKEND_BIN measures another build instead of the one of this build (run it with
// an older build to see the figures before the transport change).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <memory>

#include "bench_util.hpp"
#include "server_process.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

using Clock = std::chrono::steady_clock;
constexpr double kProbeLimit = 5;

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

int tcp_connect(int port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) return fd;
    if (fd >= 0) ::close(fd);
    return -1;
}

bool send_all(int fd, const std::string& bytes) {
    return ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size());
}

struct Probes {
    std::vector<double> seconds;
    int unanswered = 0;
};

// 20 samples of `probe` (true: answered), `gap_ms` apart; stops early after 3 unanswered in a row.
Probes sample(const std::function<bool()>& probe, int gap_ms = 100) {
    Probes p;
    int in_a_row = 0;
    for (int i = 0; i < 20 && in_a_row < 3; ++i) {
        const auto t0 = Clock::now();
        const bool ok = probe();
        p.seconds.push_back(ok ? since(t0) : kProbeLimit);
        in_a_row = ok ? 0 : in_a_row + 1;
        p.unanswered += !ok;
        std::this_thread::sleep_for(std::chrono::milliseconds(gap_ms));
    }
    return p;
}

void print(const std::string& name, const Probes& p, const std::string& extra = "") {
    std::vector<double> t = p.seconds;
    std::sort(t.begin(), t.end());
    sambench::print_json(name, {t[t.size() / 2], t.front(), t.back(), int(t.size())},
                         "\"unanswered\": " + std::to_string(p.unanswered) + (extra.empty() ? "" : ", " + extra));
}

bool health(int port) {
    httplib::Client c("127.0.0.1", port);
    c.set_connection_timeout(std::chrono::milliseconds(int(kProbeLimit * 1000)));
    c.set_read_timeout(std::chrono::milliseconds(int(kProbeLimit * 1000)));
    auto res = c.Get("/health");
    return res && res->status == 200;
}

// 200 connections that never finish their headers: one byte per connection per second, a new
// connection for each one the server closes.
class SlowHeaders {
public:
    explicit SlowHeaders(int port) : port_(port) {
        for (int i = 0; i < 200; ++i) fds_.push_back(open());
        thread_ = std::thread([this] {
            while (running_) {
                for (int& fd : fds_)
                    if (fd < 0 || !send_all(fd, "a")) {
                        if (fd >= 0) ::close(fd);
                        fd = open();
                        reopened_++;
                    }
                for (int i = 0; i < 10 && running_; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
            }
        });
    }
    ~SlowHeaders() {
        running_ = false;
        thread_.join();
        for (int fd : fds_)
            if (fd >= 0) ::close(fd);
    }
    int reopened() const { return reopened_; }

private:
    int open() {
        const int fd = tcp_connect(port_);
        if (fd >= 0) send_all(fd, "GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ");
        return fd;
    }
    int port_;
    std::vector<int> fds_;
    std::atomic<bool> running_{true};
    std::atomic<int> reopened_{0};
    std::thread thread_;
};

// Accepts connections in the kernel's backlog and never answers.
struct SilentListener {
    int fd = -1, port = 0;
    SilentListener() {
        fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof a;
        if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 64) != 0 ||
            getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0)
            throw std::runtime_error("cannot listen on 127.0.0.1");
        port = ntohs(a.sin_port);
    }
    ~SilentListener() { ::close(fd); }
};

// A keep-alive client clicking on the cached 1920x1080 image, as Label Studio's backend does.
struct Clicker {
    httplib::Client client;
    int n = 0;
    explicit Clicker(int port) : client("127.0.0.1", port) {
        client.set_keep_alive(true);
        client.set_tcp_nodelay(true);
        client.set_read_timeout(std::chrono::milliseconds(int(kProbeLimit * 1000)));
    }
    bool click() {
        ++n;
        auto res = client.Post("/predict", sambench::click_body("/data/local-files/?d=img.png", 10 + n % 80, 10 + (n * 7) % 80).dump(),
                               "application/json");
        return res && res->status == 200;
    }
};

std::map<std::string, std::string> server_env(const fs::path& root) {
    const char* ck = std::getenv("MOBILESAM_CHECKPOINT");
    return {{"MOBILESAM_CHECKPOINT", ck ? ck : SAM_SOURCE_DIR "/../shared/golden/checkpoints/mobile_sam_random.pt"},
            {"LOCAL_FILES_DOCUMENT_ROOT", root.string()},
            {"DOWNLOAD_TIMEOUT", "120"}};
}

void under_attack(const fs::path& root) {
    const auto server = sambench::start_server(server_env(root), 60);
    const int port = server->port();
    sambench::click(port, "img.png", 120);  // embedded: clicks on it are cached from now on
    print("health_idle", sample([&] { return health(port); }));
    {
        SlowHeaders slow(port);
        std::this_thread::sleep_for(std::chrono::seconds(1));
        // Probes spread over 10 s: the attack outlives HEADER_TIMEOUT and reconnects meanwhile.
        Probes p = sample([&] { return health(port); }, 500);
        print("health_200_slow_header_connections", p, "\"reopened\": " + std::to_string(slow.reopened()));
    }
    SilentListener hung;
    std::vector<int> waiting;
    for (int i = 0; i < 8; ++i) {
        const std::string body =
            sambench::click_body("http://127.0.0.1:" + std::to_string(hung.port) + "/img" + std::to_string(i) + ".jpg").dump();
        const int fd = tcp_connect(port);
        send_all(fd, "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
                         std::to_string(body.size()) + "\r\n\r\n" + body);
        waiting.push_back(fd);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    print("health_8_hung_downloads", sample([&] { return health(port); }));
    Clicker clicker(port);
    print("click_cached_8_hung_downloads", sample([&] { return clicker.click(); }), "\"image\": \"1920x1080\"");
    for (int fd : waiting) ::close(fd);
}

void before_after(const fs::path& root, const std::string& before_bin) {
    auto before_env = server_env(root);
    before_env["SAM_BACKEND_BIN"] = before_bin;
    const auto before = sambench::start_server(before_env, 60), after = sambench::start_server(server_env(root), 60);
    sambench::click(before->port(), "img.png", 120);
    sambench::click(after->port(), "img.png", 120);
    Clicker b(before->port()), a(after->port());
    for (int i = 0; i < 3; ++i) b.click(), a.click();  // connections open, caches warm
    Probes pb, pa;
    for (int round = 0; round < 30; ++round) {
        for (Clicker* c : {&b, &a}) {
            const auto t0 = Clock::now();
            if (!c->click()) throw std::runtime_error("click failed");
            (c == &b ? pb : pa).seconds.push_back(since(t0));
        }
    }
    auto median = [](std::vector<double> t) {
        std::sort(t.begin(), t.end());
        return t[t.size() / 2];
    };
    char ratio[64];
    std::snprintf(ratio, sizeof ratio, "\"ratio\": %.3f", median(pa.seconds) / median(pb.seconds));
    print("click_cached_1080p_before", pb, "\"image\": \"1920x1080\", \"binary\": \"" + before_bin + "\"");
    print("click_cached_1080p_after", pa, std::string("\"image\": \"1920x1080\", ") + ratio);
}

}  // namespace

int main() {
    rlimit lim{};
    getrlimit(RLIMIT_NOFILE, &lim);
    lim.rlim_cur = std::min<rlim_t>(lim.rlim_max, 4096);
    setrlimit(RLIMIT_NOFILE, &lim);
    const fs::path root = fs::temp_directory_path() / ("sam-bench-hostile-" + std::to_string(::getpid()));
    fs::create_directories(root);
    sambench::write_image((root / "img.png").string(), 0);
    int rc = 0;
    try {
        under_attack(root);
        if (const char* before = std::getenv("SAM_BACKEND_BIN_BEFORE")) before_after(root, before);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_hostile: %s\n", e.what());
        rc = 1;
    }
    fs::remove_all(root);
    return rc;
}
