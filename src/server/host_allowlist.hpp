// ALLOWED_IMAGE_HOSTS: where image downloads may connect. Task URLs are fetched as given (as
// Label Studio's SDK does); a deployment that wants to keep the server away from its internal
// network lists the hosts it trusts. Checked by the downloader on every connection it opens,
// redirects included, against the address actually connected to (so a name that resolves
// differently later, DNS rebinding, cannot slip past a check made earlier).
#pragma once

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace sam::server {

class HostAllowlist {
public:
    HostAllowlist() = default;  // allows any host
    // Comma-separated entries: a host name (exact, case-insensitive), "*.example.com" (any
    // subdomain of example.com), an IP address or a CIDR block (10.0.0.0/8, fd00::/8).
    // Throws std::invalid_argument naming a malformed entry.
    explicit HostAllowlist(const std::string& spec);

    bool allows_any() const { return names_.empty() && nets_.empty(); }
    // A connection to `address` for a URL whose host part is `host` (as in the URL: a name, an
    // IP literal, "[::1]"): allowed when the host is a listed name or the address is in a
    // listed block.
    bool allows(const std::string& host, const sockaddr* address) const;

private:
    struct Net {
        int family = 0;  // AF_INET or AF_INET6
        std::array<uint8_t, 16> bytes{};
        int prefix = 0;
    };
    std::vector<std::string> names_;  // lower case; "*.x" entries kept as ".x"
    std::vector<Net> nets_;
};

}  // namespace sam::server
