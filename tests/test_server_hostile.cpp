// Hostile requests and clients against the real sam-ml-backend process (issue 12): bytes that
// are not UTF-8, deep and wide JSON, numbers out of range, bodies over the limit (declared and
// chunked), pipelining, authentication before the body, slow and idle connections, connection
// limits, hung image downloads, oversized prompts, dot segments in Label Studio paths, fetched
// bytes in messages, ALLOWED_IMAGE_HOSTS. Raw sockets say exactly what is sent. After every
// test the server must still be running and answer /health.
//
// No timing is measured here: where a test waits for an answer it allows seconds for what the
// server answers in milliseconds, and the server before this suite did not answer at all.
#include <gtest/gtest.h>
#include <httplib.h>
#include <sys/resource.h>

#include <atomic>
#include <memory>
#include <thread>

#include "support/answers.hpp"
#include "support/fake_label_studio.hpp"
#include "support/golden.hpp"
#include "support/raw_http.hpp"
#include "support/server_process.hpp"

using nlohmann::json;
using samtest::RawConnection;
using samtest::RawResponse;
using samtest::http_request;

namespace {

const char* kConfig = R"(<View><Image name="image" value="$image"/>
<BrushLabels name="tag" toName="image"><Label value="Object"/></BrushLabels>
<KeyPointLabels name="kp" toName="image" smart="true"><Label value="Object"/></KeyPointLabels></View>)";

json keypoint(double xp, double yp, int w, int h) {
    return {{"original_width", w}, {"original_height", h}, {"image_rotation", 0},
            {"value", {{"x", xp}, {"y", yp}, {"width", 0.3}, {"keypointlabels", {"Object"}}}},
            {"id", "k1"}, {"from_name", "kp"}, {"to_name", "image"}, {"type", "keypointlabels"}, {"is_positive", true}};
}

json click_on(const std::string& url, const json& regions, int task_id = 7) {
    return {{"tasks", {{{"id", task_id}, {"data", {{"image", url}}}}}},
            {"label_config", kConfig},
            {"params", {{"context", {{"result", regions}}}}}};
}

// tiny.png is 17x9: every click embeds fast.
const std::string kTiny = "/data/local-files/?d=images/tiny.png";
json tiny_click(double xp = 50, double yp = 50) { return click_on(kTiny, json::array({keypoint(xp, yp, 17, 9)})); }

std::string error_of(const RawResponse& r) {
    if (!json::accept(r.body)) return "<not JSON: " + r.body.substr(0, 200) + ">";
    return json::parse(r.body).value("error", "");
}

using samtest::metric;

class Hostile : public ::testing::Test {
protected:
    void SetUp() override {
        if (!samtest::golden_available()) GTEST_SKIP() << "no golden data";
    }
    void TearDown() override {
        if (!server_) return;
        ASSERT_TRUE(server_->alive()) << "the server died:\n" << tail_of_log();
        RawResponse r = get("/health", 10);
        EXPECT_EQ(r.status, 200) << "after the test /health answers " << r.status << "\n" << tail_of_log();
    }
    void start(const samtest::ServerProcess::Env& extra = {}) {
        samtest::ServerProcess::Env env = {{"MOBILESAM_CHECKPOINT", samtest::golden("checkpoints/mobile_sam_random.pt")},
                                           {"LOCAL_FILES_DOCUMENT_ROOT", samtest::golden("")}};
        env.insert(env.end(), extra.begin(), extra.end());
        server_ = std::make_unique<samtest::ServerProcess>(env);
        ASSERT_TRUE(server_->wait_ready(60)) << server_->log();
        port_ = server_->port();
    }
    std::string tail_of_log() const {
        std::string log = server_->log();
        return log.size() > 3000 ? log.substr(log.size() - 3000) : log;
    }
    RawResponse get(const std::string& path, double seconds = 10) {
        return samtest::raw_request(port_, http_request("GET", path, "", auth_), seconds);
    }
    RawResponse post(const std::string& path, const std::string& body, double seconds = 30) {
        return samtest::raw_request(port_, http_request("POST", path, body, auth_), seconds);
    }
    RawResponse post(const std::string& path, const json& body, double seconds = 30) { return post(path, body.dump(), seconds); }

