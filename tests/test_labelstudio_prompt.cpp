// params.context.result -> SAM prompt, checked against the golden Label Studio requests with
// the expected values recomputed here from the rules; every malformed region; the label rule;
// the interactive events; the region shape.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <functional>
#include <optional>

#include "labelstudio/brush_rle.hpp"
#include "labelstudio/context_prompt.hpp"
#include "labelstudio/errors.hpp"
#include "labelstudio/label_config.hpp"
#include "labelstudio/output_regions.hpp"
#include "support/golden.hpp"

namespace {

using nlohmann::json;
using sam::ls::ContextPrompt;
using sam::ls::OutputKind;
using sam::ls::OutputTarget;
using sam::ls::find_context_result;
using sam::ls::prompt_from_context;
using sam::ls::RequestError;

TEST(LabelStudioPrompt, GoldenFixtures) {
    if (!samtest::golden_available()) GTEST_SKIP() << "no golden data";
    const json fx = samtest::load_json(samtest::golden("labelstudio/fixtures.json"));
    int with_context = 0, without = 0;
    for (const auto& p : fx["predict"]) {
        SCOPED_TRACE(p["name"].get<std::string>());
        const json& req = p["request"];
        const json& exp = p["expected"];
        const json* result = find_context_result(req);
        if (exp.contains("results")) {  // no_context / empty_context: nothing to predict
            EXPECT_EQ(exp["results"], json::array());
            EXPECT_EQ(result, nullptr);
            without++;
            continue;
        }
        ASSERT_NE(result, nullptr);
        const ContextPrompt cp = prompt_from_context(*result);

        // Recompute from the rules.
        std::vector<std::array<double, 3>> points;
        std::optional<std::array<double, 4>> box;
        std::string label;
        for (const auto& r : *result) {
            const double W = r["original_width"], H = r["original_height"];
            const json& v = r["value"];
            const double x = v["x"].get<double>() * W / 100, y = v["y"].get<double>() * H / 100;
            if (r["type"] == "keypointlabels") {
                points.push_back({x, y, r.value("is_positive", false) ? 1.0 : 0.0});
                label = v["keypointlabels"][0];
            } else if (r["type"] == "rectanglelabels") {
                box = {x, y, x + v["width"].get<double>() * W / 100, y + v["height"].get<double>() * H / 100};
                label = v["rectanglelabels"][0];
            }
        }
        ASSERT_EQ(cp.prompt.points.size(), points.size());
        for (size_t i = 0; i < points.size(); i++) {
            EXPECT_FLOAT_EQ(cp.prompt.points[i].x, float(points[i][0]));
            EXPECT_FLOAT_EQ(cp.prompt.points[i].y, float(points[i][1]));
            EXPECT_EQ(cp.prompt.points[i].label, int(points[i][2]));
        }
        ASSERT_EQ(cp.prompt.box.has_value(), box.has_value());
        if (box) {
            EXPECT_FLOAT_EQ(cp.prompt.box->x0, float((*box)[0]));
            EXPECT_FLOAT_EQ(cp.prompt.box->y0, float((*box)[1]));
            EXPECT_FLOAT_EQ(cp.prompt.box->x1, float((*box)[2]));
            EXPECT_FLOAT_EQ(cp.prompt.box->y1, float((*box)[3]));
        }
        EXPECT_EQ(cp.prompt.multimask, points.size() + (box ? 1 : 0) == 1);
        EXPECT_EQ(cp.label.value_or(""), label);
        EXPECT_EQ(cp.label.value_or(""), exp["label"]);
        EXPECT_EQ(cp.image, (*result)[0]["to_name"]);
        EXPECT_EQ(cp.image, exp["to_name"]);
        EXPECT_EQ(cp.original_width, exp["original_width"]);
        EXPECT_EQ(cp.original_height, exp["original_height"]);
        with_context++;
    }
    EXPECT_EQ(with_context, 14);
    EXPECT_EQ(without, 2);
}

const OutputTarget kTarget{OutputKind::Brush, "tag", "image", "image", {"Banana", "Orange"}};

json point(const std::string& id, double x, double y, const json& positive, const std::string& label = "Banana") {
    json r = {{"id", id},
              {"type", "keypointlabels"},
              {"original_width", 200},
              {"original_height", 100},
              {"value", {{"x", x}, {"y", y}, {"width", 0.3}, {"keypointlabels", {label}}}}};
    if (!positive.is_discarded()) r["is_positive"] = positive;
    return r;
}
json rect(const std::string& id, double x, double y, double w, double h, const std::string& label = "Orange") {
    return {{"id", id},
            {"type", "rectanglelabels"},
            {"original_width", 200},
            {"original_height", 100},
            {"value", {{"x", x}, {"y", y}, {"width", w}, {"height", h}, {"rotation", 0}, {"rectanglelabels", {label}}}}};
}
const json kMissing = json(json::value_t::discarded);

TEST(LabelStudioPrompt, HandComputedMix) {
    const json result = {point("a", 10, 20, true), rect("r1", 5, 5, 10, 10), point("b", 50, 50, false),
                         point("c", 25, 75, kMissing), rect("r2", 12.5, 30, 50, 40, "Banana")};
    const ContextPrompt cp = prompt_from_context(result);
    ASSERT_EQ(cp.prompt.points.size(), 3u);
    EXPECT_FLOAT_EQ(cp.prompt.points[0].x, 20);
    EXPECT_FLOAT_EQ(cp.prompt.points[0].y, 20);
    EXPECT_EQ(cp.prompt.points[0].label, 1);
    EXPECT_FLOAT_EQ(cp.prompt.points[1].x, 100);
    EXPECT_EQ(cp.prompt.points[1].label, 0);
    EXPECT_FLOAT_EQ(cp.prompt.points[2].x, 50);
    EXPECT_FLOAT_EQ(cp.prompt.points[2].y, 75);
    EXPECT_EQ(cp.prompt.points[2].label, 0);  // missing is_positive: negative
    ASSERT_TRUE(cp.prompt.box);               // newest rectangle wins: r2
    EXPECT_FLOAT_EQ(cp.prompt.box->x0, 25);
    EXPECT_FLOAT_EQ(cp.prompt.box->y0, 30);
    EXPECT_FLOAT_EQ(cp.prompt.box->x1, 125);
    EXPECT_FLOAT_EQ(cp.prompt.box->y1, 70);
    EXPECT_FALSE(cp.prompt.multimask);
    EXPECT_EQ(cp.label, "Banana");  // the newest region's label
    EXPECT_EQ(cp.image, "");        // these regions do not say
    EXPECT_EQ(cp.original_width, 200);
    EXPECT_EQ(cp.original_height, 100);
}

TEST(LabelStudioPrompt, MultimaskOnlyForOnePointOrOneBoxAlone) {
    EXPECT_TRUE(prompt_from_context(json{point("a", 1, 1, true)}).prompt.multimask);
    EXPECT_TRUE(prompt_from_context(json{rect("r", 1, 1, 5, 5)}).prompt.multimask);
    // two rectangles still give one box: ambiguous
    EXPECT_TRUE(prompt_from_context(json{rect("r", 1, 1, 5, 5), rect("s", 2, 2, 5, 5)}).prompt.multimask);
    EXPECT_FALSE(prompt_from_context(json{point("a", 1, 1, true), point("b", 2, 2, true)}).prompt.multimask);
    EXPECT_FALSE(prompt_from_context(json{point("a", 1, 1, false), rect("r", 1, 1, 5, 5)}).prompt.multimask);
}

TEST(LabelStudioPrompt, LabelChoices) {
    // several labels: the newest wins
    EXPECT_EQ(prompt_from_context(json{point("a", 1, 1, true, "Banana"), point("b", 2, 2, true, "Orange")}).label,
              "Orange");
    // a label outside the output tag's list passes through here
    EXPECT_EQ(prompt_from_context(json{point("a", 1, 1, true, "Kiwi")}).label, "Kiwi");
    // generic "labels" key
    json generic = point("a", 1, 1, true);
    generic["value"].erase("keypointlabels");
    generic["value"]["labels"] = {"Orange"};
    EXPECT_EQ(prompt_from_context(json{generic}).label, "Orange");
    // a region without a label does not erase an earlier one
    json bare = point("b", 2, 2, true);
    bare["value"]["keypointlabels"] = json::array();
    EXPECT_EQ(prompt_from_context(json{point("a", 1, 1, true, "Orange"), bare}).label, "Orange");
    EXPECT_FALSE(prompt_from_context(json{bare}).label.has_value());
}

TEST(LabelStudioPrompt, OutputLabelRule) {
    using sam::ls::output_label;
    // the prompt's label when the output tag has it
    EXPECT_EQ(output_label("Orange", kTarget).label, "Orange");
    EXPECT_FALSE(output_label("Orange", kTarget).substituted);
    // else the output tag's first label, flagged for the warning in the log
    EXPECT_EQ(output_label("Kiwi", kTarget).label, "Banana");
    EXPECT_TRUE(output_label("Kiwi", kTarget).substituted);
    // no label on the prompt: the first label, nothing to warn about
    EXPECT_EQ(output_label(std::nullopt, kTarget).label, "Banana");
    EXPECT_FALSE(output_label(std::nullopt, kTarget).substituted);
    // an output tag without a Label list takes the prompt's label as it is
    OutputTarget bare = kTarget;
    bare.labels.clear();
    EXPECT_EQ(output_label("Kiwi", bare).label, "Kiwi");
    try {
        output_label(std::nullopt, bare);
        ADD_FAILURE() << "no error";
    } catch (const RequestError& e) {
        EXPECT_EQ(e.status(), 422);
        EXPECT_NE(std::string(e.what()).find("BrushLabels 'tag' has no Label"), std::string::npos) << e.what();
    }
}

TEST(LabelStudioPrompt, KeypointSignFromIsPositiveOrValuePositive) {
    auto sign = [](const json& region) { return prompt_from_context(json{region}).prompt.points.at(0).label; };
    EXPECT_EQ(sign(point("a", 1, 1, true)), 1);
    EXPECT_EQ(sign(point("a", 1, 1, false)), 0);
    EXPECT_EQ(sign(point("a", 1, 1, kMissing)), 0);  // neither: negative, as the Python example
    EXPECT_EQ(sign(point("a", 1, 1, nullptr)), 0);
    // the newer editor: value.positive
    json newer = point("a", 1, 1, kMissing);
    newer["value"]["positive"] = true;
    EXPECT_EQ(sign(newer), 1);
    newer["value"]["positive"] = false;
    EXPECT_EQ(sign(newer), 0);
    newer["value"]["positive"] = nullptr;
    EXPECT_EQ(sign(newer), 0);
    // both: is_positive wins
    json both = point("a", 1, 1, false);
    both["value"]["positive"] = true;
    EXPECT_EQ(sign(both), 0);
    both = point("a", 1, 1, true);
    both["value"]["positive"] = false;
    EXPECT_EQ(sign(both), 1);
}

TEST(LabelStudioPrompt, ImageFromToName) {
    json a = point("a", 1, 1, true), b = point("b", 2, 2, true);
    a["to_name"] = "img";
    EXPECT_EQ(prompt_from_context(json{a, b}).image, "img");  // a region without to_name agrees
    EXPECT_EQ(prompt_from_context(json{b, a}).image, "img");
    b["to_name"] = "other";
    try {
        prompt_from_context(json{a, b});
        ADD_FAILURE() << "no error";
    } catch (const RequestError& e) {
        EXPECT_EQ(e.status(), 400);
        EXPECT_NE(std::string(e.what()).find("to_name 'other' differs from 'img'"), std::string::npos) << e.what();
    }
    b["to_name"] = 5;
    EXPECT_THROW(prompt_from_context(json{b}), RequestError);
}

TEST(LabelStudioPrompt, ContextEvents) {
    using sam::ls::context_event;
    using sam::ls::ContextEvent;
    auto with_event = [](const json& event) { return json{{"params", {{"context", {{"event", event}}}}}}; };
    EXPECT_EQ(context_event(json::object()), ContextEvent::Predict);
    EXPECT_EQ(context_event(json{{"params", {{"context", {{"result", json::array()}}}}}}), ContextEvent::Predict);
    EXPECT_EQ(context_event(with_event("capabilities")), ContextEvent::Capabilities);
    EXPECT_EQ(context_event(with_event("prewarm")), ContextEvent::Prewarm);
    EXPECT_EQ(context_event(with_event("predict")), ContextEvent::Predict);
    EXPECT_EQ(context_event(with_event("track_progress")), ContextEvent::Predict);
    EXPECT_EQ(context_event(with_event(nullptr)), ContextEvent::Predict);
    EXPECT_THROW(context_event(with_event(3)), RequestError);
    EXPECT_THROW(context_event(json{{"params", {{"context", "x"}}}}), RequestError);
}

TEST(LabelStudioPrompt, OutsideImagePassesThrough) {
    const ContextPrompt cp = prompt_from_context(json{point("a", 150, -10, true)});
    EXPECT_FLOAT_EQ(cp.prompt.points[0].x, 300);
    EXPECT_FLOAT_EQ(cp.prompt.points[0].y, -10);
}

TEST(LabelStudioPrompt, RotatedRectangleBecomesItsBoundingBox) {
    json r = rect("r", 10, 10, 10, 10);  // pixels: (20, 10), 20 x 10
    r["value"]["rotation"] = 90;         // clockwise around the top-left corner
    const ContextPrompt cp = prompt_from_context(json{r});
    ASSERT_TRUE(cp.prompt.box);
    EXPECT_NEAR(cp.prompt.box->x0, 10, 1e-4);
    EXPECT_NEAR(cp.prompt.box->y0, 10, 1e-4);
    EXPECT_NEAR(cp.prompt.box->x1, 20, 1e-4);
    EXPECT_NEAR(cp.prompt.box->y1, 30, 1e-4);
}

TEST(LabelStudioPrompt, OtherRegionTypesAreIgnored) {
    const json brush = {{"id", "x"}, {"type", "brushlabels"}, {"value", {{"format", "rle"}}}};
    const json choice = {{"id", "c"}, {"type", "choices"}};  // no value, no size: not checked
    const ContextPrompt cp = prompt_from_context(json{brush, point("a", 50, 50, true), choice});
    EXPECT_EQ(cp.prompt.points.size(), 1u);
    EXPECT_TRUE(cp.prompt.multimask);
}

// status and message of prompt_from_context(result)
std::pair<int, std::string> failure(const json& result) {
    try {
        prompt_from_context(result);
    } catch (const RequestError& e) {
        return {e.status(), e.what()};
    }
    return {0, ""};
}

void expect_failure(const json& result, int status, std::initializer_list<std::string> fragments) {
    const auto [code, message] = failure(result);
    EXPECT_EQ(code, status) << result.dump() << " -> " << message;
    for (const std::string& f : fragments) EXPECT_NE(message.find(f), std::string::npos) << message << " lacks " << f;
}

TEST(LabelStudioPrompt, NoUsableRegionIs422) {
    expect_failure(json::array(), 422, {"no keypointlabels or rectanglelabels"});
    expect_failure(json{{{"id", "x"}, {"type", "brushlabels"}}}, 422, {"no keypointlabels"});
}

TEST(LabelStudioPrompt, MalformedRegionsAre400) {
    expect_failure(json::object(), 400, {"context.result must be an array"});
    expect_failure(json{42}, 400, {"context.result[0] is not an object"});
    expect_failure(json{{{"id", "k9"}}}, 400, {"region 'k9'", "type"});

    json r = point("k1", 10, 10, true);
    r.erase("value");
    expect_failure(json{r}, 400, {"region 'k1'", "value"});
    r = point("k1", 10, 10, true);
    r["value"] = "10,10";
    expect_failure(json{r}, 400, {"region 'k1'", "value"});
    r = point("k1", 10, 10, true);
    r["value"].erase("x");
    expect_failure(json{r}, 400, {"region 'k1'", "value.x"});
    r = point("k1", 10, 10, true);
    r["value"]["x"] = "10";
    expect_failure(json{r}, 400, {"region 'k1'", "value.x", "number"});
    r = point("k1", 10, 10, true);
    r["value"]["y"] = std::nan("");
    expect_failure(json{r}, 400, {"region 'k1'", "value.y", "finite"});
    r = point("k1", 10, 10, true);
    r["value"]["x"] = INFINITY;
    expect_failure(json{r}, 400, {"region 'k1'", "value.x", "finite"});
    r = point("k1", 10, 10, "yes");
    expect_failure(json{r}, 400, {"region 'k1'", "is_positive"});
    r = point("k1", 10, 10, true);
    r["value"]["keypointlabels"] = {5};
    expect_failure(json{r}, 400, {"region 'k1'", "keypointlabels[0]", "string"});
    r = point("k1", 10, 10, true);
    r["value"]["keypointlabels"] = "Banana";
    expect_failure(json{r}, 400, {"region 'k1'", "keypointlabels"});

    r = rect("r1", 10, 10, -5, 10);
    expect_failure(json{r}, 400, {"region 'r1'", "negative width"});
    r = rect("r1", 10, 10, 5, -1);
    expect_failure(json{r}, 400, {"region 'r1'", "height"});
    r = rect("r1", 10, 10, 5, 5);
    r["value"].erase("height");
    expect_failure(json{r}, 400, {"region 'r1'", "value.height"});
    r = rect("r1", 10, 10, 5, 5);
    r["value"]["rotation"] = NAN;
    expect_failure(json{r}, 400, {"region 'r1'", "value.rotation"});

    // regions without a string id are named by index
    r = point("k1", 10, 10, true);
    r.erase("id");
    r["value"].erase("y");
    expect_failure(json{point("a", 1, 1, true), r}, 400, {"region #1", "value.y"});
}

// A wrong type in a field is quoted short in the message (ls::quote), never dumped whole: a
// request body may hold megabytes there.
TEST(LabelStudioPrompt, WrongTypesAreQuotedShort) {
    const json huge = json(std::vector<int>(200000, 7));
    auto message = [](const std::function<void()>& fn) {
        try {
            fn();
        } catch (const RequestError& e) {
            EXPECT_EQ(e.status(), 400);
            return std::string(e.what());
        }
        ADD_FAILURE() << "no RequestError";
        return std::string();
    };
    json r = point("k1", 10, 10, true);
    r["is_positive"] = huge;
    std::string m = message([&] { prompt_from_context(json{r}); });
    EXPECT_NE(m.find("is_positive must be true or false, got [7, 7, 7"), std::string::npos) << m.substr(0, 200);
    EXPECT_LT(m.size(), 200u);
    r = point("k1", 10, 10, true);
    r["value"]["positive"] = huge;
    r.erase("is_positive");
    m = message([&] { prompt_from_context(json{r}); });
    EXPECT_NE(m.find("value.positive must be true or false"), std::string::npos) << m.substr(0, 200);
    EXPECT_LT(m.size(), 200u);
    r = point("k1", 10, 10, true);
    r["to_name"] = huge;
    m = message([&] { prompt_from_context(json{r}); });
    EXPECT_NE(m.find("to_name must be a string"), std::string::npos) << m.substr(0, 200);
    EXPECT_LT(m.size(), 200u);
    m = message([&] { sam::ls::context_event(json{{"params", {{"context", {{"event", huge}}}}}}); });
    EXPECT_NE(m.find("params.context.event must be a string"), std::string::npos) << m.substr(0, 200);
    EXPECT_LT(m.size(), 200u);
}

TEST(LabelStudioPrompt, BadOriginalSizeIs400) {
    for (const char* key : {"original_width", "original_height"}) {
        for (const json& bad : {json(0), json(-3), json(1.5), json("769"), json(nullptr), kMissing}) {
            json r = point("k1", 10, 10, true);
            if (bad.is_discarded())
                r.erase(key);
            else
                r[key] = bad;
            SCOPED_TRACE(std::string(key) + " = " + (bad.is_discarded() ? "missing" : bad.dump()));
            expect_failure(json{r}, 400, {"region 'k1'", key});
        }
    }
    json other = point("b", 10, 10, true);
    other["original_width"] = 300;
    expect_failure(json{point("a", 1, 1, true), other}, 400, {"region 'b'", "300x100", "200x100", "region 'a'"});
}

TEST(LabelStudioPrompt, FindContextResult) {
    EXPECT_EQ(find_context_result(json::object()), nullptr);
    EXPECT_EQ(find_context_result(json{{"params", nullptr}}), nullptr);
    EXPECT_EQ(find_context_result(json{{"params", {{"context", nullptr}}}}), nullptr);
    EXPECT_EQ(find_context_result(json{{"params", {{"context", json::object()}}}}), nullptr);
    EXPECT_EQ(find_context_result(json{{"params", {{"context", {{"result", nullptr}}}}}}), nullptr);
    EXPECT_EQ(find_context_result(json{{"params", {{"context", {{"result", json::array()}}}}}}), nullptr);
    const json req = {{"params", {{"context", {{"result", {point("a", 1, 1, true)}}}}}}};
    const json* r = find_context_result(req);
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(r, &req["params"]["context"]["result"]);
    // a non-array result is handed on, and prompt_from_context refuses it
    const json odd = {{"params", {{"context", {{"result", "x"}}}}}};
    ASSERT_NE(find_context_result(odd), nullptr);
    EXPECT_THROW(prompt_from_context(*find_context_result(odd)), RequestError);
    for (const json& bad : {json{{"params", 3}}, json{{"params", {{"context", "x"}}}}}) {
        try {
            find_context_result(bad);
            ADD_FAILURE() << "no error for " << bad.dump();
        } catch (const RequestError& e) {
            EXPECT_EQ(e.status(), 400);
        }
    }
}

TEST(LabelStudioPrompt, BrushRegionShape) {
    const std::vector<uint8_t> mask = {1, 0, 0, 1, 1, 1};
    const std::vector<uint8_t> rle = sam::ls::encode_brush_rle(mask.data(), 3, 2);
    const json region = sam::ls::make_region(kTarget, "Kiwi", 3, 2, 0.75f, "ab12", {{"format", "rle"}, {"rle", rle}});
    json expected = {{"id", "ab12"},
                     {"from_name", "tag"},
                     {"to_name", "image"},
                     {"original_width", 3},
                     {"original_height", 2},
                     {"image_rotation", 0},
                     {"value", {{"format", "rle"}, {"rle", json::array()}, {"brushlabels", {"Kiwi"}}}},
                     {"score", 0.75},
                     {"type", "brushlabels"},
                     {"readonly", false}};
    for (uint8_t b : rle) expected["value"]["rle"].push_back(int(b));
    EXPECT_EQ(region, expected);
    EXPECT_TRUE(region["value"]["rle"][0].is_number_unsigned());
    // the bytes survive a JSON round trip and decode to the mask
    const json back = json::parse(region.dump());
    EXPECT_EQ(sam::ls::decode_brush_rle(back["value"]["rle"].get<std::vector<uint8_t>>(), 3, 2), mask);

    EXPECT_THROW(sam::ls::make_region(kTarget, "x", 0, 2, 0.5f, "id", json::object()), std::invalid_argument);
    EXPECT_THROW(sam::ls::make_region(kTarget, "x", 3, 2, NAN, "id", json::object()), std::invalid_argument);
    // other output tags: the label goes under their own type
    OutputTarget poly = kTarget;
    poly.kind = OutputKind::Polygon;
    const json p = sam::ls::make_region(poly, "Kiwi", 3, 2, 0.5f, "id", {{"closed", true}});
    EXPECT_EQ(p["type"], "polygonlabels");
    EXPECT_EQ(p["value"], json({{"closed", true}, {"polygonlabels", {"Kiwi"}}}));
}

TEST(LabelStudioPrompt, BrushRegionMatchesGoldenExpectations) {
    if (!samtest::golden_available()) GTEST_SKIP() << "no golden data";
    const json fx = samtest::load_json(samtest::golden("labelstudio/fixtures.json"));
    for (const auto& p : fx["predict"]) {
        const json& exp = p["expected"];
        if (!exp.contains("mask_file")) continue;
        SCOPED_TRACE(p["name"].get<std::string>());
        const samtest::GrayImage m = samtest::load_png_gray(samtest::golden("labelstudio/" + exp["mask_file"].get<std::string>()));
        std::vector<uint8_t> mask(m.pixels.size());
        for (size_t i = 0; i < mask.size(); i++) mask[i] = m.pixels[i] > 127;
        const sam::ls::LabelConfig config = sam::ls::parse_label_config(p["request"]["label_config"]);
        const ContextPrompt cp = prompt_from_context(*find_context_result(p["request"]));
        const OutputTarget& t = config.output_for(cp.image);
        ASSERT_EQ(m.width, cp.original_width);
        ASSERT_EQ(m.height, cp.original_height);
        const json region = sam::ls::make_region(
            t, sam::ls::output_label(cp.label, t).label, cp.original_width, cp.original_height, exp["score"].get<float>(),
            "r", {{"format", "rle"}, {"rle", sam::ls::encode_brush_rle(mask.data(), m.width, m.height)}});
        for (const char* key : {"from_name", "to_name", "type", "original_width", "original_height", "score"})
            EXPECT_EQ(region[key], exp[key]) << key;
        EXPECT_EQ(region["value"]["brushlabels"], json{exp["label"]});
        EXPECT_EQ(sam::ls::decode_brush_rle(region["value"]["rle"].get<std::vector<uint8_t>>(), m.width, m.height), mask);
    }
}

}  // namespace
