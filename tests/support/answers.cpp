#include "support/answers.hpp"

#include <gtest/gtest.h>

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "io/image.hpp"
#include "labelstudio/base64.hpp"
#include "labelstudio/brush_rle.hpp"

using nlohmann::json;

namespace samtest {

namespace {

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
    for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) s.replace(at, from.size(), to);
    return s;
}

// A data URL's standard base64, decoded.
std::vector<uint8_t> standard_base64_decode(std::string text) {
    for (char& c : text) c = c == '+' ? '-' : c == '/' ? '_' : c == '-' || c == '_' ? '!' : c;
    const std::optional<std::string> bytes = sam::ls::base64url_decode(text);
    if (!bytes) throw std::runtime_error("not standard base64");
    return std::vector<uint8_t>(bytes->begin(), bytes->end());
}

}  // namespace

json post_predict(httplib::Client& client, const json& request) {
    auto res = client.Post("/predict", request.dump(), "application/json");
    EXPECT_TRUE(res) << "no answer: " << httplib::to_string(res.error());
    if (!res) return json();
    EXPECT_EQ(res->status, 200) << res->body;
    return json::parse(res->body, nullptr, /*allow_exceptions=*/false);
}

double metric(const std::string& text, const std::string& name) {
    auto at = text.find("\n" + name + " ");
    return at == std::string::npos ? -1 : std::atof(text.c_str() + at + name.size() + 2);
}

std::vector<uint8_t> region_mask(const json& region) {
    const int w = region["original_width"], h = region["original_height"];
    const std::string type = region["type"];
    const json& v = region["value"];
    std::vector<uint8_t> mask(static_cast<size_t>(w) * h, 0);
    if (type == "brushlabels") return sam::ls::decode_brush_rle(v["rle"].get<std::vector<uint8_t>>(), w, h);
    if (type == "bitmasklabels") {
        const std::string url = v["imageDataURL"];
        const std::string prefix = "data:image/png;base64,";
        EXPECT_EQ(url.rfind(prefix, 0), 0u);
        const sam::RgbImage png = sam::decode_image(standard_base64_decode(url.substr(prefix.size())));
        EXPECT_EQ(png.width, w);
        EXPECT_EQ(png.height, h);
        for (size_t i = 0; i < mask.size(); ++i) {
            const uint8_t gray = png.pixels[3 * i];
            EXPECT_TRUE(gray == 0 || gray == 255) << int(gray);
            mask[i] = gray == 255;
        }
        return mask;
    }
    cv::Mat image(h, w, CV_8UC1, mask.data());
    if (type == "polygonlabels" || type == "vectorlabels") {
        EXPECT_EQ(v["closed"], true);
        // Vertices are boundary pixel centres: percent -> pixels, minus half a pixel, is the index.
        std::vector<cv::Point> points;
        for (const json& p : v["points"])
            points.emplace_back(static_cast<int>(std::lround(p[0].get<double>() * w / 100 - 0.5)),
                                static_cast<int>(std::lround(p[1].get<double>() * h / 100 - 0.5)));
        cv::fillPoly(image, std::vector<std::vector<cv::Point>>{points}, cv::Scalar(1));
        return mask;
    }
    EXPECT_EQ(type, "rectanglelabels");
    EXPECT_EQ(v["rotation"], 0);
    const int x0 = static_cast<int>(std::lround(v["x"].get<double>() * w / 100));
    const int y0 = static_cast<int>(std::lround(v["y"].get<double>() * h / 100));
    const int x1 = static_cast<int>(std::lround((v["x"].get<double>() + v["width"].get<double>()) * w / 100));
    const int y1 = static_cast<int>(std::lround((v["y"].get<double>() + v["height"].get<double>()) * h / 100));
    cv::rectangle(image, cv::Rect(x0, y0, x1 - x0, y1 - y0), cv::Scalar(1), cv::FILLED);
    return mask;
}

double iou(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
    size_t both = 0, any = 0;
    for (size_t i = 0; i < a.size(); ++i) both += a[i] && b[i], any += a[i] || b[i];
    return any ? double(both) / double(any) : 1.0;
}

std::vector<uint8_t> without_holes(std::vector<uint8_t> mask, int w, int h) {
    cv::Mat image(h, w, CV_8UC1, mask.data());
    std::vector<std::vector<cv::Point>> outlines;
    cv::findContours(image, outlines, cv::RETR_EXTERNAL, cv::CHAIN_APPROX_NONE);
    cv::drawContours(image, outlines, -1, cv::Scalar(1), cv::FILLED);
    return mask;
}