    std::unique_ptr<samtest::ServerProcess> server_;
    int port_ = 0;
    std::string auth_;  // extra header lines sent with get() and post()
};

// --- class 1: bytes that are not UTF-8 --------------------------------------------------------

TEST_F(Hostile, PathsThatAreNotUtf8Get404InValidJson) {
    start();
    for (const char* path : {"/%ff", "/%c0%af", "/%ed%a0%80", "/%f4%90%80%80", "/a%0a%1b%00b", "/%ff/predict"}) {
        RawResponse r = get(path);
        EXPECT_EQ(r.status, 404) << path;
        ASSERT_TRUE(json::accept(r.body)) << path << ": " << r.body;  // nlohmann refuses invalid UTF-8
        EXPECT_NE(error_of(r).find("no such route"), std::string::npos) << path << ": " << r.body;
    }
    EXPECT_NE(error_of(get("/%ff")).find("\xEF\xBF\xBD"), std::string::npos);  // U+FFFD where the byte was
    EXPECT_EQ(error_of(get("/a%0ab")).find('\n'), std::string::npos);       // no raw newline into the log
}

TEST_F(Hostile, RawFfInsideAJsonStringIs400) {
    start();
    std::string body = tiny_click().dump();
    body.replace(body.find("tiny.png"), 4, "t\xff\xfe");
    RawResponse r = post("/predict", body);
    EXPECT_EQ(r.status, 400) << r.body;
    ASSERT_TRUE(json::accept(r.body)) << r.body;
    EXPECT_NE(error_of(r).find("UTF-8"), std::string::npos) << r.body;
    r = post("/setup", std::string("{\"schema\": \"\xff\"}"));
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_TRUE(json::accept(r.body)) << r.body;
}

TEST_F(Hostile, LocalFilePathThatIsNotUtf8IsAClean404) {
    start();
    RawResponse r = post("/predict", click_on("/data/local-files/?d=images/%ff%fe.png", json::array({keypoint(50, 50, 17, 9)})));
    EXPECT_EQ(r.status, 404) << r.body;
    ASSERT_TRUE(json::accept(r.body)) << r.body;
    EXPECT_NE(error_of(r).find("image not found"), std::string::npos) << r.body;
}

TEST_F(Hostile, BrokenRequestLinesAndHugeHeadersAreRefused) {
    start();
    for (const std::string& request : {std::string("GARBAGE\r\n\r\n"), std::string("GET /health HTTP/9.9\r\n\r\n"),
                                       std::string("GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ") +
                                           std::string(200000, 'a') + "\r\n\r\n",
                                       std::string("\xff\xfe\x00\x01 / HTTP/1.1\r\n\r\n", 19),  // with its NUL byte
                                       std::string("POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n")}) {
        RawResponse r = samtest::raw_request(port_, request, 5);
        EXPECT_TRUE(r.closed || (r.status >= 400 && r.status < 500) || r.status == 505)
            << request.substr(0, 40) << ": " << r.status << " " << r.body;
    }
}

// --- class 2: nesting and unbounded values in messages ----------------------------------------

TEST_F(Hostile, DeepNestingIs400) {
    start();
    std::string body = tiny_click().dump();
    const std::string deep = std::string(100000, '[') + std::string(100000, ']');
    body.replace(body.find("\"x\":50.0") + 4, 4, deep);
    RawResponse r = post("/predict", body);
    EXPECT_EQ(r.status, 400) << r.body.substr(0, 300);
    EXPECT_NE(error_of(r).find("nested deeper than 64"), std::string::npos) << r.body.substr(0, 300);
}

