// Shipping files: compose files, download script, labeling templates and the README agree
// with each other and with what the binary and the label-config parser actually accept; the
// scripts a new user runs (install-deps, run, test, CI) behave as the README says, run here
// with stand-ins for apt, sudo, cmake, ctest and the server binary.
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

// Where a real tool is, for a PATH of stand-ins and nothing else.
std::string tool_path(const std::string& tool) {
    const std::string out = run("command -v " + tool).output;
    return out.substr(0, out.find('\n'));
}

// A folder of stand-in commands: each records its arguments, one line per call, in <name>.calls.
struct Stubs {
    TempDir dir;
    void add(const std::string& name, const std::string& body = "") {
        const fs::path file = dir.path / name;
        std::ofstream(file) << "#!/bin/bash\necho \"$*\" >> " << quote((dir.path / (name + ".calls")).string())
                            << "\n" << body << "\n";
        fs::permissions(file, fs::perms::owner_all | fs::perms::group_read | fs::perms::others_read);
    }
    void link(const std::string& tool) { fs::create_symlink(tool_path(tool), dir.path / tool); }
    std::string calls(const std::string& name) const {
        const fs::path f = dir.path / (name + ".calls");
        return fs::exists(f) ? read_text(f) : "";
    }
    std::string path() const { return dir.path.string(); }
};

// install-deps.sh with nothing on PATH but the stand-ins.
CmdResult install_deps(const Stubs& s, const std::string& args = "") {
    return run("env -i PATH=" + quote(s.path()) + " " + quote(tool_path("bash")) + " " +
               quote((kSource / "scripts/install-deps.sh").string()) + " " + args);
}

// dpkg-query answering "installed" for every package but `missing`.
void add_dpkg_query(Stubs& s, const std::string& missing) {
    s.add("dpkg-query", "for p; do :; done; [ \"$p\" = " + quote(missing) + " ] && exit 1; echo 'install ok installed'");
}

// What install-deps.sh needs, for user id `uid`: dpkg-query, id, apt-get (recording), grep, env.
void add_apt(Stubs& s, const std::string& missing, const std::string& uid) {
    add_dpkg_query(s, missing);
    s.add("id", "echo " + uid);
    s.add("apt-get");
    s.link("grep");
    s.link("env");
}

}  // namespace

