#include "server/http_transport.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <unordered_set>

#include "labelstudio/request_json.hpp"

namespace sam::server {

namespace {

using Clock = std::chrono::steady_clock;

int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch()).count();
}

int64_t after_ms(double seconds) { return now_ms() + static_cast<int64_t>(seconds * 1000); }

// What a connection is waiting for, and so which deadline the sweeper holds it to.
enum class Phase { Head, Body, Busy, Idle };

// Per connection (MHD's socket_context), from MHD's "started" to its "closed" notification.
struct Watch {
    int fd = -1;
    std::atomic<Phase> phase{Phase::Head};
    std::atomic<int64_t> deadline_ms{0};  // 0: none
    void set(Phase p, int64_t deadline) {
        phase = p;
        deadline_ms = deadline;
    }
};

std::string peer_address(MHD_Connection* c) {
    const MHD_ConnectionInfo* info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!info || !info->client_addr) return "?";
    char text[INET6_ADDRSTRLEN] = "?";
    const sockaddr* a = info->client_addr;
    if (a->sa_family == AF_INET)
        inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(a)->sin_addr, text, sizeof text);
    else if (a->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(a)->sin6_addr, text, sizeof text);
    return text;
}

Watch* watch_of(MHD_Connection* c) {
    const MHD_ConnectionInfo* info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return info ? static_cast<Watch*>(info->socket_context) : nullptr;
}

// Queues an answer; MHD copies nothing: the body string moves into the response.
bool queue_answer(MHD_Connection* c, HttpResponse&& r) {
    auto* body = new std::string(std::move(r.body));
    MHD_Response* response = MHD_create_response_from_buffer_with_free_callback_cls(
        body->size(), body->data(), [](void* p) { delete static_cast<std::string*>(p); }, body);
    if (!response) {
        delete body;
        return false;
    }
    MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, r.content_type.c_str());
    for (const auto& [name, value] : r.headers) MHD_add_response_header(response, name.c_str(), value.c_str());
    const MHD_Result ok = MHD_queue_response(c, static_cast<unsigned>(r.status), response);
    MHD_destroy_response(response);
    return ok == MHD_YES;
}

HttpResponse json_error(int status, const std::string& message) {
    HttpResponse r;
    r.status = status;
    r.body = ls::to_json_text({{"error", message}});
    return r;
}

}  // namespace

namespace detail {

// One request between its complete head and its answer; shared by the event thread (MHD's
// per-request context) and the responders.
struct Exchange {
    MHD_Connection* connection = nullptr;
    Watch* watch = nullptr;
    HttpRequest request;
    bool dispatched = false;  // the request handler has run (event thread only)
    bool declared = false;    // Content-Length given: its bytes were reserved with the head
    int64_t reserved = 0;     // bytes of the body budget held (event thread only)

    std::mutex mutex;          // guards what follows
    bool in_handler = false;   // the event thread is inside the request handler: keep the answer for it
    bool answered = false;
    bool closed = false;       // MHD finished with the request: answers are dropped
    std::optional<HttpResponse> kept;

    // Any thread. Only the event thread touches MHD's connection state: a suspended
    // connection is resumed, MHD calls the access handler again and that queues `kept`.
    void answer(HttpResponse&& r) {
        std::lock_guard lock(mutex);
        if (answered || closed) return;
        answered = true;
        kept = std::move(r);
        if (!in_handler) MHD_resume_connection(connection);  // suspended under this lock
    }
};

struct Ticket {
    std::shared_ptr<Exchange> exchange;
    Ticket() = default;
    Ticket(const Ticket&) = delete;
    Ticket& operator=(const Ticket&) = delete;
    ~Ticket() {
        if (exchange) exchange->answer(json_error(503, "the server is shutting down"));
    }
};

}  // namespace detail

void Responder::send(HttpResponse response) const {
    if (ticket_ && ticket_->exchange) ticket_->exchange->answer(std::move(response));
}

struct HttpTransport::Impl {
    TransportOptions options;
    HeadHandler on_head;
    RequestHandler on_request;

    int listen_fd = -1;
    int port = -1;
    MHD_Daemon* daemon = nullptr;

    mutable std::mutex watch_mutex;  // guards `watches`; held while the sweeper shuts a socket down
    std::unordered_set<Watch*> watches;
    std::atomic<int64_t> header_timeouts{0}, body_timeouts{0}, idle_timeouts{0}, too_large{0}, refused{0};
    std::atomic<int64_t> body_bytes{0};  // of the bodies held now: at most options.max_bodies_bytes