TEST_F(Hostile, ValuesQuotedInErrorsAreShort) {
    start();
    json nested = json::array({1});
    for (int i = 0; i < 60; ++i) nested = json::array({nested, "x"});
    json wide = json::array();
    for (int i = 0; i < 20000; ++i) wide.push_back(i);
    const std::string long_text(100000, 'a');

    json deep_x = tiny_click();
    deep_x["params"]["context"]["result"][0]["value"]["x"] = nested;
    json wide_id = tiny_click();
    wide_id["tasks"][0]["id"] = wide;
    json url_object = tiny_click();
    url_object["tasks"][0]["data"]["image"] = json::object({{"u", long_text}});
    json long_url = tiny_click();
    long_url["tasks"][0]["data"]["image"] = "/data/upload/3/" + long_text + ".png";
    json long_label = tiny_click();
    long_label["params"]["context"]["result"][0]["value"]["keypointlabels"] = json::array({wide});
    json long_region_id = tiny_click();
    long_region_id["params"]["context"]["result"][0]["id"] = long_text;
    long_region_id["params"]["context"]["result"][0]["original_width"] = wide;
    for (const json& body : {deep_x, wide_id, url_object, long_url, long_label, long_region_id}) {
        RawResponse r = post("/predict", body);
        EXPECT_EQ(r.status, 400) << r.body.substr(0, 300);
        EXPECT_LT(r.body.size(), 400u) << r.body.substr(0, 600);
        EXPECT_TRUE(json::accept(r.body));
    }
}

// --- class 6 (part): numbers out of range ------------------------------------------------------

TEST_F(Hostile, NumbersOutOfRangeAre400) {
    start();
    std::string base = tiny_click().dump();
    auto with = [&](const std::string& from, const std::string& to) {
        std::string b = base;
        b.replace(b.find(from), from.size(), to);
        return b;
    };
    for (const std::string& body : {with("\"x\":50.0", "\"x\":1e400"), with("\"x\":50.0", "\"x\":-1e400"),
                                    with("\"id\":7", "\"id\":123456789012345678901234567890"),
                                    with("\"id\":7", "\"id\":1e400"),
                                    with("\"original_width\":17", "\"original_width\":1e300")}) {
        RawResponse r = post("/predict", body);
        EXPECT_EQ(r.status, 400) << body.substr(0, 120) << " -> " << r.body;
    }
}

// --- class 3: bodies and limits ------------------------------------------------------------------

TEST_F(Hostile, DeclaredBodyOverTheLimitIs413BeforeTheBody) {
    start({{"MAX_BODY_MB", "1"}});
    RawConnection c(port_);
    c.send("POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 104857600\r\n\r\n");
    RawResponse r = c.read_response(5);  // no body byte sent: the answer cannot wait for it
    EXPECT_EQ(r.status, 413) << r.body;
    EXPECT_NE(error_of(r).find("MAX_BODY_MB"), std::string::npos) << r.body;

    // A client that sends its whole body before reading still gets the answer.
    RawConnection d(port_);
    d.send("POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 2097152\r\n\r\n");
    d.send(std::string(2 << 20, ' '));
    EXPECT_EQ(d.read_response(5).status, 413);
}

TEST_F(Hostile, ChunkedBodyOverTheLimitIsCutOff) {
    start({{"MAX_BODY_MB", "1"}});
    RawConnection c(port_);
    c.send("POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n");
    const std::string chunk = "10000\r\n" + std::string(0x10000, 'x') + "\r\n";
    int64_t sent = 0;
    const int64_t total = 64 << 20;
    while (sent < total && c.send(chunk)) sent += 0x10000;
    EXPECT_LT(sent, total) << "the server read a 64 MiB chunked body with MAX_BODY_MB=1";
    RawResponse r = c.read_response(5);
    EXPECT_TRUE(r.status == 0 || r.status == 413) << r.status << " " << r.body;
    EXPECT_TRUE(r.closed || c.closed_within(5));
    std::string m = get("/metrics").body;
    EXPECT_GE(metric(m, "sam_http_bodies_too_large_total"), 1) << m;
}

