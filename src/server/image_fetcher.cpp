#include "server/image_fetcher.hpp"

#include <curl/curl.h>
#include <sys/socket.h>

#include <filesystem>
#include <fstream>

#include <spdlog/spdlog.h>

#include "labelstudio/request_json.hpp"
#include "server/label_studio_auth.hpp"

namespace sam::server {

using ls::RequestError;

namespace {

struct Body {
    std::vector<uint8_t> bytes;
    int64_t max_bytes = 0;
    bool too_large = false;
};

size_t on_data(char* data, size_t size, size_t n, void* user) {
    Body* body = static_cast<Body*>(user);
    size_t len = size * n;
    if (static_cast<int64_t>(body->bytes.size() + len) > body->max_bytes) {
        body->too_large = true;
        return 0;  // makes curl stop with CURLE_WRITE_ERROR
    }
    body->bytes.insert(body->bytes.end(), data, data + len);
    return len;
}

// The allowlist check at the moment curl opens a socket: the host of the URL being fetched
// now (after any redirect) and the address it resolved to.
struct SocketGuard {
    CURL* curl = nullptr;
    const HostAllowlist* allowed = nullptr;
    std::string refused_host;  // set when a connection was refused
};

curl_socket_t open_socket(void* user, curlsocktype purpose, curl_sockaddr* address) {
    auto* guard = static_cast<SocketGuard*>(user);
    if (purpose == CURLSOCKTYPE_IPCXN && !guard->allowed->allows_any()) {
        char* url = nullptr;
        std::string host;
        curl_easy_getinfo(guard->curl, CURLINFO_EFFECTIVE_URL, &url);
        if (CURLU* u = curl_url()) {
            char* part = nullptr;
            if (url && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
                curl_url_get(u, CURLUPART_HOST, &part, 0) == CURLUE_OK)
                host = part;
            curl_free(part);
            curl_url_cleanup(u);
        }
        if (!guard->allowed->allows(host, &address->addr)) {
            guard->refused_host = host;
            return CURL_SOCKET_BAD;
        }
    }
    return ::socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
}

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
    const auto* cancel = static_cast<const std::atomic<bool>*>(user);
    return cancel && *cancel ? 1 : 0;  // non-zero aborts the transfer
}

struct CurlHandle {
    CURL* curl = curl_easy_init();
    curl_slist* headers = nullptr;
    ~CurlHandle() {
        curl_slist_free_all(headers);
        if (curl) curl_easy_cleanup(curl);
    }
};

std::string mb(int64_t bytes) { return std::to_string(bytes >> 20) + " MiB"; }

}  // namespace

std::vector<uint8_t> http_get(const std::string& url, const std::string& authorization, const FetchOptions& o) {
    static const CURLcode init = curl_global_init(CURL_GLOBAL_DEFAULT);
    CurlHandle h;
    if (init != CURLE_OK || !h.curl) throw RequestError(500, "libcurl could not be initialised");
    Body body;
    body.max_bytes = o.max_bytes;
    char error[CURL_ERROR_SIZE] = {0};
    CURL* c = h.curl;
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, static_cast<long>(o.max_redirects));
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(o.connect_timeout * 1000));
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(o.total_timeout * 1000));
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);  // timeouts without SIGALRM: we are multithreaded
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, o.verify_ssl ? 1L : 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, o.verify_ssl ? 2L : 0L);
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(o.max_bytes));
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "sam-ml-backend/" SAM_VERSION);
    SocketGuard guard{c, &o.allowed_hosts, {}};
    curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, &guard);
    if (o.cancel) {
        if (*o.cancel) throw RequestError(503, "the server is shutting down");
        curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(c, CURLOPT_XFERINFODATA, o.cancel);
        curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    }
    if (!authorization.empty()) {
        // curl drops this header when a redirect leaves the host (CURLOPT_UNRESTRICTED_AUTH off).
        h.headers = curl_slist_append(h.headers, ("Authorization: " + authorization).c_str());
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h.headers);
    }
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK && !guard.refused_host.empty())
        throw RequestError(403, "image host '" + guard.refused_host + "' is not in ALLOWED_IMAGE_HOSTS: " + url);
    if (rc == CURLE_ABORTED_BY_CALLBACK) throw RequestError(503, "the server is shutting down");
    if (body.too_large || rc == CURLE_FILESIZE_EXCEEDED)
        throw RequestError(413, "image larger than " + mb(o.max_bytes) + " (MAX_IMAGE_MB): " + url);
    if (rc == CURLE_OPERATION_TIMEDOUT)
        throw RequestError(504, "image download timed out: " + url + " (" + (error[0] ? error : "timeout") + ")");
    if (rc != CURLE_OK)
        throw RequestError(502, "image download failed: " + url + ": " + (error[0] ? error : curl_easy_strerror(rc)));
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (status == 404) throw RequestError(404, "image not found: " + url);
    if (status == 401 || status == 403)
        throw AccessRefused(502, "image server refused access (HTTP " + std::to_string(status) + "): " + url +
                                    "; check LABEL_STUDIO_API_KEY");
    if (status < 200 || status >= 300)
        throw RequestError(502, "image download failed: " + url + ": HTTP " + std::to_string(status));
    return std::move(body.bytes);
}

