#include "server/redis_connection.hpp"

#include <hiredis/hiredis.h>
#include <hiredis/read.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <curl/curl.h>

#include <cerrno>
#include <cstring>

namespace sam::server {

namespace {

using Clock = std::chrono::steady_clock;

std::string openssl_errors() {
    std::string out;
    while (unsigned long e = ERR_get_error()) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof buf);
        out += (out.empty() ? "" : "; ") + std::string(buf);
    }
    return out.empty() ? "no detail from OpenSSL" : out;
}

bool is_ip_literal(const std::string& host) {
    unsigned char buf[sizeof(in6_addr)];
    return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

}  // namespace

// ---- URL ----

RedisEndpoint parse_redis_url(const std::string& url) {
    // libcurl's URL parser: percent-decoding of the credentials, IPv6 hosts, port range. The URL
    // may hold a password: messages never repeat it.
    std::unique_ptr<CURLU, decltype(&curl_url_cleanup)> u(curl_url(), curl_url_cleanup);
    if (!u) throw std::invalid_argument("out of memory parsing EMBEDDING_STORE");
    if (curl_url_set(u.get(), CURLUPART_URL, url.c_str(), CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK)
        throw std::invalid_argument("EMBEDDING_STORE is not a URL like redis://[user:password@]host:port[/db]");
    auto part = [&](CURLUPart which, unsigned flags = 0) {
        char* v = nullptr;
        std::string out;
        const CURLUcode rc = curl_url_get(u.get(), which, &v, flags);
        if (rc == CURLUE_OK && v) out = v;
        curl_free(v);
        if (rc == CURLUE_URLDECODE) throw std::invalid_argument("bad percent escape in EMBEDDING_STORE");
        return out;
    };
    RedisEndpoint ep;
    const std::string scheme = part(CURLUPART_SCHEME);
    if (scheme != "redis" && scheme != "rediss")
        throw std::invalid_argument("EMBEDDING_STORE must start with redis:// or rediss://");
    ep.tls = scheme == "rediss";
    if (!part(CURLUPART_QUERY).empty() || !part(CURLUPART_FRAGMENT).empty())
        throw std::invalid_argument("EMBEDDING_STORE takes no query or fragment (TLS files: EMBEDDING_STORE_TLS_*)");
    ep.user = part(CURLUPART_USER, CURLU_URLDECODE);
    ep.password = part(CURLUPART_PASSWORD, CURLU_URLDECODE);
    ep.host = part(CURLUPART_HOST);
    if (ep.host.size() > 2 && ep.host.front() == '[') ep.host = ep.host.substr(1, ep.host.size() - 2);
    if (ep.host.empty()) throw std::invalid_argument("EMBEDDING_STORE has no host");
    if (const std::string port = part(CURLUPART_PORT); !port.empty()) ep.port = std::stoi(port);
    if (ep.port < 1) throw std::invalid_argument("EMBEDDING_STORE: port out of range");
    const std::string path = part(CURLUPART_PATH);
    if (path.size() > 1) {
        const std::string db = path.substr(1);
        if (db.size() > 7 || db.find_first_not_of("0123456789") != std::string::npos)
            throw std::invalid_argument("EMBEDDING_STORE: the path must be a database number, got '/" + db + "'");
        ep.db = std::stoi(db);
    }
    return ep;
}

std::string RedisEndpoint::redacted() const {
    std::string out = tls ? "rediss://" : "redis://";
    if (!user.empty() || !password.empty()) {
        out += user;
        if (!password.empty()) out += ":***";
        out += '@';
    }
    const bool v6 = host.find(':') != std::string::npos;
    if (v6) out += '[';
    out += host;
    if (v6) out += ']';
    out += ':';
    out += std::to_string(port);
    if (db != 0) {
        out += '/';
        out += std::to_string(db);
    }
    return out;
}

// ---- TLS context ----

RedisTlsContext::RedisTlsContext(const RedisTlsFiles& files) {
    ctx_ = SSL_CTX_new(TLS_client_method());
    if (!ctx_) throw std::invalid_argument("cannot create a TLS context: " + openssl_errors());
    SSL_CTX_set_min_proto_version(ctx_, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    const bool loaded = files.ca_file.empty() ? SSL_CTX_set_default_verify_paths(ctx_) == 1
                                              : SSL_CTX_load_verify_locations(ctx_, files.ca_file.c_str(), nullptr) == 1;
    std::string problem;
    if (!loaded) problem = "cannot load the CA certificates " + (files.ca_file.empty() ? "of the system" : files.ca_file);
    if (problem.empty() && files.cert_file.empty() != files.key_file.empty())
        problem = "EMBEDDING_STORE_TLS_CERT and EMBEDDING_STORE_TLS_KEY go together";
    if (problem.empty() && !files.cert_file.empty()) {
        if (SSL_CTX_use_certificate_chain_file(ctx_, files.cert_file.c_str()) != 1)
            problem = "cannot load the client certificate " + files.cert_file;
        else if (SSL_CTX_use_PrivateKey_file(ctx_, files.key_file.c_str(), SSL_FILETYPE_PEM) != 1)
            problem = "cannot load the client key " + files.key_file;
        else if (SSL_CTX_check_private_key(ctx_) != 1)
            problem = "the client key " + files.key_file + " does not belong to " + files.cert_file;
    }
    if (!problem.empty()) {
        problem += ": " + openssl_errors();
        SSL_CTX_free(ctx_);
        throw std::invalid_argument(problem);
    }
}

RedisTlsContext::~RedisTlsContext() { SSL_CTX_free(ctx_); }

// ---- connection ----

void RedisReplyDeleter::operator()(redisReply* reply) const { freeReplyObject(reply); }

RedisConnection::~RedisConnection() {
    if (ssl_) SSL_free(ssl_);  // frees its BIOs too; no close_notify: nothing waits for it
    if (fd_ >= 0) ::close(fd_);
    if (reader_) redisReaderFree(reader_);
}

std::unique_ptr<RedisConnection> RedisConnection::open(const RedisEndpoint& endpoint, const RedisTlsContext* tls,
                                                       std::chrono::milliseconds timeout) {
    std::unique_ptr<RedisConnection> c(new RedisConnection());
    c->timeout_ = timeout;
    c->deadline_ = Clock::now() + 4 * timeout;  // connect, handshake and AUTH together
    c->reader_ = redisReaderCreate();
    if (!c->reader_) throw RedisError("out of memory");
    c->connect_socket(endpoint);
    if (endpoint.tls) {
        if (!tls) throw RedisError("rediss:// without a TLS context");
        c->tls_handshake(endpoint, *tls);
    }
    std::vector<RedisCommand> hello;
    if (!endpoint.password.empty()) {
        if (endpoint.user.empty()) hello.push_back({"AUTH", endpoint.password});
        else hello.push_back({"AUTH", endpoint.user, endpoint.password});
    }
    const std::string db = std::to_string(endpoint.db);
    if (endpoint.db != 0) hello.push_back({"SELECT", db});
    hello.push_back({"PING"});
    for (const RedisReplyPtr& r : c->run(hello, 1 << 16))
        if (r->type == REDIS_REPLY_ERROR) throw RedisError(std::string("Redis refused the connection: ") + r->str);
    return c;
}

void RedisConnection::wait(short events, const char* doing) {
    const auto now = Clock::now();
    if (now >= deadline_) throw RedisError(std::string("timed out ") + doing);
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - now);
    const int ms = static_cast<int>(std::max<int64_t>(1, std::min(left, timeout_).count()));
    pollfd p{fd_, events, 0};
    int n;
    do n = ::poll(&p, 1, ms);
    while (n < 0 && errno == EINTR);
    if (n == 0) throw RedisError(std::string("timed out ") + doing + " (" + std::to_string(timeout_.count()) + " ms)");
    if (n < 0) throw RedisError(std::string("poll failed ") + doing + ": " + std::strerror(errno));
}

void RedisConnection::connect_socket(const RedisEndpoint& ep) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    const std::string port = std::to_string(ep.port);
    if (int rc = getaddrinfo(ep.host.c_str(), port.c_str(), &hints, &found); rc != 0)
        throw RedisError("cannot resolve " + ep.host + ": " + gai_strerror(rc));
    std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> list(found, freeaddrinfo);
    std::string last = "no address";
    for (addrinfo* a = found; a; a = a->ai_next) {
        fd_ = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
        if (fd_ < 0) {
            last = std::strerror(errno);
            continue;
        }
        int yes = 1;
        setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);  // commands are small writes
        if (::connect(fd_, a->ai_addr, a->ai_addrlen) == 0) return;
        if (errno == EINPROGRESS) {
            try {
                wait(POLLOUT, "connecting");
                int err = 0;
                socklen_t len = sizeof err;
                getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
                if (err == 0) return;
                last = std::strerror(err);
            } catch (const RedisError& e) {
                last = e.what();
            }
        } else {
            last = std::strerror(errno);
        }
        ::close(fd_);
        fd_ = -1;
    }
    throw RedisError("cannot connect to " + ep.host + ":" + port + ": " + last);
}

