#include "support/raw_http.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <stdexcept>

namespace samtest {

namespace {

using Clock = std::chrono::steady_clock;

sockaddr_in loopback(const std::string& address, int port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET, address.c_str(), &a.sin_addr) != 1) throw std::runtime_error("bad address " + address);
    return a;
}

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    return s;
}

}  // namespace

RawConnection::RawConnection(int port, const std::string& source) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw std::runtime_error("socket() failed");
    int yes = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
    if (!source.empty()) {
        sockaddr_in from = loopback(source, 0);
        if (::bind(fd_, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0)
            throw std::runtime_error("cannot bind to " + source);
    }
    sockaddr_in to = loopback("127.0.0.1", port);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
        ::close(fd_);
        throw std::runtime_error("cannot connect to port " + std::to_string(port));
    }
}

RawConnection::~RawConnection() {
    if (fd_ >= 0) ::close(fd_);
}

bool RawConnection::send(std::string_view bytes) {
    while (!bytes.empty()) {
        ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        bytes.remove_prefix(static_cast<size_t>(n));
    }
    return true;
}

RawResponse RawConnection::read_response(double seconds) {
    RawResponse r;
    const auto end = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    for (;;) {
        // A complete answer in the buffer?
        const size_t head_end = buffer_.find("\r\n\r\n");
        if (head_end != std::string::npos) {
            size_t length = 0;
            std::map<std::string, std::string> headers;
            size_t line = buffer_.find("\r\n") + 2;
            while (line < head_end) {
                const size_t next = buffer_.find("\r\n", line);
                const std::string h = buffer_.substr(line, next - line);
                const size_t colon = h.find(':');
                if (colon != std::string::npos) {
                    std::string value = h.substr(colon + 1);
                    value.erase(0, value.find_first_not_of(' '));
                    headers[lower(h.substr(0, colon))] = value;
                }
                line = next + 2;
            }
            if (headers.count("content-length")) length = std::strtoul(headers["content-length"].c_str(), nullptr, 10);
            if (buffer_.size() >= head_end + 4 + length) {
                r.status = std::atoi(buffer_.c_str() + buffer_.find(' ') + 1);
                r.headers = std::move(headers);
                r.body = buffer_.substr(head_end + 4, length);
                buffer_.erase(0, head_end + 4 + length);
                return r;
            }
        }
        if (eof_) {
            r.closed = true;
            return r;
        }
        if (!receive(end)) return r;
    }
}

bool RawConnection::closed_within(double seconds) {
    const auto end = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    while (!eof_) {
        if (!receive(end)) return false;
        buffer_.clear();
    }
    return true;
}

bool RawConnection::receive(std::chrono::steady_clock::time_point end) {
    const int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now()).count());
    if (left <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, left) <= 0) return true;  // the caller checks the time again
    char chunk[65536];
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n < 0 && errno == EINTR) return true;
    if (n <= 0) eof_ = true;
    else buffer_.append(chunk, static_cast<size_t>(n));
    return true;
}

RawResponse raw_request(int port, std::string_view request, double seconds) {
    RawConnection c(port);
    c.send(request);
    return c.read_response(seconds);
}

std::string http_request(const std::string& method, const std::string& path, const std::string& body,
                         const std::string& extra_headers) {
    std::string r = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + extra_headers;
    if (!body.empty() || method == "POST") r += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
    return r + "\r\n" + body;
}

SilentListener::SilentListener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a = loopback("127.0.0.1", 0);
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 128) != 0)
        throw std::runtime_error("silent listener: cannot listen on 127.0.0.1");
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
}

SilentListener::~SilentListener() { ::close(fd_); }

}  // namespace samtest
