#include "server/label_studio_auth.hpp"

#include <curl/curl.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <ctime>

#include <nlohmann/json.hpp>

#include "labelstudio/errors.hpp"

namespace sam::server {

using ls::RequestError;

namespace {

constexpr size_t kMaxAnswer = 64 << 10;  // a token answer is a few hundred bytes

size_t append_limited(char* data, size_t size, size_t n, void* user) {
    auto* out = static_cast<std::string*>(user);
    if (out->size() + size * n > kMaxAnswer) return 0;  // curl stops with CURLE_WRITE_ERROR
    out->append(data, size * n);
    return size * n;
}

std::string utc_date(int64_t seconds) {
    const std::time_t t = static_cast<std::time_t>(seconds);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%d %H:%M UTC", &tm);
    return text;
}

// Label Studio's {"detail": "..."} when there is one, shortened.
std::string detail_of(const std::string& answer) {
    nlohmann::json j = nlohmann::json::parse(answer, nullptr, false);
    if (!j.is_object() || !j.contains("detail") || !j["detail"].is_string()) return "";
    std::string d = j["detail"].get<std::string>().substr(0, 200);
    return ": " + nlohmann::json(d).dump();  // quoted and escaped, whatever it holds
}

}  // namespace

int64_t LabelStudioAuth::system_seconds() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

LabelStudioAuth::LabelStudioAuth(std::string url, const std::string& token, std::string origin,
                                 const FetchOptions& options, Clock clock)
    : url_(std::move(url)),
      token_(ls::trim_token(token)),
      origin_(std::move(origin)),
      kind_(ls::token_kind(token_)),
      options_(options),
      clock_(std::move(clock)) {}

std::string LabelStudioAuth::authorization() {
    if (!ls::plausible_token(token_))
        throw RequestError(502, "the token in " + origin_ + " is empty or holds spaces or control characters");
    if (kind_ != ls::TokenKind::JwtRefresh) return ls::authorization_for(token_);
    std::lock_guard lock(mutex_);
    if (access_.empty() || (renew_at_ && clock_() >= *renew_at_)) {
        const std::string access = exchange();
        const int64_t received = clock_();
        const std::optional<ls::JwtClaims> claims = ls::jwt_claims(access);
        renew_at_ = claims ? ls::access_token_renewal_time(*claims, received) : std::nullopt;
        access_ = "Bearer " + access;
        exchanges_++;
    }
    return access_;
}

bool LabelStudioAuth::refused(const std::string& used) {
    if (kind_ != ls::TokenKind::JwtRefresh) return false;
    std::lock_guard lock(mutex_);
    if (access_ == used) access_.clear();  // another request may have renewed it already
    return true;
}

int LabelStudioAuth::exchanges() const {
    std::lock_guard lock(mutex_);
    return exchanges_;
}

std::string LabelStudioAuth::exchange() {
    const std::string what = "the personal access token in " + origin_;
    if (const auto claims = ls::jwt_claims(token_); claims && claims->exp && *claims->exp <= clock_())
        throw RequestError(502, what + " expired on " + utc_date(*claims->exp) +
                                    ": create a new one in Label Studio (Account & Settings)");

    std::string endpoint = url_;
    while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
    endpoint += "/api/token/refresh/";
    static const CURLcode init = curl_global_init(CURL_GLOBAL_DEFAULT);
    std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), curl_easy_cleanup);
    std::unique_ptr<curl_slist, void (*)(curl_slist*)> headers(nullptr, curl_slist_free_all);
    if (init != CURLE_OK || !curl) throw RequestError(500, "libcurl could not be initialised");
    headers.reset(curl_slist_append(curl_slist_append(nullptr, "Content-Type: application/json"),
                                    "Accept: application/json"));
    const std::string body = nlohmann::json{{"refresh", token_}}.dump();
    std::string answer;
    char error[CURL_ERROR_SIZE] = {0};
    CURL* c = curl.get();
    curl_easy_setopt(c, CURLOPT_URL, endpoint.c_str());
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);  // the token goes to this address only
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options_.connect_timeout * 1000));
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.total_timeout * 1000));
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, options_.verify_ssl ? 1L : 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, options_.verify_ssl ? 2L : 0L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, append_limited);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &answer);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "sam-ml-backend/" SAM_VERSION);
    const CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OPERATION_TIMEDOUT)
        throw RequestError(504, "Label Studio did not answer in time when exchanging " + what + " at " + endpoint);
    if (rc != CURLE_OK)
        throw RequestError(502, "cannot exchange " + what + " at " + endpoint + ": " +
                                    (error[0] ? error : curl_easy_strerror(rc)));
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (status == 400 || status == 401 || status == 403)
        throw RequestError(502, "Label Studio refused " + what + " (HTTP " + std::to_string(status) + " from " +
                                    endpoint + detail_of(answer) +
                                    "): it was revoked or belongs to another Label Studio; create a new one in "
                                    "Label Studio (Account & Settings)");
    if (status != 200)
        throw RequestError(502, "exchanging " + what + " failed: HTTP " + std::to_string(status) + " from " + endpoint);
    const nlohmann::json j = nlohmann::json::parse(answer, nullptr, false);
    const std::string access = j.is_object() && j.contains("access") && j["access"].is_string()
                                   ? ls::trim_token(j["access"].get<std::string>())
                                   : "";
    if (!ls::plausible_token(access))
        throw RequestError(502, "exchanging " + what + ": " + endpoint + " answered without a usable access token");
    spdlog::debug("exchanged {} for an access token at {}", what, endpoint);
    return access;
}

}  // namespace sam::server