void RedisConnection::socket_send(const char* data, size_t size) {
    while (size > 0) {
        ssize_t n = ::send(fd_, data, size, MSG_NOSIGNAL);
        if (n > 0) {
            data += n;
            size -= static_cast<size_t>(n);
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            wait(POLLOUT, "sending");
        } else if (n < 0 && errno != EINTR) {
            throw RedisError(std::string("send failed: ") + std::strerror(errno));
        }
    }
}

size_t RedisConnection::socket_receive(char* buf, size_t size) {
    for (;;) {
        ssize_t n = ::recv(fd_, buf, size, 0);
        if (n > 0) return static_cast<size_t>(n);
        if (n == 0) throw RedisError("connection closed by the server");
        if (errno == EAGAIN || errno == EWOULDBLOCK) wait(POLLIN, "waiting for a reply");
        else if (errno != EINTR) throw RedisError(std::string("receive failed: ") + std::strerror(errno));
    }
}

// ---- TLS over memory BIOs: OpenSSL encrypts into wbio and decrypts from rbio; the bytes go
// through socket_send / socket_receive like a plain connection's. ----

void RedisConnection::tls_flush() {
    BIO* wbio = SSL_get_wbio(ssl_);
    char buf[16384];
    while (BIO_ctrl_pending(wbio) > 0) {
        int n = BIO_read(wbio, buf, sizeof buf);
        if (n <= 0) break;
        socket_send(buf, static_cast<size_t>(n));
    }
}

