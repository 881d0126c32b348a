// The `segment` command as a user runs it: a process, a PNG out, IoU scores on stdout.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "support/golden.hpp"

namespace {

struct CliResult {
    int status;
    std::string output;
};

CliResult run(const std::string& args) {
    std::string cmd = std::string(SAM_BINARY) + " segment " + args + " 2>&1";
    FILE* p = popen(cmd.c_str(), "r");
    std::string out;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    int status = pclose(p);
    return {WEXITSTATUS(status), out};
}

// Pixels where two mask PNGs differ (white = inside); -1 when their sizes differ.
int64_t differing_pixels(const std::string& a_png, const std::string& b_png) {
    const samtest::GrayImage a = samtest::load_png_gray(a_png), b = samtest::load_png_gray(b_png);
    if (a.width != b.width || a.height != b.height) return -1;
    int64_t differ = 0;
    for (size_t i = 0; i < a.pixels.size(); ++i) differ += (a.pixels[i] > 127) != (b.pixels[i] > 127);
    return differ;
}

std::string tmp_png(const char* name) {
    return (std::filesystem::temp_directory_path() / (std::string("sam_cli_") + name + ".png")).string();
}

}  // namespace

TEST(CliSegment, WritesTheReferenceMaskAndPrintsIou) {
    const auto cs = samtest::load_json(samtest::golden("cases/mobile_sam/photo/case.json"));
    const auto& c = cs["cases"][0];  // one positive point, single mask
    ASSERT_EQ(c["name"], "one_positive_point");
    const std::string out = tmp_png("point");
    char point[64];
    std::snprintf(point, sizeof point, "%.2f,%.2f,1", c["points"][0][0].get<double>(), c["points"][0][1].get<double>());
    CliResult r = run("--checkpoint " + samtest::golden("checkpoints/mobile_sam_random.pt") + " --image " +
                samtest::golden("images/photo.jpg") + " --point " + point + " --out " + out);
    ASSERT_EQ(r.status, 0) << r.output;
    auto json = nlohmann::json::parse(r.output.substr(r.output.find('{')));
    EXPECT_NEAR(json["iou"][0].get<double>(), c["iou_predictions"][0].get<double>(), 1e-3);

    const int64_t differ =
        differing_pixels(out, samtest::golden("cases/mobile_sam/photo/" + c["mask_files"][0].get<std::string>()));
    // Only pixels whose logit is within float noise of 0 may differ.
    EXPECT_GE(differ, 0) << "sizes differ";
    EXPECT_LT(differ, 50) << differ << " pixels differ";
    std::filesystem::remove(out);
}

// A SAM 2.1 checkpoint works the same way: the architecture is read from the file.
TEST(CliSegment, Sam2Checkpoint) {
    const std::string dir = "cases/sam2.1_hiera_tiny/gray_wide/";
    const auto cs = samtest::load_json(samtest::golden(dir + "case.json"));
    const auto& c = cs["cases"][0];  // one positive point, single mask (the stability rule)
    ASSERT_EQ(c["name"], "one_positive_point");
    const std::string out = tmp_png("sam2");
    char point[64];
    std::snprintf(point, sizeof point, "%.2f,%.2f,1", c["points"][0][0].get<double>(), c["points"][0][1].get<double>());
    CliResult r = run("--checkpoint " + samtest::golden("checkpoints/sam2.1_hiera_tiny_random.pt") + " --image " +
                      samtest::golden("images/gray_wide.png") + " --point " + point + " --out " + out);
    ASSERT_EQ(r.status, 0) << r.output;
    auto json = nlohmann::json::parse(r.output.substr(r.output.find('{')));
    EXPECT_EQ(json["model"].get<std::string>().rfind("SAM 2.1 Hiera-T", 0), 0u) << r.output;
    EXPECT_NEAR(json["iou"][0].get<double>(), c["iou_predictions"][0].get<double>(), 2e-4);
    const int64_t differ = differing_pixels(out, samtest::golden(dir + c["mask_files"][0].get<std::string>()));
    EXPECT_GE(differ, 0) << "sizes differ";
    EXPECT_LT(differ, 10) << differ << " pixels differ";
    std::filesystem::remove(out);
}

TEST(CliSegment, ClearErrorsForBadArguments) {
    const std::string ck = samtest::golden("checkpoints/mobile_sam_random.pt");
    const std::string img = samtest::golden("images/tiny.png");
    CliResult missing = run("--checkpoint /nonexistent/mobile_sam.pt --image " + img + " --point 1,1 --out " + tmp_png("x"));
    EXPECT_NE(missing.status, 0);
    EXPECT_NE(missing.output.find("no such file: '/nonexistent/mobile_sam.pt'"), std::string::npos) << missing.output;

    CliResult bad_point = run("--checkpoint " + ck + " --image " + img + " --point 1,abc --out " + tmp_png("x"));
    EXPECT_NE(bad_point.status, 0);
    EXPECT_NE(bad_point.output.find("not a list of numbers"), std::string::npos) << bad_point.output;

    CliResult no_prompt = run("--checkpoint " + ck + " --image " + img + " --out " + tmp_png("x"));
    EXPECT_NE(no_prompt.status, 0);
    EXPECT_NE(no_prompt.output.find("give at least one"), std::string::npos) << no_prompt.output;

    CliResult not_ckpt = run("--checkpoint " + img + " --image " + img + " --point 1,1 --out " + tmp_png("x"));
    EXPECT_NE(not_ckpt.status, 0);
    EXPECT_NE(not_ckpt.output.find("zip"), std::string::npos) << not_ckpt.output;
    EXPECT_FALSE(std::filesystem::exists(tmp_png("x")));
}
