// Credentials on the wire, against fake Label Studios on 127.0.0.1: personal access tokens are
// exchanged, cached, renewed before expiry and after a 401 (once); legacy tokens go as they are;
// the environment/setup rule decides which token goes where and a key never reaches a host it
// did not come with (also through the real binary); basic auth settings and scheme.
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <future>
#include <vector>

#include "labelstudio/errors.hpp"
#include "labelstudio/image_url.hpp"
#include "server/basic_auth.hpp"
#include "server/config.hpp"
#include "server/image_fetcher.hpp"
#include "server/label_studio_auth.hpp"
#include "support/fake_label_studio.hpp"
#include "support/golden.hpp"
#include "support/server_process.hpp"

namespace {

using sam::ls::RequestError;
using sam::server::ImageFetcher;
using sam::server::LabelStudioAuth;

const sam::server::FetchOptions kOptions{2, 5, 1 << 20, true, 5};
const char* kUpload = "/data/upload/3/photo.jpg";

// The error a call throws: its status and message (status 0 when none).
template <typename F>
std::pair<int, std::string> error_of(F&& f) {
    try {
        f();
    } catch (const RequestError& e) {
        return {e.status(), e.what()};
    }
    return {0, ""};
}

bool saw(const samtest::FakeLabelStudio& ls, const std::string& needle) {
    for (const std::string& a : ls.authorizations())
        if (a.find(needle) != std::string::npos) return true;
    return false;
}

std::vector<uint8_t> upload_bytes() {
    std::string s = samtest::read_file(samtest::golden("images/tiny.png"));
    return {s.begin(), s.end()};
}

class LabelStudioAuthTest : public ::testing::Test {
protected:
    void SetUp() override {
        if (!samtest::golden_available()) GTEST_SKIP() << "no golden data";
        ls_.add(kUpload, upload_bytes());
    }
    std::vector<uint8_t> get(const std::string& authorization) {
        return sam::server::http_get(ls_.url() + kUpload, authorization, kOptions);
    }
    samtest::FakeLabelStudio ls_{"legacy-key"};
    std::atomic<int64_t> now_{LabelStudioAuth::system_seconds()};
    LabelStudioAuth::Clock clock_ = [this] { return now_.load(); };
};

TEST_F(LabelStudioAuthTest, LegacyTokenGoesAsItIs) {
    LabelStudioAuth auth(ls_.url(), " legacy-key\n", "LABEL_STUDIO_API_KEY", kOptions, clock_);
    EXPECT_EQ(auth.authorization(), "Token legacy-key");
    EXPECT_EQ(get(auth.authorization()), upload_bytes());
    EXPECT_FALSE(auth.refused("Token legacy-key"));  // a fixed token: retrying cannot help
    EXPECT_EQ(ls_.refreshes(), 0);
}

TEST_F(LabelStudioAuthTest, LabelStudioRefusesARefreshTokenAsBearer) {
    const std::string refresh = ls_.issue_personal_token(60);
    EXPECT_THROW(get("Bearer " + refresh), sam::server::AccessRefused);  // what the server used to send
}

TEST_F(LabelStudioAuthTest, PersonalTokenIsExchangedCachedAndRenewedBeforeExpiry) {
    const std::string refresh = ls_.issue_personal_token(60);
    LabelStudioAuth auth(ls_.url() + "/", refresh, "LABEL_STUDIO_API_KEY", kOptions, clock_);
    const std::string first = auth.authorization();
    ASSERT_TRUE(first.starts_with("Bearer ")) << first;
    EXPECT_NE(first, "Bearer " + refresh);
    EXPECT_EQ(ls_.refreshes(), 1);
    EXPECT_EQ(get(first), upload_bytes());
    EXPECT_EQ(auth.authorization(), first);  // cached
    now_ += 47;                               // 60 s token: renewed 12 s early, at +48
    EXPECT_EQ(auth.authorization(), first);
    EXPECT_EQ(ls_.refreshes(), 1);
    now_ += 2;
    const std::string second = auth.authorization();
    EXPECT_NE(second, first);
    EXPECT_EQ(ls_.refreshes(), 2);
    EXPECT_EQ(auth.exchanges(), 2);
    EXPECT_EQ(get(second), upload_bytes());
    EXPECT_FALSE(saw(ls_, refresh));  // the refresh token only ever went in the exchange's body
}

TEST_F(LabelStudioAuthTest, ConcurrentRequestsShareOneExchange) {
    LabelStudioAuth auth(ls_.url(), ls_.issue_personal_token(300), "LABEL_STUDIO_API_KEY", kOptions, clock_);
    ls_.set_delay_ms(200);  // every call arrives while the first exchange is under way
    std::vector<std::future<std::string>> calls;
    for (int i = 0; i < 8; ++i) calls.push_back(std::async(std::launch::async, [&] { return auth.authorization(); }));
    std::string first = calls[0].get();
    for (size_t i = 1; i < calls.size(); ++i) EXPECT_EQ(calls[i].get(), first);
    EXPECT_EQ(ls_.refreshes(), 1);
}

TEST_F(LabelStudioAuthTest, RefusedAccessTokenIsExchangedAgain) {
    LabelStudioAuth auth(ls_.url(), ls_.issue_personal_token(300), "LABEL_STUDIO_API_KEY", kOptions, clock_);
    const std::string first = auth.authorization();
    ls_.revoke_access_tokens();
    EXPECT_THROW(get(first), sam::server::AccessRefused);
    EXPECT_TRUE(auth.refused(first));
    const std::string second = auth.authorization();
    EXPECT_NE(second, first);
    EXPECT_EQ(get(second), upload_bytes());
    EXPECT_TRUE(auth.refused(first));  // a stale refusal does not drop the new token
    EXPECT_EQ(auth.authorization(), second);
    EXPECT_EQ(ls_.refreshes(), 2);
}

TEST_F(LabelStudioAuthTest, ExpiredRevokedOrUnreachableGiveClearErrors) {
    const int64_t now = LabelStudioAuth::system_seconds();
    LabelStudioAuth expired(ls_.url(), ls_.issue_personal_token(300, now - 10), "LABEL_STUDIO_API_KEY", kOptions, clock_);
    auto [status, error] = error_of([&] { expired.authorization(); });
    EXPECT_EQ(status, 502);
    EXPECT_NE(error.find("personal access token in LABEL_STUDIO_API_KEY expired on"), std::string::npos) << error;
    EXPECT_EQ(ls_.requests(), 0);  // known without asking

    LabelStudioAuth revoked(ls_.url(), ls_.issue_personal_token(300), "LABEL_STUDIO_API_KEY", kOptions, clock_);
    ls_.revoke_refresh_tokens();
    std::tie(status, error) = error_of([&] { revoked.authorization(); });
    EXPECT_EQ(status, 502);
    EXPECT_NE(error.find("Label Studio refused the personal access token in LABEL_STUDIO_API_KEY (HTTP 401"),
              std::string::npos) << error;
    EXPECT_NE(error.find("Token is invalid or expired"), std::string::npos) << error;

    std::string closed;
    {
        samtest::FakeLabelStudio gone("x");
        closed = gone.url();
    }
    LabelStudioAuth unreachable(closed, ls_.issue_personal_token(300), "the access_token of /setup", kOptions, clock_);
    std::tie(status, error) = error_of([&] { unreachable.authorization(); });
    EXPECT_EQ(status, 502);
    EXPECT_NE(error.find("cannot exchange the personal access token in the access_token of /setup at " + closed +
                         "/api/token/refresh/"),
              std::string::npos) << error;
}

// ImageFetcher: which token goes where.
class FetcherTest : public ::testing::Test {
protected:
    void SetUp() override {
        if (!samtest::golden_available()) GTEST_SKIP() << "no golden data";
        for (auto* ls : {&a_, &b_, &attacker_}) ls->add(kUpload, upload_bytes());
    }
    static std::unique_ptr<ImageFetcher> fetcher(const std::string& url, const std::string& key) {
        return std::make_unique<ImageFetcher>(sam::ls::UrlContext{"", url, 0}, key, kOptions);
    }
    static std::vector<uint8_t> fetch(ImageFetcher& f) { return f.fetch(f.resolve(kUpload, 7)); }