std::vector<uint8_t> read_local_file(const std::string& path, int64_t max_bytes) {
    std::error_code ec;
    auto size = std::filesystem::file_size(path, ec);
    if (ec) throw RequestError(404, "image not found: " + path);
    if (static_cast<int64_t>(size) > max_bytes)
        throw RequestError(413, "image larger than " + mb(max_bytes) + " (MAX_IMAGE_MB): " + path);
    std::ifstream in(path, std::ios::binary);
    std::vector<uint8_t> bytes(size);
    if (!in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(size)))
        throw RequestError(404, "image not readable: " + path);
    return bytes;
}

ImageFetcher::ImageFetcher(const ls::UrlContext& context, const std::string& token, const FetchOptions& options)
    : environment_{context.label_studio_url, token}, context_(context), options_(options) {
    options_.cancel = &cancelled_;
    if (const std::string warning = ls::environment_credentials_warning(environment_); !warning.empty())
        spdlog::warn("{}", warning);
    const ls::LabelStudioCredentials use = ls::environment_credentials(environment_);
    context_.label_studio_url = use.url;
    if (use.complete())
        auth_ = std::make_shared<LabelStudioAuth>(use.url, use.token, "LABEL_STUDIO_API_KEY", options_);
}

bool ImageFetcher::adopt_label_studio(const std::string& hostname, const std::string& token) {
    if (!ls::setup_credentials_apply(environment_, {hostname, token})) return false;
    std::lock_guard lock(mutex_);
    // Label Studio repeats /setup on every refresh: keep the same pair's cached access token.
    if (auth_ && auth_->url() == hostname && auth_->token() == ls::trim_token(token)) return true;
    context_.label_studio_url = hostname;
    auth_ = std::make_shared<LabelStudioAuth>(hostname, token, "the access_token of /setup", options_);
    spdlog::info("/setup: using Label Studio at {} with the token it sent", ls::printable(hostname, 200));
    return true;
}

ls::ImageSource ImageFetcher::resolve(const std::string& url, int64_t task_id) const {
    ls::UrlContext ctx;
    {
        std::lock_guard lock(mutex_);
        ctx = context_;
    }
    ctx.task_id = task_id;
    ls::ImageSource source = ls::resolve_image_url(url, ctx);
    if (source.kind != ls::ImageSource::Kind::LocalFile) return source;
    namespace fs = std::filesystem;
    std::error_code ec;
    if (!fs::exists(source.location, ec)) {
        // Not in our copy of the local storage: Label Studio serves it (DESIGN.md, Images).
        if (ctx.label_studio_url.empty()) throw RequestError(404, "image not found: " + source.location);
        ctx.document_root.clear();
        return ls::resolve_image_url(url, ctx);
    }
    // The resolver checked the path's text; a symlink inside the root may still point out of it.
    fs::path real = fs::canonical(source.location, ec);
    fs::path root = fs::canonical(ctx.document_root, ec);
    auto rel = real.lexically_relative(root);
    if (ec || rel.empty() || *rel.begin() == "..")
        throw RequestError(403, "image path leaves LOCAL_FILES_DOCUMENT_ROOT: " + url);
    source.location = real.string();
    return source;
}

std::string ImageFetcher::identity(const ls::ImageSource& source) const {
    if (source.kind != ls::ImageSource::Kind::LocalFile) return source.location;
    // A file replaced under the same name must not hit the old embedding.
    std::error_code ec;
    auto size = std::filesystem::file_size(source.location, ec);
    auto mtime = std::filesystem::last_write_time(source.location, ec);
    return "file:" + source.location + "#" + std::to_string(size) + "@" +
           std::to_string(mtime.time_since_epoch().count());
}

std::shared_ptr<LabelStudioAuth> ImageFetcher::auth_for(const std::string& url) const {
    std::lock_guard lock(mutex_);
    if (!auth_)
        throw RequestError(502, "image " + url +
                                    " is served by Label Studio, which needs a token: set LABEL_STUDIO_URL and "
                                    "LABEL_STUDIO_API_KEY");
    // A /setup may have replaced the credentials since the URL was resolved: never send a token
    // to an address it did not come with.
    if (!ls::is_same_origin(url, auth_->url()))
        throw RequestError(502, "image " + url + ": Label Studio's address changed while the request ran; try again");
    return auth_;
}

std::vector<uint8_t> ImageFetcher::fetch(const ls::ImageSource& source) const {
    if (source.kind == ls::ImageSource::Kind::LocalFile) return read_local_file(source.location, options_.max_bytes);
    if (!source.send_token) return http_get(source.location, "", options_);
    std::shared_ptr<LabelStudioAuth> auth = auth_for(source.location);
    const std::string used = auth->authorization();
    try {
        return http_get(source.location, used, options_);
    } catch (const AccessRefused&) {
        // An access token Label Studio no longer takes (expired early, revoked): one new exchange.
        if (!auth->refused(used)) throw;
    }
    return http_get(source.location, auth->authorization(), options_);
}

}  // namespace sam::server