    // Takes n bytes of the body budget for `ex`; false when they are not there.
    bool reserve(detail::Exchange& ex, int64_t n) {
        int64_t held = body_bytes.load();
        do {
            if (held + n > options.max_bodies_bytes) return false;
        } while (!body_bytes.compare_exchange_weak(held, held + n));
        ex.reserved += n;
        return true;
    }

    std::mutex sweep_mutex;
    std::condition_variable sweep_wake;
    bool sweeping = false;
    std::thread sweeper;

    // --- MHD callbacks (event thread) ---

    static void on_connection(void* cls, MHD_Connection* c, void** socket_context, MHD_ConnectionNotificationCode what) {
        auto* self = static_cast<Impl*>(cls);
        if (what == MHD_CONNECTION_NOTIFY_STARTED) {
            const MHD_ConnectionInfo* info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
            auto w = std::make_unique<Watch>();
            w->fd = info ? info->connect_fd : -1;
            w->set(Phase::Head, after_ms(self->options.header_timeout));
            try {
                std::lock_guard lock(self->watch_mutex);
                self->watches.insert(w.get());
            } catch (const std::exception&) {
                return;  // no watch: the access handler closes the connection
            }
            *socket_context = w.release();
        } else {
            // MHD closes the socket only after this returns: once the watch is out of the set,
            // the sweeper cannot shut down a descriptor number that a new connection reuses.
            auto* w = static_cast<Watch*>(*socket_context);
            {
                std::lock_guard lock(self->watch_mutex);
                self->watches.erase(w);
            }
            delete w;
            *socket_context = nullptr;
        }
    }

    // The request line has arrived: a kept-alive connection starts its next request's head.
    static void* on_request_line(void* cls, const char*, MHD_Connection* c) {
        auto* self = static_cast<Impl*>(cls);
        if (Watch* w = watch_of(c); w && w->phase == Phase::Idle) w->set(Phase::Head, after_ms(self->options.header_timeout));
        return nullptr;
    }

    // No exception may cross into C: a failure here (out of memory, a bug) closes the connection.
    static MHD_Result on_access(void* cls, MHD_Connection* c, const char* url, const char* method, const char*,
                                const char* upload, size_t* upload_size, void** request_context) {
        try {
            return access(static_cast<Impl*>(cls), c, url, method, upload, upload_size, request_context);
        } catch (const std::exception& e) {
            spdlog::error("{} {}: {}", ls::printable(method, 16), ls::printable(url, 120), e.what());
            return MHD_NO;
        }
    }

    static MHD_Result access(Impl* self, MHD_Connection* c, const char* url, const char* method, const char* upload,
                             size_t* upload_size, void** request_context) {
        auto* slot = static_cast<std::shared_ptr<detail::Exchange>*>(*request_context);
        if (!watch_of(c)) return MHD_NO;  // its watch could not be made: no deadlines, no service
        if (!slot) return self->head_complete(c, url, method, request_context);
        detail::Exchange& ex = **slot;
        if (*upload_size) {
            // A chunked body past a limit (a declared length was checked with the head). MHD
            // cannot answer in the middle of a body: close the connection.
            const auto n = static_cast<int64_t>(*upload_size);
            if (static_cast<int64_t>(ex.request.body.size()) + n > self->options.max_body_bytes) {
                self->too_large++;
                spdlog::warn("{} {} from {}: body larger than {} MiB (MAX_BODY_MB), connection closed",
                             ls::printable(method, 16), ls::printable(url, 120), ex.request.remote,
                             self->options.max_body_bytes >> 20);
                return MHD_NO;
            }
            if (!ex.declared && !self->reserve(ex, n)) {
                self->refused++;
                spdlog::warn("{} {} from {}: request bodies in memory at their limit, connection closed",
                             ls::printable(method, 16), ls::printable(url, 120), ex.request.remote);
                return MHD_NO;
            }
            ex.request.body.append(upload, *upload_size);
            *upload_size = 0;
            return MHD_YES;
        }
        if (!ex.dispatched) {
            ex.dispatched = true;
            ex.watch->set(Phase::Busy, 0);
            {
                std::lock_guard lock(ex.mutex);
                ex.in_handler = true;
            }
            auto ticket = std::make_shared<detail::Ticket>();
            ticket->exchange = *slot;
            self->on_request(std::move(ex.request), Responder(std::move(ticket)));
        }
        std::lock_guard lock(ex.mutex);
        ex.in_handler = false;
        if (ex.kept) {
            HttpResponse r = std::move(*ex.kept);
            ex.kept.reset();
            return queue_answer(c, std::move(r)) ? MHD_YES : MHD_NO;
        }
        MHD_suspend_connection(c);  // until Exchange::answer resumes it
        return MHD_YES;
    }

