// Shipping files: compose files, download script, labeling templates and the README agree
// with each other and with what the binary and the label-config parser actually accept.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "labelstudio/errors.hpp"
#include "labelstudio/label_config.hpp"

namespace fs = std::filesystem;

namespace {

const fs::path kSource = SAM_SOURCE_DIR;

struct CmdResult {
    int code = -1;
    std::string output;  // stdout and stderr together
};

// Runs `cmd` through the shell, stderr folded into stdout.
CmdResult run(const std::string& cmd) {
    CmdResult r;
    FILE* p = popen((cmd + " 2>&1").c_str(), "r");
    if (!p) return r;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
    const int status = pclose(p);
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
}

std::string read_text(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    EXPECT_TRUE(in) << "cannot open " << path;
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

std::string quote(const std::string& s) { return "'" + s + "'"; }

bool has_docker_compose() { return run("command -v docker-compose").code == 0; }

// Variables a compose file sets: `- NAME=value` items of its environment lists.
std::set<std::string> compose_env_names(const fs::path& file) {
    const std::string text = read_text(file);
    const std::regex item(R"(\n\s+-\s+([A-Z][A-Z0-9_]*)=)");
    std::set<std::string> names;
    for (std::sregex_iterator it(text.begin(), text.end(), item), end; it != end; ++it) names.insert((*it)[1]);
    return names;
}

// `sam-ml-backend --help`, which lists every flag and environment variable.
std::string help_text() {
    const CmdResult r = run(quote(SAM_BINARY) + " --help");
    EXPECT_EQ(r.code, 0) << "sam-ml-backend --help failed:\n" << r.output;
    return r.output;
}

bool mentions(const std::string& text, const std::string& word) {
    const std::regex whole("(^|[^A-Za-z0-9_-])" + std::regex_replace(word, std::regex(R"([.^$|()\[\]{}*+?\\])"), R"(\$&)") +
                           "($|[^A-Za-z0-9_])");
    return std::regex_search(text, whole);
}

// A README table row split into cells, backticks removed: "| `A` | b |" -> {"A", "b"}.
std::vector<std::string> cells(const std::string& row) {
    std::vector<std::string> out;
    std::string cell;
    std::istringstream in(row.substr(1));
    while (std::getline(in, cell, '|')) {
        cell.erase(std::remove(cell.begin(), cell.end(), '`'), cell.end());
        const size_t b = cell.find_first_not_of(' '), e = cell.find_last_not_of(' ');
        out.push_back(b == std::string::npos ? "" : cell.substr(b, e - b + 1));
    }
    return out;
}

// Rows of the README table whose header's first cell is `first_header`.
std::vector<std::vector<std::string>> readme_table(const std::string& first_header) {
    std::istringstream in(read_text(kSource / "README.md"));
    std::vector<std::vector<std::string>> rows;
    std::string line;
    bool inside = false;
    while (std::getline(in, line)) {
        if (line.rfind("|", 0) != 0) {
            inside = false;
            continue;
        }
        std::vector<std::string> c = cells(line);
        if (!inside) {
            inside = !c.empty() && c[0] == first_header;
            continue;
        }
        if (line.rfind("|--", 0) == 0 || line.rfind("| --", 0) == 0 || line.rfind("|:-", 0) == 0) continue;
        rows.push_back(c);
    }
    return rows;
}

std::vector<std::string> split_list(const std::string& s) {
    std::vector<std::string> out;
    std::string item;
    std::istringstream in(s);
    while (std::getline(in, item, ',')) {
        item.erase(0, item.find_first_not_of(' '));
        item.erase(item.find_last_not_of(' ') + 1);
        out.push_back(item);
    }
    return out;
}

// A TCP port on 127.0.0.1 with nothing listening: bound by the kernel, then released.
int closed_port() {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof addr;
    const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
                    getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
    close(fd);
    return ok ? ntohs(addr.sin_port) : 0;
}

struct TempDir {
    fs::path path;
    TempDir() {
        std::string tmpl = (fs::temp_directory_path() / "sam_shipping_XXXXXX").string();
        path = mkdtemp(tmpl.data());
    }
    ~TempDir() { fs::remove_all(path); }
    std::vector<std::string> entries() const {
        std::vector<std::string> out;
        for (const auto& e : fs::directory_iterator(path)) out.push_back(e.path().filename().string());
        return out;
    }
};

// Runs the download script against a closed local port: nothing ever leaves this machine
// (proxies are bypassed for every host).
CmdResult download(const TempDir& dir, const std::string& args) {
    const std::string env = "env -u http_proxy -u https_proxy -u HTTP_PROXY -u HTTPS_PROXY -u ALL_PROXY "
                            "NO_PROXY='*' no_proxy='*' MODEL_DIR=" + quote(dir.path.string()) +
                            " DOWNLOAD_BASE_URL=http://127.0.0.1:" + std::to_string(closed_port());
    return run(env + " bash " + quote((kSource / "scripts/download_models.sh").string()) + " " + args);
}

}  // namespace

TEST(Compose, ConfigAcceptsCpuFileAndGpuOverride) {
    if (!has_docker_compose()) GTEST_SKIP() << "docker-compose is not installed (scripts/install-deps.sh installs it)";
    const std::string cpu = quote((kSource / "docker-compose.yml").string());
    const std::string gpu = quote((kSource / "docker-compose.gpu.yml").string());
    CmdResult r = run("docker-compose -f " + cpu + " config -q");
    EXPECT_EQ(r.code, 0) << r.output;
    r = run("docker-compose -f " + cpu + " -f " + gpu + " config");
    ASSERT_EQ(r.code, 0) << r.output;
    // The override really adds the GPU reservation of the guide.
    EXPECT_NE(r.output.find("driver: nvidia"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("- gpu"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("memory: 8G"), std::string::npos) << "memory limit lost:\n" << r.output;
}

TEST(Compose, EveryVariableIsOneTheServerReads) {
    const std::set<std::string> names = compose_env_names(kSource / "docker-compose.yml");
    ASSERT_TRUE(names.count("SAM_CHOICE") && names.count("MODEL_DIR") && names.count("LABEL_STUDIO_HOST"))
        << "expected the Python example's variables in docker-compose.yml";
    EXPECT_TRUE(compose_env_names(kSource / "docker-compose.gpu.yml").empty())
        << "the GPU override sets variables; check them against --help too";
    const std::string help = help_text();
    for (const std::string& name : names) EXPECT_TRUE(mentions(help, name)) << name << " is not in --help";
}

TEST(Readme, EveryTableVariableAndFlagIsInHelp) {
    const auto rows = readme_table("Variable");
    ASSERT_GE(rows.size(), 20u) << "README variable table not found or too short";
    const std::string help = help_text();
    for (const auto& row : rows) {
        ASSERT_GE(row.size(), 2u);
        EXPECT_TRUE(std::regex_match(row[0], std::regex("[A-Z][A-Z0-9_]*"))) << "not a variable name: " << row[0];
        EXPECT_TRUE(mentions(help, row[0])) << row[0] << " is in the README table but not in --help";
        if (row[1].empty() || row[1] == "-") continue;
        EXPECT_EQ(row[1].rfind("--", 0), 0u) << "flag column of " << row[0] << ": " << row[1];
        EXPECT_TRUE(mentions(help, row[1])) << row[1] << " is in the README table but not in --help";
    }
}

TEST(DownloadScript, OfflineFailsWithMessageAndLeavesNothing) {
    TempDir dir;
    const CmdResult r = download(dir, "mobile_sam");
    EXPECT_EQ(r.code, 1) << r.output;
    EXPECT_NE(r.output.find("cannot download http://127.0.0.1:"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("/mobile_sam.pt"), std::string::npos) << r.output;
    EXPECT_TRUE(dir.entries().empty()) << "left behind: " << dir.entries().front();
}

TEST(DownloadScript, UnknownModelIsRefusedBeforeAnyDownload) {
    TempDir dir;
    const CmdResult r = download(dir, "mobile_sam vit_x");
    EXPECT_EQ(r.code, 2) << r.output;
    EXPECT_NE(r.output.find("unknown model 'vit_x'"), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("fetching"), std::string::npos) << r.output;
    EXPECT_TRUE(dir.entries().empty());
}

TEST(DownloadScript, SkipsCompleteFilesAndRefusesWrongSizes) {
    TempDir dir;
    // A sparse file of mobile_sam.pt's published size counts as present: no download is tried
    // (the base URL is a closed port, so a try would fail).
    fs::path good = dir.path / "mobile_sam.pt";
    std::ofstream(good).close();
    fs::resize_file(good, 40728226);
    CmdResult r = download(dir, "mobile_sam");
    EXPECT_EQ(r.code, 0) << r.output;
    EXPECT_NE(r.output.find("already there"), std::string::npos) << r.output;

    // A truncated earlier copy is reported, not silently kept or overwritten.
    fs::path bad = dir.path / "sam_vit_b_01ec64.pth";
    std::ofstream(bad) << "partial";
    r = download(dir, "vit_b");
    EXPECT_EQ(r.code, 1) << r.output;
    EXPECT_NE(r.output.find("has 7 bytes, expected 375042383"), std::string::npos) << r.output;
    EXPECT_EQ(fs::file_size(bad), 7u);
    EXPECT_EQ(dir.entries().size(), 2u);
}

TEST(DownloadScript, Sam21Checkpoints) {
    TempDir dir;
    fs::path tiny = dir.path / "sam2.1_hiera_tiny.pt";  // published size: present, skipped
    std::ofstream(tiny).close();
    fs::resize_file(tiny, 156008466);
    CmdResult r = download(dir, "sam2.1_hiera_tiny");
    EXPECT_EQ(r.code, 0) << r.output;
    EXPECT_NE(r.output.find("already there"), std::string::npos) << r.output;
    r = download(dir, "sam2.1_hiera_large");
    EXPECT_EQ(r.code, 1) << r.output;
    EXPECT_NE(r.output.find("/sam2.1_hiera_large.pt (898 MB)"), std::string::npos) << r.output;
    EXPECT_EQ(dir.entries(), std::vector<std::string>{"sam2.1_hiera_tiny.pt"});
}

TEST(Templates, ExampleFilesParseToTheDocumentedNames) {
    const std::map<std::string, std::vector<std::string>> labels = {
        {"advanced_sam.xml", {"Foreground", "Background"}},
        {"onnx_sam.xml", {"Banana", "Orange"}},
    };
    size_t seen = 0;
    for (const auto& e : fs::directory_iterator(kSource / "examples")) {
        if (e.path().extension() != ".xml") continue;
        const std::string name = e.path().filename().string();
        ASSERT_TRUE(labels.count(name)) << "new template " << name << ": add its expected names here";
        const sam::ls::BrushTarget t = sam::ls::parse_label_config(read_text(e.path()));
        EXPECT_EQ(t.from_name, "tag") << name;
        EXPECT_EQ(t.to_name, "image") << name;
        EXPECT_EQ(t.data_key, "image") << name;
        EXPECT_EQ(t.labels, labels.at(name)) << name;
        ++seen;
    }
    EXPECT_EQ(seen, labels.size());
}

TEST(Templates, ReadmeTemplatesAreTheExampleFilesWithTheNamesItStates) {
    const std::string readme = read_text(kSource / "README.md");
    // Every ```xml block of the README is one of the example files, verbatim.
    std::set<std::string> files;
    const std::string open = "```xml\n";
    for (size_t at = readme.find(open); at != std::string::npos; at = readme.find(open, at)) {
        at += open.size();
        const size_t end = readme.find("```", at);
        ASSERT_NE(end, std::string::npos) << "unclosed ```xml block";
        const std::string block = readme.substr(at, end - at);
        bool matched = false;
        for (const auto& e : fs::directory_iterator(kSource / "examples"))
            if (e.path().extension() == ".xml" && read_text(e.path()) == block) {
                files.insert(e.path().filename().string());
                matched = true;
            }
        EXPECT_TRUE(matched) << "README template differs from every examples/*.xml:\n" << block;
        sam::ls::parse_label_config(block);  // throws RequestError when unusable
    }
    EXPECT_EQ(files, (std::set<std::string>{"advanced_sam.xml", "onnx_sam.xml"}));

    // The README's template table states the names each template gives.
    const auto rows = readme_table("Template");
    ASSERT_EQ(rows.size(), 2u) << "README template table not found";
    for (const auto& row : rows) {
        ASSERT_GE(row.size(), 5u);
        const sam::ls::BrushTarget t = sam::ls::parse_label_config(read_text(kSource / row[0]));
        EXPECT_EQ(t.from_name, row[1]) << row[0];
        EXPECT_EQ(t.to_name, row[2]) << row[0];
        EXPECT_EQ(t.data_key, row[3]) << row[0];
        EXPECT_EQ(t.labels, split_list(row[4])) << row[0];
    }
}

TEST(Templates, BrokenTemplateGivesTheSpecifiedError) {
    // The README's troubleshooting promises these messages for a config without a brush.
    try {
        sam::ls::parse_label_config("<View><Image name=\"image\" value=\"$image\"/></View>");
        FAIL() << "a config without BrushLabels was accepted";
    } catch (const sam::ls::RequestError& e) {
        EXPECT_EQ(e.status(), 422);
        EXPECT_NE(std::string(e.what()).find("no BrushLabels"), std::string::npos) << e.what();
    }
}
