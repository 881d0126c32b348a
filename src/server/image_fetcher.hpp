// Gets a task's image bytes: resolves the task URL (labelstudio/image_url.hpp), then reads a
// local-storage file or downloads over http(s) with libcurl (timeouts, size limit, redirects,
// TLS verification; the Label Studio token only where the resolver says so, and only to the
// Label Studio it came with: labelstudio/credentials.hpp, server/label_studio_auth.hpp).
// Errors are ls::RequestError with the status the server answers: 403 host not in
// ALLOWED_IMAGE_HOSTS, 404 image not found, 413 too large, 502 download failed, 504 timed out.
// No error message quotes what a server sent.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "labelstudio/credentials.hpp"
#include "labelstudio/errors.hpp"
#include "labelstudio/image_url.hpp"
#include "server/host_allowlist.hpp"

namespace sam::server {

struct FetchOptions {
    double connect_timeout = 5;  // seconds
    double total_timeout = 30;   // seconds
    int64_t max_bytes = 50 << 20;
    bool verify_ssl = true;
    int max_redirects = 5;
    HostAllowlist allowed_hosts;                // checked on every connection, redirects included
    const std::atomic<bool>* cancel = nullptr;  // set: transfers in progress stop (server shutdown)
};

// What http_get throws when the server answers 401 or 403: a 502 for the annotator.
class AccessRefused : public ls::RequestError {
public:
    using ls::RequestError::RequestError;
};

class LabelStudioAuth;

// GET over http(s). `authorization` is the Authorization header value, or empty for none.
std::vector<uint8_t> http_get(const std::string& url, const std::string& authorization, const FetchOptions& options);

// A whole file, refusing files over max_bytes (413) and missing ones (404).
std::vector<uint8_t> read_local_file(const std::string& path, int64_t max_bytes);

class ImageFetcher {
public:
    // `context.label_studio_url` and `token` are the environment's LABEL_STUDIO_URL and
    // LABEL_STUDIO_API_KEY: used together or not at all (a warning is logged for one alone).
    ImageFetcher(const ls::UrlContext& context, const std::string& token, const FetchOptions& options);

    // Label Studio's address and token from /setup: used as a pair, only when the environment
    // does not set both (a half is ignored), replacing an earlier pair. Returns whether they
    // are now in use.
    bool adopt_label_studio(const std::string& hostname, const std::string& token);

    ls::ImageSource resolve(const std::string& url, int64_t task_id) const;
    // A cache key that names the image itself: the file (with size and mtime) or the URL.
    std::string identity(const ls::ImageSource& source) const;
    std::vector<uint8_t> fetch(const ls::ImageSource& source) const;
    // Ends every download in progress and refuses new ones (server shutdown).
    void cancel_transfers() { cancelled_ = true; }

private:
    std::shared_ptr<LabelStudioAuth> auth_for(const std::string& url) const;

    std::atomic<bool> cancelled_{false};
    const ls::LabelStudioCredentials environment_;
    mutable std::mutex mutex_;  // guards context_ and auth_ (changed by /setup)
    ls::UrlContext context_;
    std::shared_ptr<LabelStudioAuth> auth_;  // the token for context_.label_studio_url, or null
    FetchOptions options_;
};

}  // namespace sam::server
