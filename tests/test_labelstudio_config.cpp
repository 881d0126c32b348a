// Label config parsing against the golden Label Studio requests, the choice of the output tag,
// and every refusal.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <thread>

#include "labelstudio/errors.hpp"
#include "labelstudio/label_config.hpp"
#include "support/golden.hpp"

namespace {

using sam::ls::LabelConfig;
using sam::ls::LabelConfigCache;
using sam::ls::OutputKind;
using sam::ls::OutputTarget;
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
        const LabelConfig config = parse_label_config(req["label_config"]);
        const OutputTarget& t = config.output_for(req["params"]["context"]["result"][0]["to_name"]);
        EXPECT_EQ(t.kind, OutputKind::Brush);
        EXPECT_EQ(t.from_name, exp["from_name"]);
        EXPECT_EQ(t.to_name, exp["to_name"]);
        // the data key is the one the task actually carries
        ASSERT_EQ(req["tasks"][0]["data"].size(), 1u);
        EXPECT_EQ(t.data_key, req["tasks"][0]["data"].begin().key());
        EXPECT_TRUE(std::find(t.labels.begin(), t.labels.end(), exp["label"].get<std::string>()) != t.labels.end());
        checked++;
    }
    EXPECT_EQ(checked, 14);
    const LabelConfig setup = parse_label_config(fx["setup_request"]["schema"]);
    EXPECT_EQ(setup.output_for("").labels, (std::vector<std::string>{"Banana", "Orange"}));
}

TEST(LabelStudioConfig, StyledTemplateLabelsInOrder) {
    const LabelConfig config = parse_label_config(R"(<View><Style>.a{}</Style><View className="x">
        <Image name="other" value="$other"/>
        <View><BrushLabels name="brush" toName="img"><Label value="Foreground"/><Label value="Background"/></BrushLabels>
        <BrushLabels name="second" toName="other"><Label value="Z"/></BrushLabels></View>
        <View><Image name="img" value="$picture"/></View></View></View>)");
    ASSERT_EQ(config.outputs.size(), 2u);
    const OutputTarget& t = config.output_for("");
    EXPECT_EQ(t.from_name, "brush");
    EXPECT_EQ(t.to_name, "img");
    EXPECT_EQ(t.data_key, "picture");
    EXPECT_EQ(t.labels, (std::vector<std::string>{"Foreground", "Background"}));
}

