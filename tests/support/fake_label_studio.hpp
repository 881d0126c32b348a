// A stand-in for Label Studio inside a test: a cpp-httplib server on 127.0.0.1 (a free port).
// - Serves registered paths (e.g. /data/upload/3/x.jpg) only to an accepted Authorization
//   header (401 otherwise, 404 for unknown paths); can be told to answer slowly.
// - Accepts `Token <key>` for its legacy key and, once a personal access token is issued,
//   `Bearer <access>` for the access tokens it exchanged at POST /api/token/refresh/
//   ({"refresh": ...} -> {"access": ...}, with a short `exp`). A refresh token sent as Bearer
//   is refused, as Label Studio does.
// - Presigns cloud keys: GET /tasks/<id>/presign/?fileuri=<base64url of the key> (authorized)
//   redirects to an unauthenticated /signed/<n> that serves the key's bytes.
// - Records every Authorization header it receives, so a test can prove where a key went.
// The constructor returns only once the server accepts connections; destroying it at any
// moment returns.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace httplib {
class Server;
}

namespace samtest {

// A JWT with the given payload (an unsigned-looking but well-formed header.payload.signature).
std::string make_jwt(const std::string& payload_json);

class FakeLabelStudio {
public:
    explicit FakeLabelStudio(std::string token);
    ~FakeLabelStudio();
    FakeLabelStudio(const FakeLabelStudio&) = delete;
    FakeLabelStudio& operator=(const FakeLabelStudio&) = delete;

    void add(const std::string& path, std::vector<uint8_t> bytes);
    void add_file(const std::string& path, const std::string& file);           // serves a file's bytes
    void add_cloud_file(const std::string& uri, const std::string& file);      // s3://..., presigned
    void set_delay_ms(int ms) { delay_ms_ = ms; }

    // Turns on personal access tokens: returns a refresh token (expiring at `refresh_exp`,
    // seconds since the epoch; 0: in a year) whose access tokens live `access_lifetime_s`.
    std::string issue_personal_token(int access_lifetime_s, int64_t refresh_exp = 0);
    void revoke_access_tokens();  // every access token issued so far is refused from now on
    void revoke_refresh_tokens();

    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
    int port() const { return port_; }
    int requests() const { return requests_; }          // every request, any answer
    int unauthorized() const { return unauthorized_; }  // answered 401
    int refreshes() const { return refreshes_; }        // access tokens issued
    std::vector<std::string> authorizations() const;    // every Authorization header seen ("" for none)

private:
    bool accepts(const std::string& authorization);

    std::string token_;
    std::unique_ptr<httplib::Server> http_;
    mutable std::mutex mutex_;
    std::map<std::string, std::string> files_;
    std::vector<std::pair<std::string, std::string>> cloud_;  // uri, bytes
    std::set<std::string> refresh_tokens_;
    std::map<std::string, int64_t> access_tokens_;  // token -> exp
    int access_lifetime_s_ = 300;
    std::vector<std::string> authorizations_;
    std::atomic<int> delay_ms_{0}, requests_{0}, unauthorized_{0}, refreshes_{0};
    int port_ = 0;
    std::thread thread_;
};

}  // namespace samtest
