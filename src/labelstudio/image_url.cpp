#include "labelstudio/image_url.hpp"

#include <cctype>
#include <filesystem>
#include <stdexcept>
#include <string_view>
#include <vector>

#include "labelstudio/base64.hpp"
#include "labelstudio/errors.hpp"

namespace sam::ls {

namespace {

bool starts_with_ci(std::string_view s, std::string_view prefix) {
    if (s.size() < prefix.size()) return false;
    for (size_t i = 0; i < prefix.size(); i++)
        if (std::tolower(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
    return true;
}

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// %XX decoding only ('+' stays '+', as the Label Studio SDK's unquote does).
std::string percent_decode(std::string_view s, const std::string& url) {
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size(); i++) {
        if (s[i] != '%') {
            out += s[i];
            continue;
        }
        if (i + 2 >= s.size()) throw RequestError(400, "image URL '" + url + "': truncated percent escape");
        const int hi = hex_digit(s[i + 1]), l = hex_digit(s[i + 2]);
        if (hi < 0 || l < 0)
            throw RequestError(400, "image URL '" + url + "': bad percent escape '" + std::string(s.substr(i, 3)) + "'");
        out += static_cast<char>(hi * 16 + l);
        i += 2;
    }
    return out;
}

// The raw value of `key` in a query string (first occurrence); false when absent.
bool query_param(std::string_view query, std::string_view key, std::string_view& value) {
    while (!query.empty()) {
        const size_t amp = query.find('&');
        const std::string_view pair = query.substr(0, amp);
        const size_t eq = pair.find('=');
        if (pair.substr(0, eq) == key) {
            value = eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
            return true;
        }
        if (amp == std::string_view::npos) break;
        query.remove_prefix(amp + 1);
    }
    return false;
}

void reject_bad_chars(const std::string& url) {
    for (unsigned char c : url)
        if (c <= 0x20 || c == 0x7f)
            throw RequestError(400, "image URL '" + url + "' contains a space or control character");
}

// A URL that goes to Label Studio with the token may not walk to another of its paths: libcurl
// removes "/../" before sending and Django decodes "%2e%2e", so both spellings are refused.
void reject_dot_segments(const std::string& url) {
    const std::string decoded = percent_decode(url, url);
    size_t start = 0;
    while (start <= decoded.size()) {
        size_t end = decoded.find_first_of("/\\?&=#", start);
        if (end == std::string::npos) end = decoded.size();
        if (decoded.compare(start, end - start, "..") == 0)
            throw RequestError(400, "image URL '" + url + "': '..' segments are not allowed in Label Studio file URLs");
        start = end + 1;
    }
}

std::string require_label_studio(const UrlContext& ctx, const std::string& url) {
    std::string base = ctx.label_studio_url;
    while (!base.empty() && base.back() == '/') base.pop_back();
    if (base.empty())
        throw RequestError(400, "image URL '" + url +
                                    "' is served by Label Studio, but no Label Studio URL is configured: set "
                                    "LABEL_STUDIO_URL (or LABEL_STUDIO_HOST), or send hostname in /setup");
    return base;
}

// <root>/<relative path>, lexically, refusing anything that leaves the root.
std::string local_file_path(const std::string& root, const std::string& relative, const std::string& url) {
    if (relative.empty()) throw RequestError(400, "image URL '" + url + "': empty d parameter");
    if (relative.find('\0') != std::string::npos) throw RequestError(400, "image URL '" + url + "': NUL byte in path");
    if (relative[0] == '/')
        throw RequestError(403, "image URL '" + url + "': absolute path '" + relative +
                                    "' is not allowed, paths are relative to LOCAL_FILES_DOCUMENT_ROOT");
    std::vector<std::string> parts;
    size_t start = 0;
    while (start <= relative.size()) {
        size_t slash = relative.find('/', start);
        if (slash == std::string::npos) slash = relative.size();
        const std::string part = relative.substr(start, slash - start);
        if (part == "..") {
            if (parts.empty())
                throw RequestError(403, "image URL '" + url + "': path '" + relative +
                                            "' leaves LOCAL_FILES_DOCUMENT_ROOT");
            parts.pop_back();
        } else if (!part.empty() && part != ".") {
            parts.push_back(part);
        }
        start = slash + 1;
    }
    if (parts.empty()) throw RequestError(400, "image URL '" + url + "': path '" + relative + "' names no file");

    std::string out = std::filesystem::absolute(std::filesystem::path(root)).lexically_normal().string();
    while (out.size() > 1 && out.back() == '/') out.pop_back();
    for (const std::string& p : parts) {
        if (out.back() != '/') out += '/';
        out += p;
    }
    return out;
}

struct Origin {
    std::string scheme, host;
    int port = 0;
};

// scheme://[user@]host[:port][/...]; throws RequestError(400) for anything else.
Origin parse_origin(const std::string& url) {
    Origin o;
    const size_t sep = url.find("://");
    if (sep == std::string::npos) throw RequestError(400, "URL '" + url + "' has no scheme");
    for (size_t i = 0; i < sep; i++) o.scheme += static_cast<char>(std::tolower(static_cast<unsigned char>(url[i])));
    if (o.scheme != "http" && o.scheme != "https") throw RequestError(400, "URL '" + url + "': scheme must be http or https");
    const size_t start = sep + 3;
    const size_t end = url.find_first_of("/?#", start);
    std::string authority = url.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (const size_t at = authority.rfind('@'); at != std::string::npos) authority.erase(0, at + 1);
    std::string port;
    const size_t bracket = authority.rfind(']');  // IPv6 literal: [::1]:8080
    const size_t colon = authority.rfind(':');
    if (colon != std::string::npos && (bracket == std::string::npos || colon > bracket)) {
        port = authority.substr(colon + 1);
        authority.erase(colon);
    }
    if (authority.empty()) throw RequestError(400, "URL '" + url + "' has no host");
    for (char& c : authority) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    o.host = authority;
    if (port.empty()) {
        o.port = o.scheme == "https" ? 443 : 80;
    } else {
        if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos)
            throw RequestError(400, "URL '" + url + "' has a bad port '" + port + "'");
        o.port = std::stoi(port);
        if (o.port < 1 || o.port > 65535) throw RequestError(400, "URL '" + url + "' has a bad port '" + port + "'");
    }
    return o;
}

bool same_origin(const std::string& url, const std::string& label_studio_url) {
    if (label_studio_url.empty()) return false;
    const Origin a = parse_origin(url);
    Origin b;
    try {
        b = parse_origin(label_studio_url);
    } catch (const RequestError&) {
        return false;  // a misconfigured Label Studio URL never matches: no token leaks
    }
    return a.scheme == b.scheme && a.host == b.host && a.port == b.port;
}

}  // namespace

ImageSource resolve_image_url(const std::string& url, const UrlContext& ctx) {
    if (url.empty()) throw RequestError(400, "image URL is empty");
    // A cloud storage key may hold any character (spaces, '?', '#', '%', any Unicode): it goes to
    // Label Studio base64url-encoded, byte for byte, so nothing in it is refused.
    if (!url.starts_with("s3://") && !url.starts_with("gs://") && !url.starts_with("azure-blob://"))
        reject_bad_chars(url);

    if (url[0] == '/') {
        const size_t q = url.find('?');
        const std::string_view path = std::string_view(url).substr(0, q);
        const std::string_view query = q == std::string::npos ? std::string_view() : std::string_view(url).substr(q + 1);
        std::string_view value;
        if (path == "/data/local-files/" || path == "/data/local-files") {
            if (!query_param(query, "d", value) || value.empty())
                throw RequestError(400, "image URL '" + url + "': local files URL without a d= parameter");
            if (!ctx.document_root.empty())
                return {ImageSource::Kind::LocalFile,
                        local_file_path(ctx.document_root, percent_decode(value, url), url), false};
            reject_dot_segments(url);
            return {ImageSource::Kind::LabelStudio, require_label_studio(ctx, url) + url, true};
        }
        if (path.starts_with("/data/upload/") && path.size() > 13) {
            reject_dot_segments(url);
            return {ImageSource::Kind::LabelStudio, require_label_studio(ctx, url) + url, true};
        }
        if (path == "/storage-data/uploaded/" || path == "/storage-data/uploaded") {
            if (!query_param(query, "filepath", value) || value.empty())
                throw RequestError(400, "image URL '" + url + "': storage URL without a filepath= parameter");
            reject_dot_segments(url);
            return {ImageSource::Kind::LabelStudio, require_label_studio(ctx, url) + url, true};
        }
        throw RequestError(400, "image URL '" + url +
                                    "' is not a Label Studio file URL (/data/local-files/?d=, /data/upload/, "
                                    "/storage-data/uploaded/?filepath=)");
    }

    for (const char* scheme : {"s3://", "gs://", "azure-blob://"}) {
        if (!url.starts_with(scheme)) continue;
        if (url.size() == std::string_view(scheme).size())
            throw RequestError(400, "image URL '" + url + "' names no bucket or object");
        const std::string base = require_label_studio(ctx, url);
        if (ctx.task_id <= 0) throw RequestError(400, "image URL '" + url + "' needs a task id to presign");
        return {ImageSource::Kind::Presign,
                base + "/tasks/" + std::to_string(ctx.task_id) + "/presign/?fileuri=" + base64url_encode(url), true};
    }

    if (starts_with_ci(url, "http://") || starts_with_ci(url, "https://")) {
        const bool token = same_origin(url, ctx.label_studio_url);  // also validates the URL
        return {ImageSource::Kind::Url, url, token};
    }
    throw RequestError(400, "image URL '" + url +
                                "' is not supported: expected /data/local-files/?d=, /data/upload/, "
                                "/storage-data/uploaded/, s3://, gs://, azure-blob:// or http(s)://");
}

bool is_same_origin(const std::string& url, const std::string& other) {
    try {
        return same_origin(url, other);
    } catch (const RequestError&) {
        return false;
    }
}

}  // namespace sam::ls