void expect_error(const std::string& xml, int status, const std::string& fragment, const std::string& image = "") {
    try {
        parse_label_config(xml).output_for(image);
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
    // a config without an output tag parses (Label Studio's default <View></View> too): the
    // error comes when a click needs one
    EXPECT_TRUE(parse_label_config("<View></View>").outputs.empty());
    expect_error("<View><Image name=\"i\" value=\"$image\"/><KeyPointLabels name=\"k\" toName=\"i\"/></View>", 422,
                 "label config has no output tag: add a BrushLabels, BitmaskLabels, PolygonLabels, VectorLabels or "
                 "RectangleLabels tag (see README templates)");
    // tag names are case-sensitive, as in Label Studio
    expect_error("<View><Image name=\"i\" value=\"$image\"/><brushlabels name=\"b\" toName=\"i\"/></View>", 422,
                 "no output tag");
    expect_error("<View><Image name=\"i\" value=\"$image\"/><BrushLabels toName=\"i\"/></View>", 422, "no name");
    expect_error("<View><Image name=\"i\" value=\"$image\"/><PolygonLabels name=\"b\"/></View>", 422,
                 "PolygonLabels 'b' has no toName");
    expect_error("<View><Image name=\"i\" value=\"$image\"/><BrushLabels name=\"b\" toName=\"img\"/></View>", 422,
                 "no Image tag has name 'img'");
    // an output tag on another object (Text, Video) is not ours
    expect_error("<View><Text name=\"i\" value=\"$t\"/><BrushLabels name=\"b\" toName=\"i\"/></View>", 422,
                 "no output tag");
    expect_error("<View><Image name=\"i\" value=\"image\"/><BrushLabels name=\"b\" toName=\"i\"/></View>", 422,
                 "value 'image'");
    expect_error("<View><Image name=\"i\" value=\"$\"/><BitmaskLabels name=\"b\" toName=\"i\"/></View>", 422, "value '$'");
    // outputs exist, but none on the prompted image
    expect_error("<View><Image name=\"i\" value=\"$a\"/><Image name=\"j\" value=\"$b\"/>"
                 "<BrushLabels name=\"b\" toName=\"i\"/></View>",
                 422, "no output tag for Image 'j'", "j");
}

// An Image and the given control tags on it.
LabelConfig with_tags(const std::string& tags) {
    return parse_label_config("<View><Image name=\"img\" value=\"$image\"/>" + tags + "</View>");
}

TEST(LabelStudioConfig, OutputOrderBrushBitmaskPolygonVectorRectangle) {
    const std::string rect = "<RectangleLabels name=\"r\" toName=\"img\"><Label value=\"R\"/></RectangleLabels>";
    const std::string vec = "<VectorLabels name=\"v\" toName=\"img\"><Label value=\"V\"/></VectorLabels>";
    const std::string poly = "<PolygonLabels name=\"p\" toName=\"img\"><Label value=\"P\"/></PolygonLabels>";
    const std::string bitmask = "<BitmaskLabels name=\"m\" toName=\"img\"><Label value=\"M\"/></BitmaskLabels>";
    const std::string brush = "<BrushLabels name=\"b\" toName=\"img\"><Label value=\"B\"/></BrushLabels>";
    // document order does not matter, the kind does
    EXPECT_EQ(with_tags(rect + vec + poly + bitmask + brush).output_for("img").from_name, "b");
    EXPECT_EQ(with_tags(rect + vec + poly + bitmask).output_for("img").from_name, "m");
    EXPECT_EQ(with_tags(rect + vec + poly).output_for("img").from_name, "p");
    EXPECT_EQ(with_tags(rect + vec).output_for("img").from_name, "v");
    const LabelConfig only_rect = with_tags(rect);
    EXPECT_EQ(only_rect.output_for("img").kind, OutputKind::Rectangle);
    EXPECT_EQ(only_rect.output_for("img").labels, (std::vector<std::string>{"R"}));
    EXPECT_FALSE(only_rect.output_for("img").prompt_tool);
    const LabelConfig all = with_tags(rect + vec + poly + bitmask + brush);
    ASSERT_EQ(all.outputs.size(), 5u);
    const OutputKind kinds[] = {OutputKind::Brush, OutputKind::Bitmask, OutputKind::Polygon, OutputKind::Vector,
                                OutputKind::Rectangle};
    for (size_t i = 0; i < 5; i++) EXPECT_EQ(all.outputs[i].kind, kinds[i]);
    EXPECT_STREQ(sam::ls::result_type(OutputKind::Bitmask), "bitmasklabels");
    EXPECT_STREQ(sam::ls::tag_name(OutputKind::Vector), "VectorLabels");
}

TEST(LabelStudioConfig, SmartRectangleIsAnOutputOnlyAlone) {
    const std::string kp = "<KeyPointLabels name=\"k\" toName=\"img\" smart=\"true\"><Label value=\"A\"/></KeyPointLabels>";
    const std::string smart_rect = "<RectangleLabels name=\"sr\" toName=\"img\" smart=\"true\"><Label value=\"A\"/></RectangleLabels>";
    const std::string poly = "<PolygonLabels name=\"p\" toName=\"img\"><Label value=\"A\"/></PolygonLabels>";
    const std::string plain_rect = "<RectangleLabels name=\"pr\" toName=\"img\"><Label value=\"A\"/></RectangleLabels>";
    // the smart rectangle is the prompt tool: the polygon tag is the output, wherever it is
    EXPECT_EQ(with_tags(smart_rect + kp + poly).output_for("img").from_name, "p");
    // a plain rectangle tag beats the smart one, even after it in the document
    EXPECT_EQ(with_tags(smart_rect + plain_rect + kp).output_for("img").from_name, "pr");
    // alone, the smart rectangle is the output: a keypoint click gives the mask's box
    const LabelConfig alone = with_tags(kp + smart_rect);
    EXPECT_EQ(alone.output_for("img").from_name, "sr");
    EXPECT_TRUE(alone.output_for("img").prompt_tool);
    // smartOnly counts too, any case of name and value
    for (const char* attr : {"smartOnly=\"true\"", "smartonly=\"True\"", "SMART=\"TRUE\""}) {
        const std::string tag = std::string("<RectangleLabels name=\"x\" toName=\"img\" ") + attr + "/>";
        EXPECT_TRUE(with_tags(tag).outputs.at(0).prompt_tool) << attr;
    }
    EXPECT_FALSE(with_tags("<RectangleLabels name=\"x\" toName=\"img\" smart=\"false\"/>").outputs.at(0).prompt_tool);
    // only rectangles are prompt tools
    EXPECT_FALSE(with_tags("<PolygonLabels name=\"x\" toName=\"img\" smart=\"true\"/>").outputs.at(0).prompt_tool);
}

TEST(LabelStudioConfig, OutputTagOverrideAndImages) {
    const LabelConfig c = parse_label_config(R"(<View>
        <Image name="a" value="$first"/><Image name="b" value="$second"/>
        <BrushLabels name="brush_a" toName="a"/><PolygonLabels name="poly_a" toName="a"/>
        <PolygonLabels name="poly_b" toName="b"/>
        <RectangleLabels name="box_a" toName="a" smart="true"/></View>)");
    EXPECT_EQ(c.output_for("a").from_name, "brush_a");
    EXPECT_EQ(c.output_for("b").from_name, "poly_b");
    EXPECT_EQ(c.output_for("b").data_key, "second");
    EXPECT_EQ(c.output_for("").from_name, "brush_a");  // no image named: the first
    // OUTPUT_TAG picks any output on the prompted image, the smart rectangle too
    EXPECT_EQ(c.output_for("a", "poly_a").from_name, "poly_a");
    EXPECT_EQ(c.output_for("a", "box_a").from_name, "box_a");
    EXPECT_EQ(c.output_for("", "poly_b").from_name, "poly_b");
    // ...and is passed over when it names a tag of another image or none
    EXPECT_EQ(c.output_for("a", "poly_b").from_name, "brush_a");
    EXPECT_EQ(c.output_for("b", "nope").from_name, "poly_b");
}

TEST(LabelStudioConfig, HugeConfigParsesInOnePass) {
    // 20000 output tags on 20000 images: each finds its own image (the parser indexes names once).
    std::string xml = "<View>";
    for (int i = 0; i < 20000; i++) {
        const std::string n = std::to_string(i);
        xml += "<Image name=\"i" + n + "\" value=\"$d\"/><BrushLabels name=\"b" + n + "\" toName=\"i" + n + "\"/>";
    }
    xml += "</View>";
    const LabelConfig c = parse_label_config(xml);
    EXPECT_EQ(c.outputs.size(), 20000u);
    EXPECT_EQ(c.output_for("i19999").from_name, "b19999");
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
    EXPECT_EQ(a->outputs.at(0).from_name, "b0");
    EXPECT_EQ(cache.get(config(0)).get(), a.get());  // cached, not re-parsed
    for (int i = 1; i < 10; i++) EXPECT_EQ(cache.get(config(i))->outputs.at(0).from_name, brush_name(i));
    EXPECT_EQ(cache.size(), 3u);
    // the oldest were dropped; the entry held by the caller stays valid
    EXPECT_NE(cache.get(config(0)).get(), a.get());
    EXPECT_EQ(a->outputs.at(0).from_name, "b0");
    // errors are not cached and keep their status
    EXPECT_THROW(cache.get("<View>"), RequestError);
    EXPECT_THROW(cache.get("<View>"), RequestError);
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
                if (cache.get(config(n))->outputs.at(0).from_name != brush_name(n)) wrong++;
            }
        });
    for (auto& th : threads) th.join();
    EXPECT_EQ(wrong.load(), 0);
    EXPECT_LE(cache.size(), 4u);
}

}  // namespace
