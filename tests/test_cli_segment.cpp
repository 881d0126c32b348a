// The `segment` command as a user runs it: a process, a PNG out, IoU scores on stdout.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "support/golden.hpp"
#include "tensor/isa.hpp"

namespace {

struct CliResult {
    int status;
    std::string output;
};

CliResult run(const std::string& args, const std::string& env = "") {
    std::string cmd = env + " " + std::string(SAM_BINARY) + " segment " + args + " 2>&1";
    FILE* p = popen(cmd.c_str(), "r");
    std::string out;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    int status = pclose(p);
    return {WEXITSTATUS(status), out};
}

std::string tmp_png(const char* name) {
    return (std::filesystem::temp_directory_path() / (std::string("sam_cli_") + name + ".png")).string();
}

}  // namespace

namespace {

// `segment` on a golden case with one positive point: the printed IoU and the written mask
// against the reference's; only pixels whose logit is within float noise of 0 may differ.
// Returns the printed JSON.
nlohmann::json check_one_point_case(const std::string& checkpoint, const std::string& case_dir, const std::string& image,
                                    double iou_tol, int64_t max_differ) {
    const auto cs = samtest::load_json(samtest::golden(case_dir + "case.json"));
    const auto& c = cs["cases"][0];
    EXPECT_EQ(c["name"], "one_positive_point");
    const std::string out = tmp_png("point");
    char point[64];
    std::snprintf(point, sizeof point, "%.2f,%.2f,1", c["points"][0][0].get<double>(), c["points"][0][1].get<double>());
    const CliResult r = run("--checkpoint " + samtest::golden(checkpoint) + " --image " + samtest::golden(image) +
                            " --point " + point + " --out " + out);
    EXPECT_EQ(r.status, 0) << r.output;
    if (r.status != 0) return nullptr;
    auto json = nlohmann::json::parse(r.output.substr(r.output.find('{')));
    EXPECT_NEAR(json["iou"][0].get<double>(), c["iou_predictions"][0].get<double>(), iou_tol);
    const samtest::GrayImage mine = samtest::load_png_gray(out),
                             ref = samtest::load_png_gray(samtest::golden(case_dir + c["mask_files"][0].get<std::string>()));
    std::filesystem::remove(out);
    EXPECT_EQ(mine.width, ref.width);
    EXPECT_EQ(mine.height, ref.height);
    if (mine.pixels.size() != ref.pixels.size()) return json;
    int64_t differ = 0;
    for (size_t i = 0; i < ref.pixels.size(); ++i) differ += (mine.pixels[i] > 127) != (ref.pixels[i] > 127);
    EXPECT_LT(differ, max_differ) << differ << " pixels differ";
    return json;
}

}  // namespace

TEST(CliSegment, WritesTheReferenceMaskAndPrintsIou) {
    check_one_point_case("checkpoints/mobile_sam_random.pt", "cases/mobile_sam/photo/", "images/photo.jpg", 1e-3, 50);
}

// A SAM 2.1 checkpoint works the same way: the architecture is read from the file (single mask:
// the stability rule).
TEST(CliSegment, Sam2Checkpoint) {
    const nlohmann::json json = check_one_point_case("checkpoints/sam2.1_hiera_tiny_random.pt",
                                                     "cases/sam2.1_hiera_tiny/gray_wide/", "images/gray_wide.png", 2e-4, 10);
    EXPECT_EQ(json.value("model", "").rfind("SAM 2.1 Hiera-T", 0), 0u) << json.dump();
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

// SAM_ISA forces the level of our kernels and caps oneDNN's: the same result at every level the
// CPU has (within float noise), and a clear refusal of anything else.
TEST(CliSegment, SamIsaForcesALevelOrRefuses) {
    const std::string args = "--checkpoint " + samtest::golden("checkpoints/mobile_sam_random.pt") + " --image " +
                             samtest::golden("images/photo.jpg") + " --point 400,300 --multimask --out ";
    CliResult best = run(args + tmp_png("isa_best"));
    ASSERT_EQ(best.status, 0) << best.output;
    const auto want = nlohmann::json::parse(best.output.substr(best.output.find('{')));
    if (sam::isa::cpu_level() >= sam::isa::Level::v3) {
        CliResult v3 = run(args + tmp_png("isa_v3"), "SAM_ISA=avx2");
        ASSERT_EQ(v3.status, 0) << v3.output;
        const auto got = nlohmann::json::parse(v3.output.substr(v3.output.find('{')));
        ASSERT_EQ(got["iou"].size(), want["iou"].size());
        for (size_t i = 0; i < want["iou"].size(); ++i)
            EXPECT_NEAR(got["iou"][i].get<double>(), want["iou"][i].get<double>(), 1e-4);
        EXPECT_NEAR(got["area"].get<double>(), want["area"].get<double>(), 20);
    }
    CliResult bogus = run(args + tmp_png("isa_bad"), "SAM_ISA=avx1024");
    EXPECT_EQ(bogus.status, 2) << bogus.output;
    EXPECT_NE(bogus.output.find("SAM_ISA: 'avx1024' is not an instruction set level"), std::string::npos)
        << bogus.output;
    if (sam::isa::cpu_level() < sam::isa::Level::v4) {
        CliResult lacking = run(args + tmp_png("isa_v4"), "SAM_ISA=v4");
        EXPECT_EQ(lacking.status, 2) << lacking.output;
        EXPECT_NE(lacking.output.find("this CPU lacks AVX-512"), std::string::npos) << lacking.output;
    }
    for (const char* f : {"isa_best", "isa_v3", "isa_bad", "isa_v4"}) std::filesystem::remove(tmp_png(f));
}