TEST_F(Hostile, PipelinedRequestsAreAllAnsweredInOrder) {
    start();
    RawConnection c(port_);
    c.send(http_request("GET", "/health") + http_request("GET", "/versions") +
           http_request("POST", "/webhook", R"({"action": "PIPELINED"})") + http_request("GET", "/health"));
    RawResponse a = c.read_response(5), b = c.read_response(5), w = c.read_response(5), d = c.read_response(5);
    EXPECT_EQ(a.status, 200);
    EXPECT_NE(a.body.find("\"UP\""), std::string::npos) << a.body;
    EXPECT_EQ(b.status, 200);
    EXPECT_NE(b.body.find("versions"), std::string::npos) << b.body;
    EXPECT_EQ(w.status, 200);
    EXPECT_NE(w.body.find("PIPELINED"), std::string::npos) << w.body;
    EXPECT_EQ(d.status, 200);
    EXPECT_NE(d.body.find("\"UP\""), std::string::npos) << d.body;
}

TEST_F(Hostile, AuthenticationIsCheckedBeforeTheBody) {
    start({{"BASIC_AUTH_USER", "ann"}, {"BASIC_AUTH_PASS", "s3cret"}});
    RawConnection c(port_);
    c.send("POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5000000\r\n\r\n");
    RawResponse r = c.read_response(5);
    EXPECT_EQ(r.status, 401) << r.body;
    EXPECT_EQ(r.headers["www-authenticate"], "Basic realm=\"sam-ml-backend\"");
    auth_ = "Authorization: Basic YW5uOnMzY3JldA==\r\n";  // ann:s3cret
    EXPECT_EQ(get("/health").status, 200);
}

// --- class 4: slow, idle and many clients ---------------------------------------------------------

TEST_F(Hostile, SlowHeaderConnectionsDoNotSilenceHealth) {
    start({{"HEADER_TIMEOUT", "60"}});
    std::vector<std::unique_ptr<RawConnection>> slow;
    for (int i = 0; i < 200; ++i) {
        slow.push_back(std::make_unique<RawConnection>(port_));
        slow.back()->send("GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ");
    }
    std::atomic<bool> trickling{true};
    std::thread trickle([&] {
        while (trickling) {
            for (auto& c : slow) c->send("a");
            std::this_thread::sleep_for(std::chrono::milliseconds(500));
        }
    });
    for (int i = 0; i < 10; ++i) {
        RawResponse r = get("/health", 3);
        EXPECT_EQ(r.status, 200) << "probe " << i;
    }
    std::string m = get("/metrics", 3).body;
    EXPECT_GE(metric(m, "sam_http_connections"), 200) << m;  // all of them held open meanwhile
    trickling = false;
    trickle.join();
}

TEST_F(Hostile, HeaderBodyAndIdleDeadlinesAreTotals) {
    start({{"HEADER_TIMEOUT", "1"}, {"BODY_TIMEOUT", "1"}, {"IDLE_TIMEOUT", "1"}});
    auto trickle_until_closed = [](RawConnection& c) {
        // One byte every 100 ms never leaves the connection idle; only a total deadline ends it.
        for (int i = 0; i < 150; ++i) {
            if (!c.send("a") || c.closed_within(0.1)) return true;
        }
        return false;
    };
    RawConnection head(port_);
    head.send("GET /health HTTP/1.1\r\nX-Slow: ");
    EXPECT_TRUE(trickle_until_closed(head)) << "a trickled head was not cut off";

    RawConnection body(port_);
    body.send("POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n");
    EXPECT_TRUE(trickle_until_closed(body)) << "a trickled body was not cut off";

    RawConnection idle(port_);
    idle.send(http_request("GET", "/health"));
    EXPECT_EQ(idle.read_response(5).status, 200);
    EXPECT_TRUE(idle.closed_within(15)) << "an idle kept-alive connection stayed open";

    std::string m = get("/metrics").body;
    EXPECT_GE(metric(m, "sam_http_header_timeouts_total"), 1) << m;
    EXPECT_GE(metric(m, "sam_http_body_timeouts_total"), 1) << m;
    EXPECT_GE(metric(m, "sam_http_idle_timeouts_total"), 1) << m;
}

