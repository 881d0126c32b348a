// Request text made safe (labelstudio/request_json.hpp): UTF-8 repair, printable and quoted
// renderings of request values, and the request body parser's limits.
#include <gtest/gtest.h>

#include "labelstudio/errors.hpp"
#include "labelstudio/request_json.hpp"

using nlohmann::json;
using sam::ls::RequestError;

namespace {

const std::string kFffd = "\xEF\xBF\xBD";

std::pair<int, std::string> parse_failure(const std::string& body, int depth = sam::ls::kMaxJsonDepth) {
    try {
        sam::ls::parse_request_json(body, depth);
    } catch (const RequestError& e) {
        return {e.status(), e.what()};
    }
    return {0, ""};
}

TEST(ValidUtf8, ValidTextPassesUnchanged) {
    for (const std::string& s : std::vector<std::string>{"", "plain", "caf\xC3\xA9", "\xE2\x82\xAC 5", "\xF0\x9F\x98\x80", "\xF4\x8F\xBF\xBF",
                                std::string("nul\0inside", 10)})
        EXPECT_EQ(sam::ls::valid_utf8(s), s);
}

TEST(ValidUtf8, EachMaximalIllFormedSubpartBecomesOneReplacement) {
    struct Case {
        std::string in, out;
    };
    const std::vector<Case> cases = {
        {"\xFF", kFffd},
        {"a\xFFz", "a" + kFffd + "z"},
        {"\x80\x80", kFffd + kFffd},                        // stray continuation bytes
        {"\xC0\xAF", kFffd + kFffd},                        // overlong '/'
        {"\xE0\x80\xAF", kFffd + kFffd + kFffd},            // overlong, three bytes
        {"\xED\xA0\x80", kFffd + kFffd + kFffd},            // a surrogate
        {"\xF4\x90\x80\x80", kFffd + kFffd + kFffd + kFffd},  // above U+10FFFF
        {"\xE2\x82", kFffd},                                // truncated at the end
        {"\xE2\x82z", kFffd + "z"},                         // truncated before an ASCII byte
        {"\xF0\x9F\x98", kFffd},
    };
    for (const Case& c : cases) {
        EXPECT_EQ(sam::ls::valid_utf8(c.in), c.out) << json(sam::ls::valid_utf8(c.in)).dump();
        EXPECT_TRUE(json::accept(json(sam::ls::valid_utf8(c.in)).dump()));
    }
}

TEST(Printable, EscapesControlsAndCutsOnACharacterBoundary) {
    EXPECT_EQ(sam::ls::printable("a\nb\tc\x1b"), "a\\nb\\tc\\x1b");
    const std::string euros = std::string(100, 'x') + "\xE2\x82\xAC\xE2\x82\xAC\xE2\x82\xAC";
    const std::string cut = sam::ls::printable(euros, 105);
    EXPECT_LE(cut.size(), 105u);
    EXPECT_EQ(cut, std::string(100, 'x') + "...");  // the euro sign does not fit whole with "..."
    EXPECT_EQ(sam::ls::valid_utf8(cut), cut);
    EXPECT_EQ(sam::ls::printable("short"), "short");
}

TEST(Printable, LooksAtABoundedPrefixOfHugeText) {
    const std::string huge(64 << 20, '\xFF');
    const std::string p = sam::ls::printable(huge, 50);
    EXPECT_LE(p.size(), 50u);
    EXPECT_NE(p.find(kFffd), std::string::npos);
    EXPECT_TRUE(p.ends_with("..."));
}

TEST(Quote, IsShortWhateverTheValue) {
    json wide = json::array();
    for (int i = 0; i < 100000; ++i) wide.push_back(i);
    json deep = 1;
    for (int i = 0; i < 60; ++i) deep = json::array({deep});
    json object = {{std::string(1000, 'k'), std::string(100000, 'v')}, {"b", 2}, {"c", 3}, {"d", 4}};
    for (const json& v : {wide, deep, object, json(std::string(100000, 'q')), json(std::string("\xFF\n"))}) {
        const std::string q = sam::ls::quote(v);
        EXPECT_LE(q.size(), 80u) << q;
        EXPECT_EQ(sam::ls::valid_utf8(q), q);
        EXPECT_EQ(q.find('\n'), std::string::npos);
    }
    EXPECT_EQ(sam::ls::quote(json::array({1, 2})), "[1, 2]");
    EXPECT_EQ(sam::ls::quote(json::array({1, 2, 3, 4, 5})), "[1, 2, 3, ... 5 items]");
    EXPECT_EQ(sam::ls::quote(json::array({json::array({json::array({1})})})), "[[[...]]]");
    EXPECT_EQ(sam::ls::quote(json("id")), "\"id\"");
    EXPECT_EQ(sam::ls::quote(json{{"x", nullptr}}), "{\"x\": null}");
}

TEST(ParseRequestJson, DepthIsCappedBeforeParsing) {
    const auto nest = [](int n) { return std::string(n, '[') + std::string(n, ']'); };
    EXPECT_NO_THROW(sam::ls::parse_request_json(nest(64)));
    EXPECT_EQ(parse_failure(nest(65)).first, 400);
    EXPECT_NE(parse_failure(nest(65)).second.find("nested deeper than 64 levels"), std::string::npos);
    EXPECT_EQ(parse_failure(nest(1000000)).first, 400);
    EXPECT_EQ(parse_failure("{\"a\":" + nest(64) + "}").first, 400);  // the object is a level too
    // Brackets inside strings, also after escaped quotes, are text.
    EXPECT_NO_THROW(sam::ls::parse_request_json("{\"s\": \"" + std::string(1000, '[') + "\\\"[[[\"}"));
}

TEST(ParseRequestJson, BadInputIs400WithAPrintableMessage) {
    for (const std::string& body : std::vector<std::string>{"", "{", "{\"a\": \"\xFF\"}", "[1e400]", "[-1e400]", "[1" + std::string(400, '0') + "]",
                                   "{\"a\": 1,}", std::string("{\"a\": \"x\0y\"}", 12)}) {
        const auto [status, message] = parse_failure(body);
        EXPECT_EQ(status, 400) << json(sam::ls::valid_utf8(body)).dump();
        EXPECT_EQ(sam::ls::valid_utf8(message), message);
        EXPECT_LT(message.size(), 500u);
    }
    EXPECT_NE(parse_failure("[1e400]").second.find("out of range"), std::string::npos);
    EXPECT_NE(parse_failure("{\"a\": \"\xFF\"}").second.find("UTF-8"), std::string::npos);
    EXPECT_NE(parse_failure(std::string(1000000, ' ') + "x").second.find("malformed JSON"), std::string::npos);
}

TEST(ParseRequestJson, HugeIntegersBecomeFloatsNotErrors) {
    // As nlohmann parses them; the fields that need integers then refuse them with a 400.
    json j = sam::ls::parse_request_json("{\"id\": 123456789012345678901234567890}");
    EXPECT_TRUE(j["id"].is_number_float());
}

TEST(ToJsonText, InvalidUtf8IsReplacedNotThrown) {
    json j = {{"label", std::string("a\xED\xA0\x80z")}};  // a surrogate, as an XML entity can produce
    std::string text;
    EXPECT_NO_THROW(text = sam::ls::to_json_text(j));
    EXPECT_TRUE(json::accept(text)) << text;
}

}  // namespace