void RedisConnection::tls_fail(const char* doing, int ssl_result) {
    std::string why;
    const int err = SSL_get_error(ssl_, ssl_result);
    const long verify = SSL_get_verify_result(ssl_);
    if (verify != X509_V_OK) why = std::string("certificate: ") + X509_verify_cert_error_string(verify);
    else if (err == SSL_ERROR_ZERO_RETURN) why = "closed by the server";
    else why = openssl_errors();
    throw RedisError(std::string("TLS ") + doing + " failed: " + why);
}

void RedisConnection::tls_handshake(const RedisEndpoint& ep, const RedisTlsContext& tls) {
    ssl_ = SSL_new(tls.get());
    BIO* rbio = BIO_new(BIO_s_mem());
    BIO* wbio = BIO_new(BIO_s_mem());
    if (!ssl_ || !rbio || !wbio) {
        BIO_free(rbio);
        BIO_free(wbio);
        throw RedisError("out of memory for TLS");
    }
    SSL_set_bio(ssl_, rbio, wbio);
    SSL_set_connect_state(ssl_);
    // The certificate must name the host we asked for: its DNS name, or its IP address.
    if (is_ip_literal(ep.host)) {
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), ep.host.c_str());
    } else {
        SSL_set_tlsext_host_name(ssl_, ep.host.c_str());
        SSL_set1_host(ssl_, ep.host.c_str());
    }
    ERR_clear_error();
    char buf[16384];
    for (;;) {
        const int r = SSL_do_handshake(ssl_);
        tls_flush();
        if (r == 1) return;
        if (SSL_get_error(ssl_, r) != SSL_ERROR_WANT_READ) tls_fail("handshake", r);
        size_t n;
        try {
            n = socket_receive(buf, sizeof buf);
        } catch (const RedisError& e) {
            throw RedisError(std::string("TLS handshake failed: ") + e.what());
        }
        BIO_write(rbio, buf, static_cast<int>(n));
    }
}

