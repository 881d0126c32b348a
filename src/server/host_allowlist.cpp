#include "server/host_allowlist.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace sam::server {

namespace {

std::string trim_lower(std::string s) {
    const size_t b = s.find_first_not_of(" \t");
    if (b == std::string::npos) return "";
    s = s.substr(b, s.find_last_not_of(" \t") - b + 1);
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    while (!s.empty() && s.back() == '.') s.pop_back();  // "example.com." is example.com
    return s;
}

bool valid_name(const std::string& name) {
    if (name.empty() || name.size() > 253) return false;
    return name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-._") == std::string::npos &&
           name.front() != '.' && name.find("..") == std::string::npos;
}

// An address as 16 bytes: IPv4 (also IPv4-mapped IPv6) as AF_INET in the first 4.
bool address_bytes(const sockaddr* a, int& family, std::array<uint8_t, 16>& bytes) {
    bytes.fill(0);
    if (a->sa_family == AF_INET) {
        family = AF_INET;
        std::memcpy(bytes.data(), &reinterpret_cast<const sockaddr_in*>(a)->sin_addr, 4);
        return true;
    }
    if (a->sa_family != AF_INET6) return false;
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(a);
    if (IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr)) {
        family = AF_INET;
        std::memcpy(bytes.data(), v6->sin6_addr.s6_addr + 12, 4);
        return true;
    }
    family = AF_INET6;
    std::memcpy(bytes.data(), v6->sin6_addr.s6_addr, 16);
    return true;
}

}  // namespace

HostAllowlist::HostAllowlist(const std::string& spec) {
    size_t start = 0;
    while (start <= spec.size()) {
        size_t comma = spec.find(',', start);
        if (comma == std::string::npos) comma = spec.size();
        const std::string entry = trim_lower(spec.substr(start, comma - start));
        start = comma + 1;
        if (entry.empty()) continue;
        const auto bad = [&](const char* why) {
            return std::invalid_argument("ALLOWED_IMAGE_HOSTS: entry '" + entry + "' " + why);
        };
        const size_t slash = entry.find('/');
        std::string ip = entry.substr(0, slash);
        if (ip.size() > 2 && ip.front() == '[' && ip.back() == ']') ip = ip.substr(1, ip.size() - 2);
        Net net;
        if (inet_pton(AF_INET, ip.c_str(), net.bytes.data()) == 1) {
            net.family = AF_INET;
        } else if (inet_pton(AF_INET6, ip.c_str(), net.bytes.data()) == 1) {
            net.family = AF_INET6;
        } else if (slash != std::string::npos) {
            throw bad("is not an address block (expected e.g. 10.0.0.0/8)");
        } else {
            std::string name = entry.starts_with("*.") ? entry.substr(1) : entry;
            if (!valid_name(name.front() == '.' ? name.substr(1) : name)) throw bad("is not a host name, IP or CIDR");
            names_.push_back(name);
            continue;
        }
        const int bits = net.family == AF_INET ? 32 : 128;
        net.prefix = bits;
        if (slash != std::string::npos) {
            const std::string p = entry.substr(slash + 1);
            if (p.empty() || p.size() > 3 || p.find_first_not_of("0123456789") != std::string::npos ||
                std::stoi(p) > bits)
                throw bad("has a bad prefix length");
            net.prefix = std::stoi(p);
        }
        nets_.push_back(net);
    }
}

bool HostAllowlist::allows(const std::string& host, const sockaddr* address) const {
    if (allows_any()) return true;
    const std::string h = trim_lower(host);
    for (const std::string& name : names_) {
        if (name.front() == '.' ? h.size() > name.size() && h.ends_with(name) : h == name) return true;
    }
    int family = 0;
    std::array<uint8_t, 16> bytes;
    if (!address || !address_bytes(address, family, bytes)) return false;
    for (const Net& net : nets_) {
        if (net.family != family) continue;
        int left = net.prefix;
        bool match = true;
        for (size_t i = 0; left > 0 && match; ++i, left -= 8) {
            const uint8_t mask = left >= 8 ? 0xFF : static_cast<uint8_t>(0xFF << (8 - left));
            match = (bytes[i] & mask) == (net.bytes[i] & mask);
        }
        if (match) return true;
    }
    return false;
}

}  // namespace sam::server
