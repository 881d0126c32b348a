// Label config parsing against the golden Label Studio requests, and every refusal.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <thread>

#include "labelstudio/errors.hpp"
#include "labelstudio/label_config.hpp"
#include "support/golden.hpp"

namespace {

using sam::ls::BrushTarget;
using sam::ls::LabelConfigCache;
using sam::ls::parse_label_config;
using sam::ls::RequestError;

TEST(LabelStudioConfig, GoldenFixtures) {
    if (!samtest::golden_available()) GTEST_SKIP() << "no golden data";
    const nlohmann::json fx = samtest::load_json(samtest::golden("labelstudio/fixtures.json"));
    int checked = 0;
    for (const auto& p : fx["predict"]) {
        const auto& req = p["request"];
        const auto& exp = p["expected"];
        if (!exp.contains("from_name")) continue;  // the no-context cases
        SCOPED_TRACE(p["name"].get<std::string>());
        const BrushTarget t = parse_label_config(req["label_config"]);
        EXPECT_EQ(t.from_name, exp["from_name"]);
        EXPECT_EQ(t.to_name, exp["to_name"]);
        // the data key is the one the task actually carries
        ASSERT_EQ(req["tasks"][0]["data"].size(), 1u);
        EXPECT_EQ(t.data_key, req["tasks"][0]["data"].begin().key());
        EXPECT_TRUE(std::find(t.labels.begin(), t.labels.end(), exp["label"].get<std::string>()) != t.labels.end());
        checked++;
    }
    EXPECT_EQ(checked, 14);
    const BrushTarget setup = parse_label_config(fx["setup_request"]["schema"]);
    EXPECT_EQ(setup.labels, (std::vector<std::string>{"Banana", "Orange"}));
}

TEST(LabelStudioConfig, StyledTemplateLabelsInOrder) {
    const BrushTarget t = parse_label_config(R"(<View><Style>.a{}</Style><View className="x">
        <Image name="other" value="$other"/>
        <View><BrushLabels name="brush" toName="img"><Label value="Foreground"/><Label value="Background"/></BrushLabels>
        <BrushLabels name="second" toName="other"><Label value="Z"/></BrushLabels></View>
        <View><Image name="img" value="$picture"/></View></View></View>)");
    EXPECT_EQ(t.from_name, "brush");
    EXPECT_EQ(t.to_name, "img");
    EXPECT_EQ(t.data_key, "picture");
    EXPECT_EQ(t.labels, (std::vector<std::string>{"Foreground", "Background"}));
}

void expect_error(const std::string& xml, int status, const std::string& fragment) {
    try {
        parse_label_config(xml);
        ADD_FAILURE() << "no error for " << xml;
    } catch (const RequestError& e) {
        EXPECT_EQ(e.status(), status) << e.what();
        EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
}

TEST(LabelStudioConfig, Refusals) {
    expect_error("", 400, "empty");
    expect_error("  \n", 400, "empty");
    expect_error("<View><Image name=\"i\" value=\"$image\"></View>", 400, "not valid XML");
    expect_error("<View><Image name=\"i\" value=\"$image\"/><KeyPointLabels name=\"k\" toName=\"i\"/></View>", 422,
                 "label config has no BrushLabels tag: add one (see README templates)");
    // tag names are case-sensitive, as in Label Studio
    expect_error("<View><Image name=\"i\" value=\"$image\"/><brushlabels name=\"b\" toName=\"i\"/></View>", 422,
                 "no BrushLabels tag");
    expect_error("<View><Image name=\"i\" value=\"$image\"/><BrushLabels toName=\"i\"/></View>", 422, "no name");
    expect_error("<View><Image name=\"i\" value=\"$image\"/><BrushLabels name=\"b\"/></View>", 422, "toName");
    expect_error("<View><Image name=\"i\" value=\"$image\"/><BrushLabels name=\"b\" toName=\"img\"/></View>", 422,
                 "no Image tag has name 'img'");
    expect_error("<View><Text name=\"i\" value=\"$t\"/><BrushLabels name=\"b\" toName=\"i\"/></View>", 422,
                 "no Image tag");
    expect_error("<View><Image name=\"i\" value=\"image\"/><BrushLabels name=\"b\" toName=\"i\"/></View>", 422,
                 "value 'image'");
    expect_error("<View><Image name=\"i\" value=\"$\"/><BrushLabels name=\"b\" toName=\"i\"/></View>", 422, "value '$'");
}

const char* kConfig = "<View><Image name=\"i\" value=\"$image\"/><BrushLabels name=\"b%d\" toName=\"i\"/></View>";
// "b<n>", built without operator+(const char*, string&&), which trips a GCC 12 -Wrestrict false positive
std::string brush_name(int n) {
    std::string s = "b";
    s += std::to_string(n);
    return s;
}
std::string config(int n) {
    char buf[128];
    std::snprintf(buf, sizeof buf, kConfig, n);
    return buf;
}

TEST(LabelStudioConfig, CacheReturnsSameEntryAndStaysBounded) {
    LabelConfigCache cache(3);
    const auto a = cache.get(config(0));
    EXPECT_EQ(a->from_name, "b0");
    EXPECT_EQ(cache.get(config(0)).get(), a.get());  // cached, not re-parsed
    for (int i = 1; i < 10; i++) EXPECT_EQ(cache.get(config(i))->from_name, brush_name(i));
    EXPECT_EQ(cache.size(), 3u);
    // the oldest were dropped; the entry held by the caller stays valid
    EXPECT_NE(cache.get(config(0)).get(), a.get());
    EXPECT_EQ(a->from_name, "b0");
    // errors are not cached and keep their status
    EXPECT_THROW(cache.get("<View/>"), RequestError);
    EXPECT_THROW(cache.get("<View/>"), RequestError);
    EXPECT_EQ(cache.size(), 3u);
}

TEST(LabelStudioConfig, CacheFromManyThreads) {
    LabelConfigCache cache(4);
    std::vector<std::thread> threads;
    std::atomic<int> wrong{0};
    for (int t = 0; t < 4; t++)
        threads.emplace_back([&, t] {
            for (int i = 0; i < 500; i++) {
                const int n = (i * 7 + t) % 6;
                if (cache.get(config(n))->from_name != brush_name(n)) wrong++;
            }
        });
    for (auto& th : threads) th.join();
    EXPECT_EQ(wrong.load(), 0);
    EXPECT_LE(cache.size(), 4u);
}

}  // namespace
