// ALLOWED_IMAGE_HOSTS parsing and matching (server/host_allowlist.hpp). The downloader's use of
// it, redirects and resolved addresses included, is tested end to end in test_server_hostile.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdexcept>

#include "server/host_allowlist.hpp"

using sam::server::HostAllowlist;

namespace {

struct Address {
    sockaddr_storage storage{};
    explicit Address(const std::string& ip) {
        auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
        auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
        if (inet_pton(AF_INET, ip.c_str(), &v4->sin_addr) == 1) {
            v4->sin_family = AF_INET;
        } else if (inet_pton(AF_INET6, ip.c_str(), &v6->sin6_addr) == 1) {
            v6->sin6_family = AF_INET6;
        } else {
            throw std::invalid_argument(ip);
        }
    }
    const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
};

TEST(HostAllowlist, EmptyAllowsAnything) {
    HostAllowlist any(" , ");
    EXPECT_TRUE(any.allows_any());
    EXPECT_TRUE(any.allows("10.1.2.3", Address("10.1.2.3").get()));
    EXPECT_TRUE(HostAllowlist().allows("metadata.internal", Address("169.254.169.254").get()));
}

TEST(HostAllowlist, NamesMatchExactlyOrAsSubdomains) {
    HostAllowlist list("Images.Example.com., *.cdn.example.org");
    const Address somewhere("203.0.113.9");
    EXPECT_TRUE(list.allows("images.example.com", somewhere.get()));
    EXPECT_TRUE(list.allows("IMAGES.EXAMPLE.COM", somewhere.get()));
    EXPECT_FALSE(list.allows("evil-images.example.com", somewhere.get()));
    EXPECT_FALSE(list.allows("example.com", somewhere.get()));
    EXPECT_TRUE(list.allows("a.cdn.example.org", somewhere.get()));
    EXPECT_TRUE(list.allows("a.b.cdn.example.org", somewhere.get()));
    EXPECT_FALSE(list.allows("cdn.example.org", somewhere.get()));
    EXPECT_FALSE(list.allows("xcdn.example.org", somewhere.get()));
}

TEST(HostAllowlist, BlocksMatchTheConnectedAddress) {
    HostAllowlist list("10.0.0.0/8, 192.168.1.7, fd00::/8");
    EXPECT_TRUE(list.allows("anything", Address("10.255.0.1").get()));
    EXPECT_FALSE(list.allows("anything", Address("11.0.0.1").get()));
    EXPECT_TRUE(list.allows("x", Address("192.168.1.7").get()));
    EXPECT_FALSE(list.allows("x", Address("192.168.1.8").get()));
    EXPECT_TRUE(list.allows("x", Address("fd12::1").get()));
    EXPECT_FALSE(list.allows("x", Address("fe80::1").get()));
    EXPECT_TRUE(list.allows("x", Address("::ffff:10.1.1.1").get()));  // IPv4-mapped counts as IPv4
    EXPECT_FALSE(list.allows("x", Address("::ffff:127.0.0.1").get()));
    // A name resolving into a listed block is allowed by its address, and a listed address
    // reached through a name that resolves elsewhere is not.
    EXPECT_TRUE(list.allows("rebinding.example", Address("10.0.0.9").get()));
    EXPECT_FALSE(list.allows("10.0.0.9", Address("127.0.0.1").get()));
}

TEST(HostAllowlist, OddPrefixLengths) {
    HostAllowlist list("172.16.0.0/12, 0.0.0.0/0");
    EXPECT_TRUE(list.allows("x", Address("1.2.3.4").get()));  // /0: every IPv4 address
    EXPECT_FALSE(list.allows("x", Address("::1").get()));
    HostAllowlist twelve("172.16.0.0/12");
    EXPECT_TRUE(twelve.allows("x", Address("172.31.255.255").get()));
    EXPECT_FALSE(twelve.allows("x", Address("172.32.0.0").get()));
}

TEST(HostAllowlist, MalformedEntriesAreNamed) {
    for (const char* spec : {"10.0.0.0/33", "10.0.0.0/", "::1/129", "bad host", "a..b", "10.0.0.0/8x",
                             "example.com/24", "*.", "http://example.com"}) {
        try {
            HostAllowlist list(spec);
            ADD_FAILURE() << spec << " accepted";
        } catch (const std::invalid_argument& e) {
            EXPECT_NE(std::string(e.what()).find("ALLOWED_IMAGE_HOSTS: entry"), std::string::npos) << e.what();
        }
    }
}

}  // namespace