TEST_F(Hostile, ConnectionLimitsPerAddressAndInAll) {
    start({{"MAX_CONNECTIONS_PER_IP", "10"}, {"MAX_CONNECTIONS", "15"}, {"HEADER_TIMEOUT", "60"}});
    {
        std::vector<std::unique_ptr<RawConnection>> held;
        for (int i = 0; i < 10; ++i) held.push_back(std::make_unique<RawConnection>(port_, "127.0.0.2"));
        EXPECT_EQ(get("/health", 3).status, 200);  // the connections above are in
        RawConnection over(port_, "127.0.0.2");
        EXPECT_TRUE(over.closed_within(3)) << "an 11th connection from one address was kept";
        for (int i = 0; i < 5; ++i) held.push_back(std::make_unique<RawConnection>(port_, "127.0.0.3"));
        // All 15 taken: a 16th waits in the listen backlog until one closes.
        RawConnection waits(port_, "127.0.0.4");
        waits.send(http_request("GET", "/health"));
        EXPECT_EQ(waits.read_response(2).status, 0) << "a 16th connection was served";
        held.clear();
        EXPECT_EQ(waits.read_response(10).status, 200) << "the waiting connection was not served once there was room";
    }
}

TEST_F(Hostile, FiveHundredKeepAliveClientsAreAllAnswered) {
    rlimit lim{};
    getrlimit(RLIMIT_NOFILE, &lim);
    if (lim.rlim_cur < 700) {
        lim.rlim_cur = std::min<rlim_t>(lim.rlim_max, 1024);
        setrlimit(RLIMIT_NOFILE, &lim);
    }
    start();
    std::vector<std::unique_ptr<RawConnection>> clients;
    for (int i = 0; i < 500; ++i) clients.push_back(std::make_unique<RawConnection>(port_));
    int answered = 0;
    for (int round = 0; round < 2; ++round) {
        for (auto& c : clients) c->send(http_request("GET", "/health"));
        const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(20);  // for all 500 together
        for (auto& c : clients) {
            const double left = std::chrono::duration<double>(end - std::chrono::steady_clock::now()).count();
            answered += c->read_response(std::max(left, 0.01)).status == 200;
        }
    }
    EXPECT_EQ(answered, 1000);
}

// Image downloads never occupy the workers that answer clicks on cached images.
TEST_F(Hostile, HungDownloadsDoNotHoldClickWorkers) {
    samtest::SilentListener hung;
    start({{"IMAGE_WORKERS", "4"}, {"IMAGE_QUEUE", "4"}, {"THREADS", "8"}, {"DOWNLOAD_TIMEOUT", "120"}});
    ASSERT_EQ(post("/predict", tiny_click()).status, 200);  // tiny.png is now cached
    // Its image worker may count as busy a moment after the answer: wait until it is free.
    for (int i = 0; i < 100 && metric(get("/metrics").body, "sam_image_workers_busy") != 0; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));

    std::vector<std::unique_ptr<RawConnection>> waiting;
    auto hung_click = [&](int i) {
        waiting.push_back(std::make_unique<RawConnection>(port_));
        const std::string url = "http://127.0.0.1:" + std::to_string(hung.port()) + "/hung" + std::to_string(i) + ".jpg";
        waiting.back()->send(http_request("POST", "/predict", click_on(url, json::array({keypoint(50, 50, 17, 9)})).dump()));
    };
    for (int i = 0; i < 8; ++i) hung_click(i);
    bool full = false;
    for (int i = 0; i < 100 && !full; ++i) {
        std::string m = get("/metrics").body;
        full = metric(m, "sam_image_workers_busy") == 4 && metric(m, "sam_image_queue") == 4;
        if (!full) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ASSERT_TRUE(full) << get("/metrics").body;

    RawResponse busy = post("/predict", click_on("http://127.0.0.1:" + std::to_string(hung.port()) + "/ninth.jpg",
                                                 json::array({keypoint(50, 50, 17, 9)})), 5);
    EXPECT_EQ(busy.status, 503) << busy.body;
    EXPECT_NE(error_of(busy).find("IMAGE_QUEUE"), std::string::npos) << busy.body;
    for (int i = 0; i < 5; ++i) {
        RawResponse r = post("/predict", tiny_click(20 + 10 * i, 50), 5);
        EXPECT_EQ(r.status, 200) << "cached click " << i << ": " << r.body;
        EXPECT_EQ(get("/health", 3).status, 200);
    }
    // Stopping does not wait for the downloads.
    EXPECT_EQ(server_->terminate(10), 0) << tail_of_log();
    server_.reset();
}

