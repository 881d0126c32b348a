// Image URL resolution: every kind, the presign encoding (any key), hostile local paths, the token rule.
#include <gtest/gtest.h>

#include "labelstudio/errors.hpp"
#include "labelstudio/base64.hpp"
#include "labelstudio/image_url.hpp"

namespace {

using sam::ls::ImageSource;
using sam::ls::RequestError;
using sam::ls::resolve_image_url;
using sam::ls::UrlContext;
using Kind = ImageSource::Kind;

const UrlContext kFull{"/srv/ls", "http://ls.example:8080", 42};
const UrlContext kNoRoot{"", "http://ls.example:8080", 42};
const UrlContext kNothing{"", "", 42};

void expect_source(const std::string& url, const UrlContext& ctx, Kind kind, const std::string& location, bool token) {
    SCOPED_TRACE(url);
    const ImageSource s = resolve_image_url(url, ctx);
    EXPECT_EQ(int(s.kind), int(kind));
    EXPECT_EQ(s.location, location);
    EXPECT_EQ(s.send_token, token);
}

void expect_error(const std::string& url, const UrlContext& ctx, int status, const std::string& fragment = "") {
    try {
        const ImageSource s = resolve_image_url(url, ctx);
        ADD_FAILURE() << "no error for " << url << " -> " << s.location;
    } catch (const RequestError& e) {
        EXPECT_EQ(e.status(), status) << url << ": " << e.what();
        EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
}

TEST(LabelStudioUrl, LocalFilesUnderDocumentRoot) {
    expect_source("/data/local-files/?d=images/photo.jpg", kFull, Kind::LocalFile, "/srv/ls/images/photo.jpg", false);
    expect_source("/data/local-files?d=images/photo.jpg", kFull, Kind::LocalFile, "/srv/ls/images/photo.jpg", false);
    expect_source("/data/local-files/?d=images%2Fmy%20photo+1.jpg", kFull, Kind::LocalFile,
                  "/srv/ls/images/my photo+1.jpg", false);
    expect_source("/data/local-files/?x=1&d=a/./b/../c.jpg&y=2", kFull, Kind::LocalFile, "/srv/ls/a/c.jpg", false);
    expect_source("/data/local-files/?d=a//b.jpg", {"/srv/ls/", "", 0}, Kind::LocalFile, "/srv/ls/a/b.jpg", false);
    expect_source("/data/local-files/?d=x.png", {"/", "", 0}, Kind::LocalFile, "/x.png", false);
}

TEST(LabelStudioUrl, HostilePathsAreRefused) {
    for (const char* d : {"../../etc/passwd", "..", "images/../../etc/passwd", "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
                          "..%2F..%2Fetc%2Fpasswd", "images/%2e%2e/%2e%2e/etc/passwd", "/etc/passwd", "%2fetc%2fpasswd",
                          "/srv/ls/images/photo.jpg"})
        expect_error(std::string("/data/local-files/?d=") + d, kFull, 403, "LOCAL_FILES_DOCUMENT_ROOT");
    expect_error("/data/local-files/?d=images/a%00.jpg", kFull, 400, "NUL");
    expect_error("/data/local-files/?d=%zz", kFull, 400, "bad percent escape");
    expect_error("/data/local-files/?d=abc%2", kFull, 400, "truncated percent escape");
    expect_error("/data/local-files/?d=", kFull, 400, "d=");
    expect_error("/data/local-files/?e=x.jpg", kFull, 400, "d=");
    expect_error("/data/local-files/?d=a/..", kFull, 400, "names no file");
}

TEST(LabelStudioUrl, LocalFilesWithoutRootGoToLabelStudio) {
    expect_source("/data/local-files/?d=images/photo.jpg", kNoRoot, Kind::LabelStudio,
                  "http://ls.example:8080/data/local-files/?d=images/photo.jpg", true);
    expect_error("/data/local-files/?d=images/photo.jpg", kNothing, 400, "LABEL_STUDIO_URL");
}

TEST(LabelStudioUrl, UploadsAndStorageData) {
    expect_source("/data/upload/3/5d1e0a2b-photo.jpg", kFull, Kind::LabelStudio,
                  "http://ls.example:8080/data/upload/3/5d1e0a2b-photo.jpg", true);
    expect_source("/data/upload/3/x.jpg", {"", "https://ls.example/", 1}, Kind::LabelStudio,
                  "https://ls.example/data/upload/3/x.jpg", true);
    expect_source("/storage-data/uploaded/?filepath=upload/3/x.jpg", kFull, Kind::LabelStudio,
                  "http://ls.example:8080/storage-data/uploaded/?filepath=upload/3/x.jpg", true);
    expect_error("/data/upload/3/x.jpg", kNothing, 400, "LABEL_STUDIO_URL");
    expect_error("/storage-data/uploaded/?filepath=a", kNothing, 400, "LABEL_STUDIO_URL");
    expect_error("/storage-data/uploaded/", kFull, 400, "filepath=");
    expect_error("/data/upload/", kFull, 400);
}

TEST(LabelStudioUrl, DotSegmentsNeverGoToLabelStudio) {
    // The token would walk to another Label Studio path: libcurl resolves "/../", Django "%2e%2e".
    for (const char* url : {"/data/upload/../api/projects", "/data/upload/3/%2e%2E/%2E%2e/api", "/data/upload/..%2Fapi",
                            "/data/upload/3/..\\api", "/data/upload/3/..", "/storage-data/uploaded/?filepath=../x",
                            "/storage-data/uploaded/?filepath=a%2F%2e%2e%2Fb", "/data/local-files/?d=%2e%2e/x"})
        expect_error(url, kNoRoot, 400, "'..' segments");
    // Dots inside a name are a name.
    expect_source("/data/upload/3/a..b.png", kNoRoot, Kind::LabelStudio, "http://ls.example:8080/data/upload/3/a..b.png", true);
    expect_source("/data/upload/3/.../x.png", kNoRoot, Kind::LabelStudio, "http://ls.example:8080/data/upload/3/.../x.png",
                  true);
}

TEST(LabelStudioUrl, CloudStorageIsPresignedThroughLabelStudio) {
    // expected fileuri values: Python's base64.urlsafe_b64encode of the URI ('=' padded)
    expect_source("s3://bucket/img.jpg", kFull, Kind::Presign,
                  "http://ls.example:8080/tasks/42/presign/?fileuri=czM6Ly9idWNrZXQvaW1nLmpwZw==", true);
    expect_source("gs://b/a?b>c", kFull, Kind::Presign,
                  "http://ls.example:8080/tasks/42/presign/?fileuri=Z3M6Ly9iL2E_Yj5j", true);
    expect_source("azure-blob://c/d/\xff\xfe>?.png", kFull, Kind::Presign,
                  "http://ls.example:8080/tasks/42/presign/?fileuri=YXp1cmUtYmxvYjovL2MvZC___j4_LnBuZw==", true);
    expect_source("s3://b/x", kFull, Kind::Presign, "http://ls.example:8080/tasks/42/presign/?fileuri=czM6Ly9iL3g=",
                  true);
    expect_error("s3://bucket/img.jpg", kNothing, 400, "LABEL_STUDIO_URL");
    expect_error("s3://bucket/img.jpg", {"", "http://ls", 0}, 400, "task id");
    expect_error("gs://", kFull, 400);
}

TEST(LabelStudioUrl, Base64UrlPadding) {
    EXPECT_EQ(sam::ls::base64url_encode(""), "");
    EXPECT_EQ(sam::ls::base64url_encode("f"), "Zg==");
    EXPECT_EQ(sam::ls::base64url_encode("fo"), "Zm8=");
    EXPECT_EQ(sam::ls::base64url_encode("foo"), "Zm9v");
    EXPECT_EQ(sam::ls::base64url_encode("\xfb\xff\xbf"), "-_-_");
    // Data URLs and basic auth: the standard alphabet.
    EXPECT_EQ(sam::ls::base64_encode("\xfb\xff\xbf"), "+/+/");
    EXPECT_EQ(sam::ls::base64_encode("ann:pass"), "YW5uOnBhc3M=");
    // Decoding takes base64url with or without padding (JWTs drop it), nothing else.
    EXPECT_EQ(sam::ls::base64url_decode("Zm8="), "fo");
    EXPECT_EQ(sam::ls::base64url_decode("Zm8"), "fo");
    EXPECT_EQ(sam::ls::base64url_decode("-_-_"), "\xfb\xff\xbf");
    EXPECT_EQ(sam::ls::base64url_decode("+/+/"), std::nullopt);
    EXPECT_EQ(sam::ls::base64url_decode("Zm9vY"), std::nullopt);  // a lone sixth of a byte
}

TEST(LabelStudioUrl, PlainUrlsSendTheTokenOnlyToLabelStudio) {
    expect_source("http://ls.example:8080/data/x.jpg", kFull, Kind::Url, "http://ls.example:8080/data/x.jpg", true);
    expect_source("HTTP://LS.Example:8080/x.jpg", kFull, Kind::Url, "HTTP://LS.Example:8080/x.jpg", true);
    expect_source("http://ls.example:8081/x.jpg", kFull, Kind::Url, "http://ls.example:8081/x.jpg", false);
    expect_source("https://ls.example:8080/x.jpg", kFull, Kind::Url, "https://ls.example:8080/x.jpg", false);
    expect_source("http://ls.example/x.jpg", kFull, Kind::Url, "http://ls.example/x.jpg", false);
    expect_source("http://ls.example:8080@evil.example/x.jpg", kFull, Kind::Url,
                  "http://ls.example:8080@evil.example/x.jpg", false);
    expect_source("https://images.example/a.jpg?sig=1", kFull, Kind::Url, "https://images.example/a.jpg?sig=1", false);
    expect_source("http://ls:80/x.jpg", {"", "http://ls", 0}, Kind::Url, "http://ls:80/x.jpg", true);
    expect_source("https://ls/x.jpg", {"", "https://ls:443/", 0}, Kind::Url, "https://ls/x.jpg", true);
    expect_source("http://[::1]:8080/x.jpg", {"", "http://[::1]:8080", 0}, Kind::Url, "http://[::1]:8080/x.jpg", true);
    expect_source("http://ls.example:8080/x.jpg", kNothing, Kind::Url, "http://ls.example:8080/x.jpg", false);
    expect_source("http://ls.example:8080/x.jpg", {"", "not a url", 0}, Kind::Url, "http://ls.example:8080/x.jpg", false);
}

TEST(LabelStudioUrl, MalformedUrlsAre400) {
    for (const char* url : {"", "images/photo.jpg", "ftp://host/x.jpg", "file:///etc/passwd", "http://", "http:///x.jpg",
                            "http://h:99999/x", "http://h:abc/", "http://h:0/", "http://a b/x.jpg", "http://h/x\n.jpg",
                            "/data/other/x.jpg", "/api/tasks/1", "data:image/png;base64,AAAA"})
        expect_error(url, kFull, 400);
}

// Any character a storage key can hold reaches Label Studio unchanged (Python's
// base64.urlsafe_b64encode of the UTF-8 URI, computed outside this code); nothing is refused.
TEST(LabelStudioUrl, CloudKeysWithAnyCharacterArePresigned) {
    const std::string presign = "http://ls.example:8080/tasks/42/presign/?fileuri=";
    expect_source("s3://bucket/photo 1.jpg", kFull, Kind::Presign, presign + "czM6Ly9idWNrZXQvcGhvdG8gMS5qcGc=", true);
    expect_source("gs://b/\xc3\xbc" "n\xc3\xaf c\xc3\xb8" "d\xc3\xa9/\xe3\x83\x95\xe3\x82\xa1\xe3\x82\xa4\xe3\x83\xab.png",
                  kFull, Kind::Presign, presign + "Z3M6Ly9iL8O8bsOvIGPDuGTDqS_jg5XjgqHjgqTjg6sucG5n", true);
    expect_source("s3://b/a?b#c%20d+e&f=g.jpg", kFull, Kind::Presign, presign + "czM6Ly9iL2E_YiNjJTIwZCtlJmY9Zy5qcGc=",
                  true);
    expect_source("azure-blob://c/tab\there\nline.jpg", kFull, Kind::Presign,
                  presign + "YXp1cmUtYmxvYjovL2MvdGFiCWhlcmUKbGluZS5qcGc=", true);
    expect_source("s3://b/  ", kFull, Kind::Presign, presign + "czM6Ly9iLyAg", true);
    // Other URLs still refuse spaces and control characters.
    expect_error("/data/upload/3/photo 1.jpg", kFull, 400, "space");
    expect_error("http://ls.example:8080/photo 1.jpg", kFull, 400, "space");
}

}  // namespace
