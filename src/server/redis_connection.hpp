// One connection to Redis: a TCP socket, TLS on top for rediss:// (OpenSSL through memory BIOs,
// so plain and TLS connections wait on the socket in the same place), hiredis for the protocol
// (commands formatted by redisFormatCommandArgv, replies parsed by its redisReader).
// Every wait (connect, handshake, send, receive) gives up after `timeout` without progress.
#pragma once

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

struct redisReply;
struct redisReader;
struct ssl_ctx_st;
struct ssl_st;

namespace sam::server {

// redis://[[user]:password@]host[:port][/db] or rediss:// for TLS, as Redis clients write them.
struct RedisEndpoint {
    bool tls = false;
    std::string host;
    int port = 6379;
    std::string user, password;  // percent-decoded
    int db = 0;
    std::string redacted() const;  // the URL with the password replaced by "***", for logs
};
// Throws std::invalid_argument saying what is wrong with the URL.
RedisEndpoint parse_redis_url(const std::string& url);

// For rediss://: the CA that signed the server's certificate (else the system's CAs), and a
// client certificate and key when the server asks for one (Redis's tls-auth-clients).
struct RedisTlsFiles {
    std::string ca_file, cert_file, key_file;
};

// The TLS settings every connection of a client shares. Throws std::invalid_argument when a
// file cannot be used.
class RedisTlsContext {
public:
    explicit RedisTlsContext(const RedisTlsFiles& files);
    ~RedisTlsContext();
    RedisTlsContext(const RedisTlsContext&) = delete;
    RedisTlsContext& operator=(const RedisTlsContext&) = delete;
    ssl_ctx_st* get() const { return ctx_; }

private:
    ssl_ctx_st* ctx_ = nullptr;
};

class RedisError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct RedisReplyDeleter {
    void operator()(redisReply* reply) const;
};
using RedisReplyPtr = std::unique_ptr<redisReply, RedisReplyDeleter>;
using RedisCommand = std::vector<std::string_view>;

class RedisConnection {
public:
    // Connects (TLS handshake and certificate check for rediss://), authenticates and selects the
    // database. Throws RedisError saying which step failed.
    static std::unique_ptr<RedisConnection> open(const RedisEndpoint& endpoint, const RedisTlsContext* tls,
                                                 std::chrono::milliseconds timeout);
    ~RedisConnection();
    RedisConnection(const RedisConnection&) = delete;
    RedisConnection& operator=(const RedisConnection&) = delete;

    // Sends the commands in one write and reads one reply each (Redis error replies included).
    // Throws RedisError on a timeout, a closed or broken connection, a protocol error, or replies
    // longer than max_reply_bytes in all; the connection is unusable after that.
    std::vector<RedisReplyPtr> run(const std::vector<RedisCommand>& commands, size_t max_reply_bytes);

private:
    RedisConnection() = default;
    void connect_socket(const RedisEndpoint& endpoint);
    void tls_handshake(const RedisEndpoint& endpoint, const RedisTlsContext& tls);
    void send_all(const char* data, size_t size);
    size_t receive(char* buf, size_t size);  // some bytes of the (decrypted) stream
    // The socket's own bytes: everything out, or what has arrived (at least one byte).
    void socket_send(const char* data, size_t size);
    size_t socket_receive(char* buf, size_t size);
    void wait(short events, const char* doing);
    void tls_flush();
    [[noreturn]] void tls_fail(const char* doing, int ssl_result);

    int fd_ = -1;
    std::chrono::milliseconds timeout_{0};
    std::chrono::steady_clock::time_point deadline_;  // of the whole call in progress
    ssl_st* ssl_ = nullptr;
    redisReader* reader_ = nullptr;
};

}  // namespace sam::server