// --- class 5: unbounded work ----------------------------------------------------------------------

TEST_F(Hostile, PointsPerPromptAreCapped) {
    start();
    json points = json::array();
    for (int i = 0; i < 65; ++i) points.push_back(keypoint(1 + i * 1.5, 50, 17, 9));
    RawResponse r = post("/predict", click_on(kTiny, points));
    EXPECT_EQ(r.status, 422) << r.body;
    EXPECT_NE(error_of(r).find("more than 64 keypoints"), std::string::npos) << r.body;
    points.erase(points.size() - 1);
    r = post("/predict", click_on(kTiny, points));
    EXPECT_EQ(r.status, 200) << r.body.substr(0, 300);
}

TEST_F(Hostile, TasksPerRequestAreCapped) {
    start();
    json body = tiny_click();
    json task = body["tasks"][0];
    for (int i = 0; i < 16; ++i) body["tasks"].push_back(task);
    RawResponse r = post("/predict", body);
    EXPECT_EQ(r.status, 400) << r.body.substr(0, 300);
    EXPECT_NE(error_of(r).find("at most 16 tasks, got 17"), std::string::npos) << r.body;
}

TEST_F(Hostile, PrefetchLooksAtTheFirstTasksOnly) {
    samtest::SilentListener hung;
    start();
    json body = {{"tasks", json::array()}, {"label_config", kConfig}, {"params", {{"context", nullptr}}}};
    for (int i = 0; i < 100; ++i)
        body["tasks"].push_back({{"id", i + 1}, {"data", {{"image", "http://127.0.0.1:" + std::to_string(hung.port()) +
                                                                         "/p" + std::to_string(i) + ".jpg"}}}});
    RawResponse r = post("/predict", body);
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(json::parse(r.body), json({{"results", json::array()}}));
    std::string m = get("/metrics").body;
    EXPECT_EQ(metric(m, "sam_prefetch_queued_total") + metric(m, "sam_prefetch_dropped_total"), 16) << m;
}

// --- class 7: credentials and internal bytes -------------------------------------------------------

TEST_F(Hostile, DotSegmentsNeverReachLabelStudio) {
    const std::string token = "0123456789abcdef0123456789abcdef01234567";
    samtest::FakeLabelStudio ls(token);
    ls.add_file("/data/upload/3/tiny.png", samtest::golden("images/tiny.png"));
    start({{"LABEL_STUDIO_URL", ls.url()}, {"LABEL_STUDIO_API_KEY", token}, {"LOCAL_FILES_DOCUMENT_ROOT", ""}});
    for (const char* url : {"/data/upload/../../api/projects/", "/data/upload/3/%2e%2e/%2E%2e/%2e%2E/api/projects",
                            "/data/upload/..%2f..%2fapi%2fprojects", "/data/upload/3/..\\..\\api",
                            "/storage-data/uploaded/?filepath=../../api/projects",
                            "/data/local-files/?d=%2e%2e/%2e%2e/api/projects"}) {
        RawResponse r = post("/predict", click_on(url, json::array({keypoint(50, 50, 17, 9)})));
        EXPECT_EQ(r.status, 400) << url << ": " << r.body;
        EXPECT_NE(error_of(r).find("'..' segments"), std::string::npos) << url << ": " << r.body;
    }
    EXPECT_EQ(ls.requests(), 0) << "a request with the token reached Label Studio";
    RawResponse ok = post("/predict", click_on("/data/upload/3/tiny.png", json::array({keypoint(50, 50, 17, 9)})));
    EXPECT_EQ(ok.status, 200) << ok.body;
    EXPECT_EQ(ls.requests(), 1);
}

