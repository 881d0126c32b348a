// Gets a task's image bytes: resolves the task URL (labelstudio/image_url.hpp), then reads a
// local-storage file or downloads over http(s) with libcurl (timeouts, size limit, redirects,
// TLS verification; the Label Studio token only where the resolver says so).
// Errors are ls::RequestError with the status the server answers: 403 host not in
// ALLOWED_IMAGE_HOSTS, 404 image not found, 413 too large, 502 download failed, 504 timed out.
// No error message quotes what a server sent.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

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

// GET over http(s). `authorization` is the Authorization header value, or empty for none.
std::vector<uint8_t> http_get(const std::string& url, const std::string& authorization, const FetchOptions& options);

// A whole file, refusing files over max_bytes (413) and missing ones (404).
std::vector<uint8_t> read_local_file(const std::string& path, int64_t max_bytes);

class ImageFetcher {
public:
    ImageFetcher(const ls::UrlContext& context, const std::string& token, const FetchOptions& options);

    // Label Studio's own address and token from /setup, used only where none was configured.
    void adopt_label_studio(const std::string& hostname, const std::string& token);

    ls::ImageSource resolve(const std::string& url, int64_t task_id) const;
    // A cache key that names the image itself: the file (with size and mtime) or the URL.
    std::string identity(const ls::ImageSource& source) const;
    std::vector<uint8_t> fetch(const ls::ImageSource& source) const;
    // Ends every download in progress and refuses new ones (server shutdown).
    void cancel_transfers() { cancelled_ = true; }

private:
    std::atomic<bool> cancelled_{false};
    mutable std::mutex mutex_;  // guards context_ and token_ (changed by /setup)
    ls::UrlContext context_;
    std::string token_;
    FetchOptions options_;
};

}  // namespace sam::server
