// The HTTP/1.1 transport: libmicrohttpd on one epoll thread that only reads requests and
// writes answers; the routes decide where the work runs (inline for cheap GETs, worker pools
// for the rest) and answer through a Responder from any thread (the connection waits
// suspended meanwhile, costing no thread).
//
// What one client can hold, and for how long (README "Security"):
// - connections: max_connections in all, max_connections_per_ip from one address;
// - request head (request line + headers): header_timeout seconds in total, from the
//   connection's opening (first request) or from its request line (later ones);
// - body: body_timeout seconds in total after the head; at most max_body_bytes (a larger
//   Content-Length is answered 413 before any body byte is read; a chunked body that grows past
//   it closes the connection); all bodies held at once at most max_bodies_bytes (503 beyond);
// - idle keep-alive connection: idle_timeout seconds between requests (in total, so trickling
//   bytes does not extend it); also MHD's inactivity timeout while an answer is written.
// A sweeper thread enforces the totals by shutdown() of the socket; MHD then closes it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace sam::server {

struct HttpRequest {
    std::string method;         // as sent: GET, POST, HEAD...
    std::string path;           // percent-decoded by the transport: raw bytes, maybe not UTF-8
    std::string authorization;  // the Authorization header, or ""
    std::string remote;         // the peer's address, for logs
    std::string body;           // empty while only the head has arrived
    std::chrono::steady_clock::time_point arrived;  // when the head was complete
};

struct HttpResponse {
    int status = 200;
    std::string body;
    std::string content_type = "application/json";
    std::vector<std::pair<std::string, std::string>> headers;
};

namespace detail {
struct Ticket;
}

// Answers one request, once, from any thread; later calls do nothing. Copies share the
// request. When the last copy goes without an answer (a queued job discarded at shutdown,
// or a bug) the request is answered 503, so no client waits forever.
class Responder {
public:
    Responder() = default;
    explicit Responder(std::shared_ptr<detail::Ticket> ticket) : ticket_(std::move(ticket)) {}
    void send(HttpResponse response) const;

private:
    std::shared_ptr<detail::Ticket> ticket_;
};

struct TransportOptions {
    std::string host = "0.0.0.0";
    int port = 9090;                  // 0: any free port
    int64_t max_body_bytes = 16 << 20;
    int64_t max_bodies_bytes = 64 << 20;  // request bodies in memory at once, all connections
    double header_timeout = 5;        // seconds, request line and headers in total
    double body_timeout = 30;         // seconds, the whole body
    double idle_timeout = 30;         // seconds, keep-alive between requests; write inactivity
    int max_connections = 1024;
    int max_connections_per_ip = 512;
};

struct TransportStats {
    int64_t connections = 0;  // open now
    int64_t header_timeouts = 0, body_timeouts = 0, idle_timeouts = 0;  // connections closed so far
    int64_t bodies_too_large = 0;  // 413 answers and chunked bodies cut off
    int64_t bodies_refused = 0;    // 503 answers and chunked bodies cut off: max_bodies_bytes reached
};

class HttpTransport {
public:
    // Runs on the event thread once a request's head is complete, before any body byte is read.
    // An answer here goes out at once and the body is never read (the connection then closes).
    using HeadHandler = std::function<std::optional<HttpResponse>(const HttpRequest& head)>;
    // Runs on the event thread with the whole request. Must not block: answer inline or hand
    // the responder to a worker.
    using RequestHandler = std::function<void(HttpRequest&& request, Responder responder)>;

    HttpTransport(TransportOptions options, HeadHandler on_head, RequestHandler on_request);
    ~HttpTransport();  // stop()
    HttpTransport(const HttpTransport&) = delete;
    HttpTransport& operator=(const HttpTransport&) = delete;

    // Binds and listens (port 0: a free one); returns the port. Throws std::runtime_error.
    int bind();
    // bind() if needed, then accepts on the event thread; connections are accepted once it returns.
    void start();
    // Stops accepting new connections (those open keep being served).
    void stop_accepting();
    // Closes every connection and joins the threads. Answers sent after this are dropped.
    void stop();
    int port() const;
    TransportStats stats() const;

    struct Impl;

private:
    std::unique_ptr<Impl> impl_;
};

}  // namespace sam::server