    MHD_Result head_complete(MHD_Connection* c, const char* url, const char* method, void** request_context) {
        auto ex = std::make_shared<detail::Exchange>();
        ex->connection = c;
        ex->watch = watch_of(c);
        ex->request.method = method;
        ex->request.path = url;
        if (const char* auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION))
            ex->request.authorization = auth;
        ex->request.remote = peer_address(c);
        ex->request.arrived = Clock::now();
        *request_context = new std::shared_ptr<detail::Exchange>(ex);
        ex->watch->set(Phase::Body, after_ms(options.body_timeout));

        const char* length = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        const unsigned long long declared = length ? std::strtoull(length, nullptr, 10) : 0;
        const bool chunked = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
        std::optional<HttpResponse> early = on_head(ex->request);
        if (!early) {
            if (declared > static_cast<unsigned long long>(options.max_body_bytes)) {
                too_large++;
                early = json_error(413, "request body larger than " + std::to_string(options.max_body_bytes >> 20) +
                                            " MiB (MAX_BODY_MB)");
                spdlog::warn("{} {} from {} 413: Content-Length {} over MAX_BODY_MB", ls::printable(method, 16),
                             ls::printable(url, 120), ex->request.remote, declared);
            } else if (declared > 0 && !reserve(*ex, static_cast<int64_t>(declared))) {
                refused++;
                early = json_error(503, "server busy: too many request bodies in memory; try again shortly");
                early->headers.emplace_back("Retry-After", "1");
                spdlog::warn("{} {} from {} 503: request bodies in memory at their limit", ls::printable(method, 16),
                             ls::printable(url, 120), ex->request.remote);
            }
            ex->declared = declared > 0;
        }
        if (!early) return MHD_YES;  // MHD reads the body next
        ex->dispatched = true;
        ex->answered = true;  // nothing else may answer
        if (declared == 0 && !chunked) {
            ex->kept = std::move(*early);  // no body: answered at the final call, keep-alive kept
            return MHD_YES;
        }
        // Answered before the body: MHD sends this, reads nothing more and closes.
        ex->watch->set(Phase::Busy, 0);
        return queue_answer(c, std::move(*early)) ? MHD_YES : MHD_NO;
    }

    static void on_completed(void* cls, MHD_Connection* c, void** request_context, MHD_RequestTerminationCode) {
        auto* self = static_cast<Impl*>(cls);
        auto* slot = static_cast<std::shared_ptr<detail::Exchange>*>(*request_context);
        if (slot) {
            self->body_bytes -= (*slot)->reserved;
            {
                std::lock_guard lock((*slot)->mutex);
                (*slot)->closed = true;
            }
            delete slot;
            *request_context = nullptr;
        }
        if (Watch* w = watch_of(c)) w->set(Phase::Idle, after_ms(self->options.idle_timeout));
    }

    static void on_log(void*, const char* format, va_list args) {
        char text[512];
        std::vsnprintf(text, sizeof text, format, args);
        spdlog::debug("http: {}", ls::printable(text, 300));
    }

    // --- sweeper ---

    void sweep() {
        std::unique_lock lock(sweep_mutex);
        while (sweeping) {
            sweep_wake.wait_for(lock, std::chrono::milliseconds(100));
            const int64_t now = now_ms();
            std::lock_guard watch_lock(watch_mutex);
            for (Watch* w : watches) {
                const int64_t deadline = w->deadline_ms;
                if (deadline == 0 || now < deadline) continue;
                const Phase phase = w->phase;
                if (phase == Phase::Busy) continue;
                w->deadline_ms = 0;
                ::shutdown(w->fd, SHUT_RDWR);  // MHD sees the end of the stream and closes
                (phase == Phase::Head ? header_timeouts : phase == Phase::Body ? body_timeouts : idle_timeouts)++;
                spdlog::debug("connection closed: {} timeout", phase == Phase::Head   ? "header"
                                                               : phase == Phase::Body ? "body"
                                                                                      : "idle");
            }
        }
    }

    // Enough descriptors for the connection limit: raise the soft limit, else lower the limit.
    void fit_descriptor_limit() {
        rlimit lim{};
        if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return;
        const rlim_t want = static_cast<rlim_t>(options.max_connections) + 256;
        if (lim.rlim_cur < want) {
            lim.rlim_cur = std::min(want, lim.rlim_max);
            setrlimit(RLIMIT_NOFILE, &lim);
            getrlimit(RLIMIT_NOFILE, &lim);
        }
        if (lim.rlim_cur < want) {
            const int fit = std::max(16, static_cast<int>(lim.rlim_cur) - 256);
            spdlog::warn("open file limit {} allows {} connections, not MAX_CONNECTIONS={}", lim.rlim_cur, fit,
                         options.max_connections);
            options.max_connections = fit;
        }
    }
};

