// The Redis client of the shared embedding store against a real redis-server: URLs, the
// protocol through hiredis (binary and large values, pipelining, error replies), AUTH and
// database selection, outages (killed, paused, restarted) with one warning each, and TLS
// (rediss://) against redis-server's own TLS port: certificate checks and handshake failures.
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <sstream>
#include <thread>

#include "server/redis_client.hpp"
#include "support/redis_process.hpp"
#include "support/wait.hpp"

namespace {

using sam::server::parse_redis_url;
using sam::server::RedisClient;
using sam::server::RedisClientOptions;
using sam::server::RedisEndpoint;

TEST(RedisUrl, TheFormsRedisClientsAccept) {
    RedisEndpoint e = parse_redis_url("redis://cache:6380/2");
    EXPECT_FALSE(e.tls);
    EXPECT_EQ(e.host, "cache");
    EXPECT_EQ(e.port, 6380);
    EXPECT_EQ(e.db, 2);
    EXPECT_EQ(e.user, "");
    EXPECT_EQ(e.password, "");

    e = parse_redis_url("rediss://alice:p%40ss%3Aw0rd@redis.example.com");
    EXPECT_TRUE(e.tls);
    EXPECT_EQ(e.port, 6379);
    EXPECT_EQ(e.user, "alice");
    EXPECT_EQ(e.password, "p@ss:w0rd");
    EXPECT_EQ(e.redacted(), "rediss://alice:***@redis.example.com:6379");

    e = parse_redis_url("redis://:secret@[::1]:7000/");
    EXPECT_EQ(e.host, "::1");
    EXPECT_EQ(e.port, 7000);
    EXPECT_EQ(e.user, "");
    EXPECT_EQ(e.password, "secret");
    EXPECT_EQ(e.db, 0);
    EXPECT_EQ(e.redacted(), "redis://:***@[::1]:7000");

    // Not an escape: kept as written, as redis-py's unquote does.
    EXPECT_EQ(parse_redis_url("redis://u:50%zz@h").password, "50%zz");
}

TEST(RedisUrl, MistakesAreRefusedWithoutShowingThePassword) {
    for (const char* bad : {"http://cache:6379", "cache:6379", "redis://", "redis://:pw@", "redis://h:0",
                            "redis://h:65536", "redis://h:6379x", "redis://h/abc", "redis://h/-1", "redis://h?ssl=true",
                            "redis://[::1"}) {
        try {
            parse_redis_url(bad);
            ADD_FAILURE() << bad << " accepted";
        } catch (const std::invalid_argument& e) {
            EXPECT_EQ(std::string(e.what()).find("pw"), std::string::npos) << e.what();
        }
    }
}

RedisClientOptions options_for(const std::string& url, int timeout_ms = 2000) {
    RedisClientOptions o;
    o.endpoint = parse_redis_url(url);
    o.timeout = std::chrono::milliseconds(timeout_ms);
    o.backoff_min = std::chrono::milliseconds(50);
    o.backoff_max = std::chrono::milliseconds(200);
    return o;
}

std::string str(const sam::server::RedisReplyPtr& r) { return r->str ? std::string(r->str, r->len) : ""; }

using samtest::eventually;

TEST(RedisClient, BinaryAndLargeValuesPipelinedThroughHiredis) {
    samtest::RedisProcess redis;
    RedisClient client(options_for(redis.url()));
    ASSERT_TRUE(client.up());
    std::string value(8 << 20, '\0');
    for (size_t i = 0; i < value.size(); ++i) value[i] = static_cast<char>(i * 7 + (i >> 11));
    value.replace(100, 4, "\r\n$3");  // protocol characters inside a value are data
    auto replies = client.run({{"SET", "k", value}, {"GET", "k"}, {"GET", "missing"}, {"STRLEN", "k"}, {"NOPE"}});
    ASSERT_TRUE(replies);
    ASSERT_EQ(replies->size(), 5u);
    EXPECT_EQ((*replies)[0]->type, REDIS_REPLY_STATUS);
    EXPECT_TRUE(str((*replies)[1]) == value);
    EXPECT_EQ((*replies)[2]->type, REDIS_REPLY_NIL);
    EXPECT_EQ((*replies)[3]->integer, static_cast<long long>(value.size()));
    EXPECT_EQ((*replies)[4]->type, REDIS_REPLY_ERROR);  // an error reply is an answer, not an outage
    EXPECT_TRUE(client.up());
    EXPECT_EQ(client.errors(), 0);
}

TEST(RedisClient, ARepliesLimitClosesOnlyThatConnection) {
    samtest::RedisProcess redis;
    RedisClientOptions o = options_for(redis.url());
    o.max_reply_bytes = 1 << 20;
    RedisClient client(o);
    ASSERT_TRUE(client.run({{"SET", "big", std::string(2 << 20, 'x')}}));
    EXPECT_FALSE(client.run({{"GET", "big"}}));
    EXPECT_EQ(client.errors(), 1);
}

TEST(RedisClient, PasswordUserAndDatabaseFromTheUrl) {
    samtest::RedisProcess redis(
        {false, false, {"--requirepass", "s3cret", "--user", "alice", "on", ">wonder", "~*", "&*", "+@all"}});
    const std::string where = "127.0.0.1:" + std::to_string(redis.port());
    {
        RedisClient client(options_for("redis://:s3cret@" + where + "/3"));
        ASSERT_TRUE(client.up());
        ASSERT_TRUE(client.run({{"SET", "in3", "x"}}));
    }
    {
        RedisClient client(options_for("redis://alice:wonder@" + where));
        ASSERT_TRUE(client.up());
        auto r = client.run({{"GET", "in3"}, {"SELECT", "3"}, {"GET", "in3"}});
        ASSERT_TRUE(r);
        EXPECT_EQ((*r)[0]->type, REDIS_REPLY_NIL);  // database 0
        EXPECT_EQ(str((*r)[2]), "x");
    }
    RedisClient wrong(options_for("redis://:nope@" + where));
    EXPECT_FALSE(wrong.up());
    EXPECT_FALSE(wrong.run({{"PING"}}));
}

// Captures what the client logs, to count its warnings.
struct LogCapture {
    std::ostringstream out;
    std::shared_ptr<spdlog::sinks::ostream_sink_mt> sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
    LogCapture() { spdlog::default_logger()->sinks().push_back(sink); }
    ~LogCapture() {
        auto& sinks = spdlog::default_logger()->sinks();
        sinks.erase(std::find(sinks.begin(), sinks.end(), sink));
    }
    int count(const std::string& what) {
        std::string text = out.str();
        int n = 0;
        for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) n++;
        return n;
    }
};