// A tiny HTTP server of the test's own: an internal service, an image and a redirect to it.
struct ImageHost {
    httplib::Server http;
    std::thread thread;
    int port = 0;
    std::atomic<int> hits{0};
    ImageHost() {
        const std::string png = samtest::read_file(samtest::golden("images/tiny.png"));
        http.Get("/internal", [this](const httplib::Request&, httplib::Response& res) {
            hits++;
            res.set_content("SECRET-admin-token: 9f8e7d", "text/plain");
        });
        http.Get("/img.png", [this, png](const httplib::Request&, httplib::Response& res) {
            hits++;
            res.set_content(png, "image/png");
        });
        http.Get("/redirect", [this](const httplib::Request&, httplib::Response& res) {
            hits++;
            res.set_redirect("http://127.0.0.1:" + std::to_string(port) + "/img.png");
        });
        port = http.bind_to_any_port("127.0.0.1");
        thread = std::thread([this] { http.listen_after_bind(); });
    }
    ~ImageHost() {
        http.stop();
        thread.join();
    }
    std::string url(const std::string& host, const std::string& path) const {
        return "http://" + host + ":" + std::to_string(port) + path;
    }
};

TEST_F(Hostile, FetchedBytesAreNeverQuoted) {
    ImageHost host;
    start();
    RawResponse r = post("/predict", click_on(host.url("127.0.0.1", "/internal"), json::array({keypoint(50, 50, 17, 9)})));
    EXPECT_EQ(r.status, 422) << r.body;
    const std::string error = error_of(r);
    for (const char* leak : {"SECRET", "9f8e7d", "53 45 43 52", "53454352"})
        EXPECT_EQ(error.find(leak), std::string::npos) << error;
    EXPECT_EQ(tail_of_log().find("SECRET"), std::string::npos) << "fetched bytes in the log";
}

TEST_F(Hostile, AllowedImageHostsIsCheckedOnEveryConnection) {
    ImageHost host;
    auto click = [&](const std::string& url) {
        return post("/predict", click_on(url, json::array({keypoint(50, 50, 17, 9)})));
    };
    start({{"ALLOWED_IMAGE_HOSTS", "10.0.0.0/8, images.example.com"}});
    for (const std::string& url : {host.url("127.0.0.1", "/img.png"), host.url("localhost", "/img.png")}) {
        RawResponse r = click(url);
        EXPECT_EQ(r.status, 403) << url << ": " << r.body;
        EXPECT_NE(error_of(r).find("ALLOWED_IMAGE_HOSTS"), std::string::npos) << r.body;
    }
    EXPECT_EQ(host.hits, 0) << "a refused host was contacted";

    // An allowed name whose redirect leads elsewhere: the second hop is refused.
    start({{"ALLOWED_IMAGE_HOSTS", "localhost"}});
    EXPECT_EQ(click(host.url("localhost", "/img.png")).status, 200);
    RawResponse r = click(host.url("localhost", "/redirect"));
    EXPECT_EQ(r.status, 403) << r.body;
    EXPECT_EQ(host.hits, 2) << "the redirect target was contacted";

    start({{"ALLOWED_IMAGE_HOSTS", "127.0.0.0/8"}});
    r = click(host.url("localhost", "/redirect"));
    EXPECT_EQ(r.status, 200) << r.body;
}

TEST(HostileConfig, MalformedAllowedImageHostsStopsTheServer) {
    if (!samtest::golden_available()) GTEST_SKIP() << "no golden data";
    samtest::ServerProcess server({{"MOBILESAM_CHECKPOINT", samtest::golden("checkpoints/mobile_sam_random.pt")},
                                   {"ALLOWED_IMAGE_HOSTS", "10.0.0.0/99"}});
    EXPECT_EQ(server.wait_exit(30), 1) << server.log();
    EXPECT_NE(server.log().find("ALLOWED_IMAGE_HOSTS: entry '10.0.0.0/99'"), std::string::npos) << server.log();
}

}  // namespace