std::array<int, 4> bounding_box(const std::vector<uint8_t>& m, int w, int h) {
    std::array<int, 4> b = {w, h, -1, -1};
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x)
            if (m[static_cast<size_t>(y) * w + x])
                b = {std::min(b[0], x), std::min(b[1], y), std::max(b[2], x), std::max(b[3], y)};
    return b;
}

json without_ids(json answer) {
    for (json& task : answer["results"])
        for (json& region : task["result"]) region.erase("id");
    return answer;
}

std::string with_output_tag(const std::string& config, const std::string& tag) {
    return replace_all(replace_all(config, "<BrushLabels", "<" + tag), "</BrushLabels>", "</" + tag + ">");
}

json two_clicks(const json& one_click_request) {
    json request = one_click_request;
    json second = request["params"]["context"]["result"][0];
    second["id"] = "k2";
    second["value"]["x"] = second["value"]["x"].get<double>() - 8;
    second["value"]["y"] = second["value"]["y"].get<double>() - 5;
    request["params"]["context"]["result"].push_back(second);
    return request;
}

int expect_output_tags_agree(const json& request, const std::function<json(const json&)>& predict,
                             const std::string& name) {
    const json brush_answer = predict(request);
    if (brush_answer["results"].empty() || brush_answer["results"][0]["result"].empty()) {
        ADD_FAILURE() << name << ": no brush region: " << brush_answer.dump().substr(0, 300);
        return 0;
    }
    const json& brush = brush_answer["results"][0]["result"][0];
    const int w = brush["original_width"], h = brush["original_height"];
    const std::vector<uint8_t> mask = region_mask(brush);
    const std::array<int, 4> box = bounding_box(mask, w, h);
    if (box[2] < 0) {
        ADD_FAILURE() << name << ": the brush mask is empty";
        return 0;
    }
    int checked = 0;
    for (const char* tag : {"BitmaskLabels", "PolygonLabels", "VectorLabels", "RectangleLabels"}) {
        SCOPED_TRACE(name + " as " + tag);
        json tagged = request;
        tagged["label_config"] = with_output_tag(request["label_config"], tag);
        const json answer = predict(tagged);
        const json& regions = answer["results"][0]["result"];
        if (regions.empty()) {
            ADD_FAILURE() << "no region: " << answer.dump().substr(0, 300);
            continue;
        }
        EXPECT_EQ(answer["results"][0]["score"], brush_answer["results"][0]["score"]);
        std::string type = tag;
        std::transform(type.begin(), type.end(), type.begin(), [](unsigned char c) { return std::tolower(c); });
        std::vector<uint8_t> back(mask.size(), 0);
        for (const json& region : regions) {
            for (const char* key : {"from_name", "to_name", "original_width", "original_height", "image_rotation", "score",
                                    "readonly"})
                EXPECT_EQ(region[key], brush[key]) << key;
            EXPECT_EQ(region["type"], type);
            EXPECT_EQ(region["value"][type], brush["value"]["brushlabels"]);
            EXPECT_TRUE(region["id"].is_string() && !region["id"].get<std::string>().empty());
            const std::vector<uint8_t> part = region_mask(region);
            for (size_t i = 0; i < back.size(); ++i) back[i] |= part[i];
        }
        if (type == "bitmasklabels") {
            EXPECT_EQ(regions.size(), 1u);
            EXPECT_EQ(regions[0]["value"]["width"], w);
            EXPECT_EQ(regions[0]["value"]["height"], h);
            EXPECT_EQ(back, mask);
        } else if (type == "rectanglelabels") {
            EXPECT_EQ(regions.size(), 1u);
            const json& v = regions[0]["value"];
            EXPECT_NEAR(v["x"].get<double>(), box[0] * 100.0 / w, 1e-9);
            EXPECT_NEAR(v["y"].get<double>(), box[1] * 100.0 / h, 1e-9);
            EXPECT_NEAR(v["width"].get<double>(), (box[2] - box[0] + 1) * 100.0 / w, 1e-9);
            EXPECT_NEAR(v["height"].get<double>(), (box[3] - box[1] + 1) * 100.0 / h, 1e-9);
        } else {
            // Polygon regions drop holes (documented): compare with the mask's holes filled.
            const double agreement = iou(back, without_holes(mask, w, h));
            std::printf("%s as %s: %zu polygons, IoU %.4f (%.4f with the holes)\n", name.c_str(), tag, regions.size(),
                        agreement, iou(back, mask));
            EXPECT_GE(agreement, 0.97);
        }
        checked++;
    }
    return checked;
}

}  // namespace samtest