TEST(RedisClient, OutagesAreSkippedLoggedOnceAndHealedInTheBackground) {
    LogCapture log;
    samtest::RedisProcess redis;
    RedisClient client(options_for(redis.url()));
    ASSERT_TRUE(client.up());

    redis.kill();
    EXPECT_FALSE(client.run({{"PING"}}));  // the call that finds out
    EXPECT_FALSE(client.up());
    for (int i = 0; i < 20; ++i) EXPECT_FALSE(client.run({{"PING"}}));  // skipped while down
    EXPECT_EQ(client.errors(), 1);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));  // several reconnection attempts
    EXPECT_EQ(log.count("unavailable"), 1) << log.out.str();

    redis.start();
    ASSERT_TRUE(eventually([&] { return client.up(); }));
    EXPECT_TRUE(client.run({{"PING"}}));
    EXPECT_EQ(log.count("connected again"), 1);

    // A paused server accepts connections but never answers: the call gives up after the timeout.
    RedisClient impatient(options_for(redis.url(), 100));
    ASSERT_TRUE(impatient.up());
    redis.pause();
    EXPECT_FALSE(impatient.run({{"PING"}}));
    EXPECT_FALSE(impatient.up());
    redis.resume();
    ASSERT_TRUE(eventually([&] { return impatient.up(); }));
    EXPECT_EQ(impatient.outages(), 1);
    EXPECT_EQ(client.outages(), 1);
}