void RedisConnection::send_all(const char* data, size_t size) {
    if (!ssl_) return socket_send(data, size);
    while (size > 0) {
        const int chunk = static_cast<int>(std::min<size_t>(size, 1 << 30));
        ERR_clear_error();
        const int n = SSL_write(ssl_, data, chunk);  // into the memory BIO: never waits
        if (n <= 0) tls_fail("write", n);
        tls_flush();
        data += n;
        size -= static_cast<size_t>(n);
    }
}

size_t RedisConnection::receive(char* buf, size_t size) {
    if (!ssl_) return socket_receive(buf, size);
    char raw[16384];
    for (;;) {
        ERR_clear_error();
        const int n = SSL_read(ssl_, buf, static_cast<int>(std::min<size_t>(size, 1 << 30)));
        if (n > 0) return static_cast<size_t>(n);
        if (SSL_get_error(ssl_, n) != SSL_ERROR_WANT_READ) tls_fail("read", n);
        tls_flush();  // TLS may have something to say first (key updates)
        const size_t got = socket_receive(raw, sizeof raw);
        BIO_write(SSL_get_rbio(ssl_), raw, static_cast<int>(got));
    }
}

// ---- commands ----

std::vector<RedisReplyPtr> RedisConnection::run(const std::vector<RedisCommand>& commands, size_t max_reply_bytes) {
    deadline_ = Clock::now() + 20 * timeout_;  // a stream that keeps moving may take longer than one timeout
    std::string out;
    for (const RedisCommand& cmd : commands) {
        std::vector<const char*> argv;
        std::vector<size_t> lens;
        for (std::string_view a : cmd) {
            argv.push_back(a.data());
            lens.push_back(a.size());
        }
        char* formatted = nullptr;
        const int len = redisFormatCommandArgv(&formatted, static_cast<int>(argv.size()), argv.data(), lens.data());
        if (len < 0) throw RedisError("cannot format a command");
        out.append(formatted, static_cast<size_t>(len));
        redisFreeCommand(formatted);
    }
    send_all(out.data(), out.size());
    out.clear();
    out.shrink_to_fit();

    std::vector<RedisReplyPtr> replies;
    size_t received = 0;
    std::vector<char> buf(1 << 16);
    while (replies.size() < commands.size()) {
        void* reply = nullptr;
        if (redisReaderGetReply(reader_, &reply) != REDIS_OK)
            throw RedisError(std::string("protocol error: ") + reader_->errstr);
        if (reply) {
            replies.emplace_back(static_cast<redisReply*>(reply));
            continue;
        }
        const size_t n = receive(buf.data(), buf.size());
        received += n;
        if (received > max_reply_bytes)
            throw RedisError("reply longer than " + std::to_string(max_reply_bytes) + " bytes");
        if (redisReaderFeed(reader_, buf.data(), n) != REDIS_OK)
            throw RedisError(std::string("protocol error: ") + reader_->errstr);
    }
    return replies;
}

}  // namespace sam::server