TEST(InstallDeps, AsAUserWithoutSudoItNamesWhatToRunAsRoot) {
    Stubs s;
    add_apt(s, "libdnnl-dev", "1000");
    const CmdResult r = install_deps(s);
    EXPECT_EQ(r.code, 1) << r.output;
    EXPECT_NE(r.output.find("missing packages: libdnnl-dev"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("sudo is not installed"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("su -c 'apt-get update && apt-get install -y --no-install-recommends libdnnl-dev'"),
              std::string::npos) << r.output;
    EXPECT_EQ(s.calls("apt-get"), "");
}

TEST(InstallDeps, AsAUserWithSudoItInstallsOnlyWhatIsMissing) {
    Stubs s;
    add_apt(s, "libdnnl-dev", "1000");
    s.add("sudo", "exec \"$@\"");
    const CmdResult r = install_deps(s);
    EXPECT_EQ(r.code, 0) << r.output;
    EXPECT_EQ(s.calls("sudo"), "apt-get update -qq\nenv DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
                               "--no-install-recommends libdnnl-dev\n");
    // Nothing missing: no root, no network.
    Stubs none;
    add_apt(none, "", "1000");
    const CmdResult r2 = install_deps(none);
    EXPECT_EQ(r2.code, 0) << r2.output;
    EXPECT_NE(r2.output.find("all packages present"), std::string::npos) << r2.output;
    EXPECT_EQ(none.calls("apt-get"), "");
}

// scripts/run.sh with stand-ins for cmake and the server (BUILD_DIR holds a fake binary that
// records how it was started): it builds in its own folder and fetches the default checkpoint
// only when the server would need it.
struct RunScript {
    Stubs s;
    TempDir models;
    fs::path build;
    RunScript() {
        add_dpkg_query(s, "");
        s.add("cmake");
        build = s.dir.path / "build";
        fs::create_directories(build);
        std::ofstream(build / "sam-ml-backend") << "#!/bin/bash\necho \"MODEL_DIR=$MODEL_DIR $*\" >> "
                                                << quote((s.dir.path / "server.calls").string()) << "\n";
        fs::permissions(build / "sam-ml-backend", fs::perms::owner_all);
    }
    CmdResult operator()(const std::string& args) {
        const std::string env = "env -u SAM_CHOICE -u MOBILESAM_CHECKPOINT -u http_proxy -u HTTP_PROXY NO_PROXY='*' "
                                "no_proxy='*' PATH=" + quote(s.path()) + ":$PATH BUILD_DIR=" + quote(build.string()) +
                                " MODEL_DIR=" + quote(models.path.string()) +
                                " DOWNLOAD_BASE_URL=http://127.0.0.1:" + std::to_string(closed_port());
        return run(env + " bash " + quote((kSource / "scripts/run.sh").string()) + " " + args);
    }
};

TEST(RunScript, HelpNeedsNoCheckpoint) {
    RunScript run_sh;
    const CmdResult r = run_sh("--help");
    EXPECT_EQ(r.code, 0) << r.output;
    EXPECT_EQ(r.output.find("download"), std::string::npos) << r.output;
    EXPECT_EQ(run_sh.s.calls("server"), "MODEL_DIR=" + run_sh.models.path.string() + " serve --help\n");
    EXPECT_NE(run_sh.s.calls("cmake").find("-B " + run_sh.build.string() + " -G Ninja -DCMAKE_BUILD_TYPE=Release "
                                           "-DSAM_BUILD_TESTS=OFF"),
              std::string::npos) << run_sh.s.calls("cmake");
}

TEST(RunScript, MissingCheckpointOfflineStopsWithAMessage) {
    RunScript run_sh;
    const CmdResult r = run_sh("--port 9091");
    EXPECT_EQ(r.code, 1) << r.output;
    EXPECT_NE(r.output.find("downloading MobileSAM"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("could not download the MobileSAM checkpoint"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("Put mobile_sam.pt in " + run_sh.models.path.string()), std::string::npos) << r.output;
    EXPECT_EQ(run_sh.s.calls("server"), "");
    EXPECT_TRUE(run_sh.models.entries().empty());
}

TEST(RunScript, PresentCheckpointIsServedWithTheArguments) {
    RunScript run_sh;
    const fs::path ckpt = run_sh.models.path / "mobile_sam.pt";
    std::ofstream(ckpt).close();
    const CmdResult r = run_sh("--port 9091");
    EXPECT_EQ(r.code, 0) << r.output;
    EXPECT_EQ(run_sh.s.calls("server"), "MODEL_DIR=" + run_sh.models.path.string() + " serve --port 9091\n");
}

// scripts/test.sh in a copy of the scripts folder, with stand-ins for cmake and ctest.
TEST(TestScript, BuildsApartFromRunShAndNeedsTests) {
    Stubs s;
    add_dpkg_query(s, "");
    s.add("cmake", "while [ $# -gt 0 ]; do [ \"$1\" = -B ] && mkdir -p \"$2\"; shift; done");
    s.add("ctest");
    TempDir repo;
    fs::copy(kSource / "scripts", repo.path / "scripts");
    const CmdResult r = run("env -u BUILD_DIR PATH=" + quote(s.path()) + ":$PATH bash " +
                            quote((repo.path / "scripts/test.sh").string()) + " -R Foo");
    EXPECT_EQ(r.code, 0) << r.output;
    const std::string cmake = s.calls("cmake");
    EXPECT_NE(cmake.find("-B build-test -G Ninja -DCMAKE_BUILD_TYPE=Release -DSAM_BUILD_TESTS=ON"), std::string::npos)
        << cmake;
    EXPECT_NE(s.calls("ctest").find("--no-tests=error"), std::string::npos) << s.calls("ctest");
    EXPECT_NE(s.calls("ctest").find("-R Foo"), std::string::npos) << s.calls("ctest");
}

// .ci/run fails when the README's test command ran no test, even if it exited 0, and when the
// fuzzers (scripts/fuzz.sh, run after the tests) find something.
TEST(CiScript, FailsWhenNoTestRan) {
    struct Case {
        const char* output;
        int fuzz_code, code;
    };
    for (const Case& c : {Case{"No tests were found!!!", 0, 1}, Case{"100% tests passed, 0 tests failed out of 0", 0, 1},
                          Case{"100% tests passed, 0 tests failed out of 170", 0, 0},
                          Case{"100% tests passed, 0 tests failed out of 170", 1, 1}}) {
        TempDir repo;
        fs::create_directories(repo.path / ".ci");
        fs::create_directories(repo.path / "scripts");
        fs::copy_file(kSource / ".ci/run", repo.path / ".ci/run");
        std::ofstream(repo.path / "scripts/test.sh") << "echo " << quote(c.output) << "\n";
        std::ofstream(repo.path / "scripts/fuzz.sh") << "exit " << c.fuzz_code << "\n";
        const CmdResult r = run("bash " + quote((repo.path / ".ci/run").string()));
        EXPECT_EQ(r.code, c.code) << c.output << ", fuzz exit " << c.fuzz_code << "\n" << r.output;
    }
}

TEST(Dockerfile, BuildStageInstallsTheBuildPackagesOfInstallDeps) {
    const std::string dockerfile = read_text(kSource / "Dockerfile");
    EXPECT_NE(dockerfile.find("RUN bash /tmp/install-deps.sh --build-only"), std::string::npos);
    EXPECT_NE(dockerfile.find("ARG DOWNLOAD_BASE_URL"), std::string::npos);
    // --build-only keeps every library needed to build and drops only tools of the tests.
    Stubs s;
    add_apt(s, "libdnnl-dev", "0");
    const CmdResult r = install_deps(s, "--build-only");
    EXPECT_EQ(r.code, 0) << r.output;
    EXPECT_NE(s.calls("apt-get").find("libdnnl-dev"), std::string::npos) << s.calls("apt-get");
    Stubs all;
    add_apt(all, "libgtest-dev", "0");
    const CmdResult r2 = install_deps(all, "--build-only");
    EXPECT_EQ(r2.code, 0) << r2.output;
    EXPECT_EQ(all.calls("apt-get"), "") << "a test library in the Docker build stage";
}

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

// The scaled setup: Redis, replicas that use it, and a load balancer that alone takes port 9090
// (the replicas' own port goes to Docker's choice with SAM_ML_BACKEND_PORTS=9090).
TEST(Compose, ScaleOverrideGivesRedisReplicasAndOneBalancer) {
    if (!has_docker_compose()) GTEST_SKIP() << "docker-compose is not installed (scripts/install-deps.sh installs it)";
    const std::string files = "-f " + quote((kSource / "docker-compose.yml").string()) + " -f " +
                              quote((kSource / "docker-compose.scale.yml").string());
    const CmdResult r = run("SAM_ML_BACKEND_PORTS=9090 docker-compose " + files + " config");
    ASSERT_EQ(r.code, 0) << r.output;
    EXPECT_NE(r.output.find("EMBEDDING_STORE: redis://redis:6379"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("\n  redis:\n"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("\n  load-balancer:\n"), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("container_name"), std::string::npos) << "container_name keeps --scale from working";
    size_t published = 0;
    for (size_t at = r.output.find("published: 9090"); at != std::string::npos; at = r.output.find("published: 9090", at + 1))
        published++;
    EXPECT_EQ(published, 1u) << r.output;
    const std::string single = run("docker-compose -f " + quote((kSource / "docker-compose.yml").string()) + " config").output;
    EXPECT_NE(single.find("published: 9090"), std::string::npos) << "alone, the backend keeps port 9090:\n" << single;
}

TEST(Deploy, KubernetesManifestUsesTheServersVariablesAndItsRedisService) {
    const std::string manifest = read_text(kSource / "deploy/kubernetes.yaml");
    const std::regex env_name(R"(name:\s*([A-Z][A-Z0-9_]*)\s*,)");
    const std::string help = help_text();
    int names = 0;
    for (std::sregex_iterator it(manifest.begin(), manifest.end(), env_name), end; it != end; ++it, ++names)
        if ((*it)[1] != "REDIS_MAXMEMORY") EXPECT_TRUE(mentions(help, (*it)[1])) << (*it)[1] << " is not in --help";
    EXPECT_GE(names, 3);
    std::smatch store;
    ASSERT_TRUE(std::regex_search(manifest, store, std::regex(R"(EMBEDDING_STORE, value: "redis://([a-z-]+):6379")")));
    EXPECT_NE(manifest.find("kind: Service\nmetadata:\n  name: " + store[1].str() + "\n"), std::string::npos)
        << "EMBEDDING_STORE names no Service of the manifest: " << store[1];
    EXPECT_NE(manifest.find("replicas: 3"), std::string::npos);
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

// And the other way: every variable of --help's environment list and every flag of its options
// has its row (a variable added to the server without documentation fails here).
TEST(Readme, EveryHelpVariableAndFlagIsInTheTable) {
    std::set<std::string> variables, flags;
    for (const auto& row : readme_table("Variable")) {
        variables.insert(row.at(0));
        flags.insert(row.at(1));
    }
    const std::string help = help_text();
    const size_t env_at = help.find("\nEnvironment");
    ASSERT_NE(env_at, std::string::npos) << help;
    std::istringstream env(help.substr(env_at));
    std::string line;
    int listed = 0;
    std::smatch m;
    while (std::getline(env, line))
        if (std::regex_search(line, m, std::regex(R"(^  ([A-Z][A-Z0-9_]*)\s)"))) {
            listed++;
            EXPECT_TRUE(variables.count(m[1])) << m[1] << " is in --help but not in the README table";
        }
    EXPECT_GE(listed, 20);
    const std::string options = help.substr(0, env_at);
    int options_listed = 0;
    const std::regex flag(R"(--[a-z0-9-]+)");
    for (std::sregex_iterator it(options.begin(), options.end(), flag), end; it != end; ++it) {
        if ((*it)[0] == "--help") continue;
        options_listed++;
        EXPECT_TRUE(flags.count((*it)[0])) << (*it)[0] << " is in --help but not in the README table";
    }
    EXPECT_GE(options_listed, 20);
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
    struct Expected {
        sam::ls::OutputKind kind;
        std::string from_name;
        std::vector<std::string> labels;
    };
    const std::vector<std::string> car_person = {"Car", "Person"};
    const std::map<std::string, Expected> expected = {
        {"advanced_sam.xml", {sam::ls::OutputKind::Brush, "tag", {"Foreground", "Background"}}},
        {"onnx_sam.xml", {sam::ls::OutputKind::Brush, "tag", {"Banana", "Orange"}}},
        {"bitmask_sam.xml", {sam::ls::OutputKind::Bitmask, "mask", car_person}},
        {"polygon_sam.xml", {sam::ls::OutputKind::Polygon, "polygon", car_person}},
        {"rectangle_sam.xml", {sam::ls::OutputKind::Rectangle, "box", car_person}},
    };
    size_t seen = 0;
    for (const auto& e : fs::directory_iterator(kSource / "examples")) {
        if (e.path().extension() != ".xml") continue;
        const std::string name = e.path().filename().string();
        ASSERT_TRUE(expected.count(name)) << "new template " << name << ": add its expected names here";
        const sam::ls::LabelConfig config = sam::ls::parse_label_config(read_text(e.path()));
        const sam::ls::OutputTarget& t = config.output_for("image");
        EXPECT_EQ(t.kind, expected.at(name).kind) << name;
        EXPECT_EQ(t.from_name, expected.at(name).from_name) << name;
        EXPECT_EQ(t.to_name, "image") << name;
        EXPECT_EQ(t.data_key, "image") << name;
        EXPECT_EQ(t.labels, expected.at(name).labels) << name;
        ++seen;
    }
    EXPECT_EQ(seen, expected.size());
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
        sam::ls::parse_label_config(block).output_for("");  // throws RequestError when unusable
    }
    EXPECT_EQ(files, (std::set<std::string>{"advanced_sam.xml", "onnx_sam.xml", "bitmask_sam.xml", "polygon_sam.xml",
                                            "rectangle_sam.xml"}));

    // The README's template table states the output tag and the names each template gives.
    const auto rows = readme_table("Template");
    ASSERT_EQ(rows.size(), 5u) << "README template table not found";
    for (const auto& row : rows) {
        ASSERT_GE(row.size(), 6u);
        const sam::ls::LabelConfig config = sam::ls::parse_label_config(read_text(kSource / row[0]));
        const sam::ls::OutputTarget& t = config.output_for("");
        EXPECT_EQ(sam::ls::tag_name(t.kind), row[5]) << row[0];
        EXPECT_EQ(t.from_name, row[1]) << row[0];
        EXPECT_EQ(t.to_name, row[2]) << row[0];
        EXPECT_EQ(t.data_key, row[3]) << row[0];
        EXPECT_EQ(t.labels, split_list(row[4])) << row[0];
    }
}

TEST(Templates, BrokenTemplateGivesTheSpecifiedError) {
    // The README's troubleshooting promises this message for a config without an output tag.
    try {
        sam::ls::parse_label_config("<View><Image name=\"image\" value=\"$image\"/></View>").output_for("image");
        FAIL() << "a config without an output tag was accepted";
    } catch (const sam::ls::RequestError& e) {
        EXPECT_EQ(e.status(), 422);
        EXPECT_NE(std::string(e.what()).find("label config has no output tag"), std::string::npos) << e.what();
        EXPECT_NE(read_text(kSource / "README.md").find("label config has no output tag"), std::string::npos);
    }
}