HttpTransport::HttpTransport(TransportOptions options, HeadHandler on_head, RequestHandler on_request)
    : impl_(std::make_unique<Impl>()) {
    impl_->options = std::move(options);
    impl_->on_head = std::move(on_head);
    impl_->on_request = std::move(on_request);
}

HttpTransport::~HttpTransport() { stop(); }

int HttpTransport::bind() {
    Impl& t = *impl_;
    if (t.listen_fd >= 0) return t.port;
    const std::string where = t.options.host + ":" + std::to_string(t.options.port);
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    addrinfo* found = nullptr;
    const std::string port = std::to_string(t.options.port);
    if (int rc = getaddrinfo(t.options.host.empty() ? nullptr : t.options.host.c_str(), port.c_str(), &hints, &found))
        throw std::runtime_error("cannot listen on " + where + ": " + gai_strerror(rc));
    std::string error = "no address";
    for (addrinfo* a = found; a; a = a->ai_next) {
        int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
        if (fd < 0) continue;
        int yes = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
        if (::bind(fd, a->ai_addr, a->ai_addrlen) == 0 && ::listen(fd, 512) == 0) {
            t.listen_fd = fd;
            break;
        }
        error = std::strerror(errno);
        ::close(fd);
    }
    freeaddrinfo(found);
    if (t.listen_fd < 0) throw std::runtime_error("cannot listen on " + where + " (" + error + ")");
    sockaddr_storage bound{};
    socklen_t len = sizeof bound;
    getsockname(t.listen_fd, reinterpret_cast<sockaddr*>(&bound), &len);
    t.port = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                               : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
    return t.port;
}

void HttpTransport::start() {
    Impl& t = *impl_;
    if (t.daemon) return;
    bind();
    t.fit_descriptor_limit();
    // libmicrohttpd's own inactivity timeout is the backstop (a stalled answer write): a little
    // longer than IDLE_TIMEOUT, so an idle connection is closed, and counted, by the sweeper.
    const auto idle = static_cast<unsigned>(std::ceil(t.options.idle_timeout) + 2);
    t.daemon = MHD_start_daemon(
        MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG, 0, nullptr, nullptr,
        &Impl::on_access, &t,
        MHD_OPTION_LISTEN_SOCKET, t.listen_fd,
        MHD_OPTION_CONNECTION_LIMIT, static_cast<unsigned>(t.options.max_connections),
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, static_cast<unsigned>(t.options.max_connections_per_ip),
        MHD_OPTION_CONNECTION_TIMEOUT, idle,
        MHD_OPTION_NOTIFY_CONNECTION, &Impl::on_connection, &t,
        MHD_OPTION_NOTIFY_COMPLETED, &Impl::on_completed, &t,
        MHD_OPTION_URI_LOG_CALLBACK, &Impl::on_request_line, &t,
        MHD_OPTION_EXTERNAL_LOGGER, &Impl::on_log, &t,
        MHD_OPTION_END);
    if (!t.daemon) throw std::runtime_error("cannot start the HTTP server on port " + std::to_string(t.port));
    t.sweeping = true;
    t.sweeper = std::thread([&t] { t.sweep(); });
}

void HttpTransport::stop_accepting() {
    Impl& t = *impl_;
    if (!t.daemon || t.listen_fd < 0) return;
    MHD_quiesce_daemon(t.daemon);
    ::close(t.listen_fd);
    t.listen_fd = -1;
}

void HttpTransport::stop() {
    Impl& t = *impl_;
    if (t.sweeper.joinable()) {
        {
            std::lock_guard lock(t.sweep_mutex);
            t.sweeping = false;
        }
        t.sweep_wake.notify_all();
        t.sweeper.join();
    }
    if (t.daemon) {
        if (t.listen_fd >= 0) MHD_quiesce_daemon(t.daemon);
        MHD_stop_daemon(t.daemon);
        t.daemon = nullptr;
    }
    if (t.listen_fd >= 0) {
        ::close(t.listen_fd);
        t.listen_fd = -1;
    }
}

int HttpTransport::port() const { return impl_->port; }

TransportStats HttpTransport::stats() const {
    const Impl& t = *impl_;
    TransportStats s;
    {
        std::lock_guard lock(t.watch_mutex);
        s.connections = static_cast<int64_t>(t.watches.size());
    }
    s.header_timeouts = t.header_timeouts;
    s.body_timeouts = t.body_timeouts;
    s.idle_timeouts = t.idle_timeouts;
    s.bodies_too_large = t.too_large;
    s.bodies_refused = t.refused;
    return s;
}

}  // namespace sam::server