    samtest::FakeLabelStudio a_{"key-a"}, b_{"key-b"}, attacker_{"attacker-key"};
};

TEST_F(FetcherTest, PersonalTokenDownloadsAndAfterARefusalExchangesOnce) {
    auto f = fetcher(a_.url(), a_.issue_personal_token(300));
    EXPECT_EQ(fetch(*f), upload_bytes());
    EXPECT_EQ(a_.refreshes(), 1);
    a_.revoke_access_tokens();  // e.g. Label Studio restarted with shorter lifetimes
    EXPECT_EQ(fetch(*f), upload_bytes());
    EXPECT_EQ(a_.refreshes(), 2);
    EXPECT_EQ(a_.unauthorized(), 1);

    a_.revoke_access_tokens();
    a_.revoke_refresh_tokens();  // the user revoked the token
    const int before = a_.requests();
    auto [status, error] = error_of([&] { fetch(*f); });
    EXPECT_EQ(status, 502);
    EXPECT_NE(error.find("Label Studio refused the personal access token"), std::string::npos) << error;
    EXPECT_EQ(a_.requests() - before, 2);  // the refused download and one exchange: no loop
}

TEST_F(FetcherTest, LegacyTokenRefusedIsNotRetried) {
    auto f = fetcher(a_.url(), "wrong");
    auto [status, error] = error_of([&] { fetch(*f); });
    EXPECT_EQ(status, 502);
    EXPECT_NE(error.find("LABEL_STUDIO_API_KEY"), std::string::npos) << error;
    EXPECT_EQ(a_.requests(), 1);
}

TEST_F(FetcherTest, EnvironmentPairWinsOverSetup) {
    auto f = fetcher(a_.url(), "key-a");
    EXPECT_FALSE(f->adopt_label_studio(b_.url(), "key-b"));
    EXPECT_EQ(fetch(*f), upload_bytes());
    EXPECT_EQ(a_.authorizations(), std::vector<std::string>{"Token key-a"});
    EXPECT_EQ(b_.requests(), 0);
}

TEST_F(FetcherTest, SetupPairsReplaceEachOtherAndTheSameSetupKeepsTheAccessToken) {
    auto f = fetcher("", "");
    auto [status, error] = error_of([&] { fetch(*f); });
    EXPECT_EQ(status, 400);
    EXPECT_NE(error.find("LABEL_STUDIO_URL"), std::string::npos) << error;

    const std::string pat = a_.issue_personal_token(300);
    EXPECT_TRUE(f->adopt_label_studio(a_.url(), pat));
    EXPECT_EQ(fetch(*f), upload_bytes());
    EXPECT_TRUE(f->adopt_label_studio(a_.url(), pat));  // Label Studio repeats /setup on every refresh
    EXPECT_EQ(fetch(*f), upload_bytes());
    EXPECT_EQ(a_.refreshes(), 1);

    EXPECT_TRUE(f->adopt_label_studio(b_.url(), "key-b"));  // a new token in Label Studio: no restart
    const int a_before = a_.requests();
    EXPECT_EQ(fetch(*f), upload_bytes());
    EXPECT_EQ(b_.authorizations(), std::vector<std::string>{"Token key-b"});
    EXPECT_EQ(a_.requests(), a_before);
}

TEST_F(FetcherTest, SetupHalvesAreIgnored) {
    auto f = fetcher("", "");
    EXPECT_FALSE(f->adopt_label_studio(a_.url(), ""));
    EXPECT_FALSE(f->adopt_label_studio("", "key-a"));
    EXPECT_EQ(error_of([&] { fetch(*f); }).first, 400);
    EXPECT_EQ(a_.requests(), 0);
}

// The attack of the issue: only LABEL_STUDIO_API_KEY is configured; whoever can reach /setup
// names their own host. The key must never go there.
TEST_F(FetcherTest, EnvironmentKeyNeverGoesToASetupHost) {
    auto f = fetcher("", "key-a");
    EXPECT_FALSE(f->adopt_label_studio(attacker_.url(), ""));
    EXPECT_EQ(error_of([&] { fetch(*f); }).first, 400);
    EXPECT_TRUE(f->adopt_label_studio(attacker_.url(), "whatever"));  // its own token, to itself
    EXPECT_EQ(error_of([&] { fetch(*f); }).first, 502);
    EXPECT_FALSE(saw(attacker_, "key-a"));
    EXPECT_EQ(attacker_.authorizations(), std::vector<std::string>{"Token whatever"});
}

TEST_F(FetcherTest, CredentialsReplacedMidRequestAreNotSentToTheOldAddress) {
    auto f = fetcher("", "");
    ASSERT_TRUE(f->adopt_label_studio(a_.url(), "key-a"));
    const sam::ls::ImageSource source = f->resolve(kUpload, 7);  // names a_
    ASSERT_TRUE(f->adopt_label_studio(b_.url(), "key-b"));
    auto [status, error] = error_of([&] { f->fetch(source); });
    EXPECT_EQ(status, 502);
    EXPECT_NE(error.find("changed"), std::string::npos) << error;
    EXPECT_EQ(a_.requests(), 0);
    EXPECT_EQ(b_.requests(), 0);
}

// The same attack through the real binary, which also says at start why the key is unused.
TEST(ServerCredentials, EnvironmentKeyAloneIsUnusedAndNeverLeaves) {
    if (!samtest::golden_available()) GTEST_SKIP() << "no golden data";
    samtest::FakeLabelStudio attacker("attacker-key");
    const std::string key = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4";
    samtest::ServerProcess server({{"MOBILESAM_CHECKPOINT", samtest::golden("checkpoints/mobile_sam_random.pt")},
                                   {"LABEL_STUDIO_API_KEY", key},
                                   {"LABEL_STUDIO_URL", ""},
                                   {"LABEL_STUDIO_HOST", ""},
                                   {"LABEL_STUDIO_ACCESS_TOKEN", ""}});
    ASSERT_TRUE(server.wait_ready(60)) << server.log();
    EXPECT_NE(server.log().find("LABEL_STUDIO_API_KEY is set but LABEL_STUDIO_URL is not"), std::string::npos)
        << server.log();
    httplib::Client client("127.0.0.1", server.port());
    client.set_read_timeout(30);
    nlohmann::json predict = nlohmann::json::parse(R"({
        "tasks": [{"id": 7, "data": {"image": "/data/upload/3/photo.jpg"}}],
        "label_config": "<View><Image name=\"image\" value=\"$image\"/><BrushLabels name=\"tag\" toName=\"image\"><Label value=\"A\"/></BrushLabels><KeyPointLabels name=\"kp\" toName=\"image\" smart=\"true\"><Label value=\"A\"/></KeyPointLabels></View>",
        "params": {"context": {"result": [{
            "original_width": 17, "original_height": 9, "image_rotation": 0, "from_name": "kp", "to_name": "image",
            "type": "keypointlabels", "is_positive": true,
            "value": {"x": 50, "y": 50, "width": 1, "keypointlabels": ["A"]}}]}}})");
    for (const nlohmann::json& setup : {nlohmann::json{{"project", "1.1"}, {"hostname", attacker.url()}},
                                        nlohmann::json{{"project", "1.1"}, {"hostname", attacker.url()},
                                                       {"access_token", "attacker-token"}}}) {
        auto res = client.Post("/setup", setup.dump(), "application/json");
        ASSERT_TRUE(res);
        EXPECT_EQ(res->status, 200) << res->body;
        res = client.Post("/predict", predict.dump(), "application/json");
        ASSERT_TRUE(res);
        EXPECT_NE(res->status, 200) << res->body;  // the attacker does not know the key either
    }
    for (const std::string& a : attacker.authorizations()) EXPECT_EQ(a.find(key), std::string::npos) << a;
    EXPECT_EQ(attacker.authorizations(), std::vector<std::string>{"Token attacker-token"});
}

