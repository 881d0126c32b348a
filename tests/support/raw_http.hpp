// Plain TCP connections for tests that must send what an HTTP library would not: bytes that are
// not UTF-8, one header byte at a time, pipelined requests, a Content-Length with no body; and
// a listener that accepts connections but never answers (a hung image server).
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <string_view>

namespace samtest {

struct RawResponse {
    int status = 0;                              // 0: no complete answer (closed or timed out)
    std::map<std::string, std::string> headers;  // names in lower case
    std::string body;
    bool closed = false;                         // the server closed (EOF or reset)
};

class RawConnection {
public:
    // Connects to 127.0.0.1:port, from `source` (another loopback address such as 127.0.0.2,
    // a different client to per-address limits) when given. Throws std::runtime_error.
    explicit RawConnection(int port, const std::string& source = "");
    ~RawConnection();
    RawConnection(const RawConnection&) = delete;
    RawConnection& operator=(const RawConnection&) = delete;

    // False once the server has closed or reset the connection.
    bool send(std::string_view bytes);
    // The next answer (status line, headers, Content-Length body), waiting at most `seconds`.
    RawResponse read_response(double seconds);
    // True when the server closes the connection within `seconds` (answers read meanwhile are dropped).
    bool closed_within(double seconds);

private:
    // Waits for bytes (or the end of the stream) until `end`; false when the time is up.
    bool receive(std::chrono::steady_clock::time_point end);

    int fd_ = -1;
    std::string buffer_;  // received, not yet returned
    bool eof_ = false;
};

// One request on a fresh connection, the answer read within `seconds`.
RawResponse raw_request(int port, std::string_view request, double seconds = 10);
// "GET <path> HTTP/1.1" with Host and, if given, a body with Content-Length.
std::string http_request(const std::string& method, const std::string& path, const std::string& body = "",
                         const std::string& extra_headers = "");

// Listens on 127.0.0.1 (a free port) and never accepts: connections complete in the kernel's
// backlog, requests are swallowed, no answer ever comes.
class SilentListener {
public:
    SilentListener();
    ~SilentListener();
    int port() const { return port_; }

private:
    // Waits for bytes (or the end of the stream) until `end`; false when the time is up.
    bool receive(std::chrono::steady_clock::time_point end);

    int fd_ = -1;
    int port_ = 0;
};

}  // namespace samtest
