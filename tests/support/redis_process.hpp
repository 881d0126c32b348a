// A real redis-server (the Debian package) as a child process of a test: a free 127.0.0.1 port,
// its own temporary folder (no persistence), stopped and removed when the object goes away.
// Optionally TLS only, with a certificate the test makes with the openssl command-line tool.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace samtest {

// A self-signed certificate and its key (PEM files in `dir`), valid for the given
// subjectAltName entries (e.g. "DNS:localhost,IP:127.0.0.1"). Throws when openssl fails.
struct TestCertificate {
    std::string cert, key;
};
TestCertificate make_certificate(const std::string& dir, const std::string& name, const std::string& alt_names);

class RedisProcess {
public:
    struct Options {
        bool tls = false;                   // listen with TLS only (certificate made here)
        bool tls_client_certificates = false;  // Redis's tls-auth-clients
        std::vector<std::string> extra;     // more arguments, e.g. {"--requirepass", "secret"}
    };
    RedisProcess();
    explicit RedisProcess(const Options& options);
    ~RedisProcess();
    RedisProcess(const RedisProcess&) = delete;
    RedisProcess& operator=(const RedisProcess&) = delete;

    int port() const { return port_; }
    std::string url() const;  // redis://127.0.0.1:<port> or rediss://...
    const std::string& dir() const { return dir_; }
    const TestCertificate& certificate() const { return cert_; }  // TLS only

    void kill();     // SIGKILL, as a crash
    void start();    // again, on the same port (empty: nothing was persisted)
    void pause();    // SIGSTOP: accepts connections (the kernel does) but never answers
    void resume();   // SIGCONT
    bool running() const { return pid_ > 0; }

    // redis-cli against this server; its output. Throws when it fails.
    std::string cli(const std::vector<std::string>& args) const;

private:
    void wait_ready();

    Options options_;
    std::string dir_;
    TestCertificate cert_;
    int port_ = 0;
    pid_t pid_ = -1;
};

}  // namespace samtest
