// The Authorization header for requests to one Label Studio, from the token that came with its
// address (labelstudio/credentials.hpp). A legacy token goes as it is. A personal access token
// (a JWT refresh token) is exchanged, as Label Studio's SDK does, at POST <url>/api/token/refresh/
// {"refresh": token} -> {"access": jwt}; the access token is cached, exchanged again before it
// expires (labelstudio/api_token.hpp decides when) and after Label Studio refuses it.
// Thread-safe: concurrent requests share one exchange.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>

#include "labelstudio/api_token.hpp"
#include "server/image_fetcher.hpp"

namespace sam::server {

class LabelStudioAuth {
public:
    using Clock = std::function<int64_t()>;  // seconds since the epoch
    static int64_t system_seconds();

    // `origin` names where the token came from, for error messages ("LABEL_STUDIO_API_KEY").
    LabelStudioAuth(std::string url, const std::string& token, std::string origin, const FetchOptions& options,
                    Clock clock = system_seconds);

    const std::string& url() const { return url_; }
    const std::string& token() const { return token_; }

    // "Token <key>" or "Bearer <jwt>". Throws ls::RequestError (502, 504 on a timeout) when a
    // personal access token has expired or Label Studio does not exchange it.
    std::string authorization();

    // Label Studio refused `used` (401/403). Forgets that access token and returns true when a
    // retry with a fresh authorization() can succeed: only an exchanged access token can.
    bool refused(const std::string& used);

    int exchanges() const;  // access tokens obtained so far

private:
    std::string exchange();  // a new access token; throws RequestError

    const std::string url_, token_, origin_;
    const ls::TokenKind kind_;
    const FetchOptions options_;
    const Clock clock_;
    mutable std::mutex mutex_;  // one exchange at a time; guards the cache below
    std::string access_;                // "Bearer <access>", or "" before the first exchange
    std::optional<int64_t> renew_at_;  // our clock; none: used until refused
    int exchanges_ = 0;
};

}  // namespace sam::server
