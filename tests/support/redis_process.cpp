#include "support/redis_process.hpp"

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <thread>

#include "support/server_process.hpp"  // free_port

namespace samtest {

namespace {

std::string quote(const std::string& s) {
    std::string out = "'";
    for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

std::string run_command(const std::string& command) {
    FILE* p = ::popen((command + " 2>&1").c_str(), "r");
    if (!p) throw std::runtime_error("cannot run " + command);
    std::string out;
    std::array<char, 4096> buf;
    while (size_t n = fread(buf.data(), 1, buf.size(), p)) out.append(buf.data(), n);
    if (int rc = ::pclose(p); rc != 0) throw std::runtime_error(command + " failed: " + out);
    return out;
}

}  // namespace

TestCertificate make_certificate(const std::string& dir, const std::string& name, const std::string& alt_names) {
    TestCertificate c{dir + "/" + name + ".crt", dir + "/" + name + ".key"};
    run_command("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=" +
                name + " -addext " + quote("subjectAltName=" + alt_names) + " -keyout " + quote(c.key) + " -out " +
                quote(c.cert));
    return c;
}

RedisProcess::RedisProcess() : RedisProcess(Options{}) {}

RedisProcess::RedisProcess(const Options& options) : options_(options) {
    char tmpl[] = "/tmp/sam-redis-XXXXXX";
    if (!mkdtemp(tmpl)) throw std::runtime_error("cannot create a folder for redis-server");
    dir_ = tmpl;
    if (options_.tls) cert_ = make_certificate(dir_, "localhost", "DNS:localhost,IP:127.0.0.1");
    port_ = free_port();
    start();
}

RedisProcess::~RedisProcess() {
    if (pid_ > 0) {
        ::kill(pid_, SIGCONT);
        ::kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
}

std::string RedisProcess::url() const {
    return std::string(options_.tls ? "rediss" : "redis") + "://127.0.0.1:" + std::to_string(port_);
}

void RedisProcess::start() {
    if (pid_ > 0) return;
    std::vector<std::string> args = {"redis-server", "--bind", "127.0.0.1", "--dir", dir_, "--save", "",
                                     "--appendonly", "no", "--logfile", dir_ + "/redis.log"};
    const std::string port = std::to_string(port_);
    if (options_.tls) {
        args.insert(args.end(), {"--port", "0", "--tls-port", port, "--tls-cert-file", cert_.cert, "--tls-key-file",
                                 cert_.key, "--tls-ca-cert-file", cert_.cert, "--tls-auth-clients",
                                 options_.tls_client_certificates ? "yes" : "no"});
    } else {
        args.insert(args.end(), {"--port", port});
    }
    args.insert(args.end(), options_.extra.begin(), options_.extra.end());
    pid_ = fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        execvp("redis-server", argv.data());
        _exit(127);
    }
    wait_ready();
}

void RedisProcess::wait_ready() {
    // Ready once the port accepts connections (redis-server binds after loading, i.e. at once).
    for (int i = 0; i < 200; ++i) {
        int status = 0;
        if (waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            throw std::runtime_error("redis-server exited at start; see " + dir_ + "/redis.log");
        }
        int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = htons(static_cast<uint16_t>(port_));
        const bool up = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
        ::close(fd);
        if (up) return;
        std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    throw std::runtime_error("redis-server did not start listening on " + std::to_string(port_));
}

void RedisProcess::kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGCONT);
    ::kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
}

void RedisProcess::pause() {
    if (pid_ > 0) ::kill(pid_, SIGSTOP);
}

void RedisProcess::resume() {
    if (pid_ > 0) ::kill(pid_, SIGCONT);
}

std::string RedisProcess::cli(const std::vector<std::string>& args) const {
    std::string command = "redis-cli -h 127.0.0.1 -p " + std::to_string(port_);
    if (options_.tls)
        command += " --tls --cacert " + quote(cert_.cert) + " --cert " + quote(cert_.cert) + " --key " + quote(cert_.key);
    for (const auto& a : args) command += " " + quote(a);
    return run_command(command);
}

}  // namespace samtest