TEST(BasicAuth, SchemeIsCaseInsensitiveAndCredentialsExact) {
    using sam::server::basic_auth_allows;
    const std::string creds = "YW5uOnMzY3JldA==";  // base64("ann:s3cret")
    for (const std::string& header : {"Basic " + creds, "basic " + creds, "BASIC " + creds, "bAsIc  " + creds + " ",
                                      "\tBasic\t" + creds})
        EXPECT_TRUE(basic_auth_allows("ann", "s3cret", header)) << header;
    for (const std::string& header : {std::string(""), std::string("Basic"), std::string("Basic "), "Basicx " + creds, "Bearer " + creds,
                                      "Basic " + creds.substr(0, creds.size() - 1), std::string("Basic YW5uOnMzY3JldDE="),
                                      "Basic " + creds + "x"})
        EXPECT_FALSE(basic_auth_allows("ann", "s3cret", header)) << header;
    EXPECT_TRUE(basic_auth_allows("", "", ""));  // not configured
}

TEST(BasicAuth, OneHalfAloneIsRefused) {
    sam::server::ServerConfig c;
    EXPECT_NO_THROW(sam::server::check_config(c));
    c.basic_auth_user = "ann";
    EXPECT_THROW(sam::server::check_config(c), std::invalid_argument);
    c.basic_auth_pass = "s3cret";
    EXPECT_NO_THROW(sam::server::check_config(c));
    c.basic_auth_user.clear();
    EXPECT_THROW(sam::server::check_config(c), std::invalid_argument);
}

// As a process: exit code 1 and a message naming the missing half, before any model loads.
TEST(BasicAuth, ServerRefusesToStartWithOneHalf) {
    for (const auto& [set, missing] : {std::pair{"BASIC_AUTH_USER", "BASIC_AUTH_PASS"},
                                       std::pair{"BASIC_AUTH_PASS", "BASIC_AUTH_USER"}}) {
        samtest::ServerProcess server({{set, "ann"}, {missing, ""}, {"MOBILESAM_CHECKPOINT", "/nonexistent.pt"}});
        EXPECT_EQ(server.wait_exit(20), 1) << server.log();
        const std::string log = server.log();
        EXPECT_NE(log.find(std::string(set) + " is set but " + missing + " is not"), std::string::npos) << log;
        EXPECT_EQ(log.find("nonexistent"), std::string::npos) << "checked after loading the model:\n" << log;
    }
}

}  // namespace