TEST(RedisClient, DownAtStartIsNotAnError) {
    samtest::RedisProcess redis;
    const std::string url = redis.url();
    redis.kill();
    RedisClient client(options_for(url));
    EXPECT_FALSE(client.up());
    EXPECT_EQ(client.outages(), 1);
    redis.start();
    ASSERT_TRUE(eventually([&] { return client.up(); }));
    EXPECT_TRUE(client.run({{"PING"}}));
}

TEST(RedisTls, RealRedisOverTlsWithTheCertificateChecked) {
    samtest::RedisProcess redis({true, false, {}});
    RedisClientOptions o = options_for(redis.url());
    o.tls.ca_file = redis.certificate().cert;
    RedisClient client(o);
    ASSERT_TRUE(client.up());
    const std::string value(3 << 20, 'v');
    auto r = client.run({{"SET", "t", value}, {"GET", "t"}});
    ASSERT_TRUE(r);
    EXPECT_TRUE(str((*r)[1]) == value);
    // The value went through TLS: redis-cli over TLS sees it too.
    EXPECT_EQ(redis.cli({"STRLEN", "t"}), std::to_string(value.size()) + "\n");

    // The same server by its DNS name (the certificate names both).
    RedisClientOptions by_name = o;
    by_name.endpoint.host = "localhost";
    RedisClient named(by_name);
    EXPECT_TRUE(named.up());
}

std::string connect_failure(const RedisClientOptions& o) {
    LogCapture log;
    RedisClient client(o);
    EXPECT_FALSE(client.up());
    EXPECT_FALSE(client.run({{"PING"}}));
    return log.out.str();
}

TEST(RedisTls, HandshakeFailuresAreOutagesWithAReason) {
    samtest::RedisProcess redis({true, false, {}});
    RedisClientOptions o = options_for(redis.url(), 300);

    // No CA given: the system's CAs do not know this self-signed certificate.
    EXPECT_NE(connect_failure(o).find("certificate"), std::string::npos);

    // Another CA.
    const samtest::TestCertificate other = samtest::make_certificate(redis.dir(), "other", "DNS:localhost");
    o.tls.ca_file = other.cert;
    EXPECT_NE(connect_failure(o).find("certificate"), std::string::npos);

    // The right CA, but a certificate that does not name the address we connect to.
    const samtest::TestCertificate no_ip = samtest::make_certificate(redis.dir(), "noip", "DNS:elsewhere");
    samtest::RedisProcess wrong_name({true, false, {"--tls-cert-file", no_ip.cert, "--tls-key-file", no_ip.key}});
    RedisClientOptions w = options_for(wrong_name.url(), 300);
    w.tls.ca_file = no_ip.cert;
    EXPECT_NE(connect_failure(w).find("certificate"), std::string::npos);

    // TLS to a plain port, plain to a TLS port.
    samtest::RedisProcess plain;
    RedisClientOptions tls_to_plain = options_for("rediss://127.0.0.1:" + std::to_string(plain.port()), 300);
    tls_to_plain.tls.ca_file = redis.certificate().cert;
    EXPECT_NE(connect_failure(tls_to_plain).find("TLS"), std::string::npos);
    EXPECT_NE(connect_failure(options_for("redis://127.0.0.1:" + std::to_string(redis.port()), 300)).find("unavailable"),
              std::string::npos);

    // Files that cannot be used are a configuration error, not an outage.
    RedisClientOptions missing = options_for(redis.url());
    missing.tls.ca_file = redis.dir() + "/nonexistent.pem";
    EXPECT_THROW(RedisClient{missing}, std::invalid_argument);
    missing.tls = {redis.certificate().cert, redis.certificate().cert, ""};
    EXPECT_THROW(RedisClient{missing}, std::invalid_argument);
}

TEST(RedisTls, ClientCertificateWhenRedisAsksForOne) {
    samtest::RedisProcess redis({true, true, {}});
    RedisClientOptions o = options_for(redis.url(), 300);
    o.tls.ca_file = redis.certificate().cert;
    connect_failure(o);  // no client certificate: refused
    o.tls.cert_file = redis.certificate().cert;
    o.tls.key_file = redis.certificate().key;
    RedisClient client(o);
    EXPECT_TRUE(client.up());
    EXPECT_TRUE(client.run({{"PING"}}));
}

}  // namespace
