// Which Label Studio address and token the backend uses to download images (DESIGN.md, /setup).
// The rule: a token is only ever sent to the Label Studio it came with.
// - The environment's LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY go together; set both, they
//   always win and /setup cannot change them.
// - Set neither, and /setup's `hostname` + `access_token` are used as a pair (both or nothing);
//   a later /setup with another pair replaces it (a token reset in Label Studio needs no restart).
// - Set only one of the two, and that half is ignored, with a warning at start: a key without
//   its address could otherwise go to whatever host an unauthenticated /setup names.
#pragma once

#include <string>

namespace sam::ls {

struct LabelStudioCredentials {
    std::string url;    // Label Studio's base URL, e.g. http://192.168.1.36:8080
    std::string token;  // a legacy token or a personal access token (JWT)

    bool complete() const { return !url.empty() && !token.empty(); }
    bool operator==(const LabelStudioCredentials&) const = default;
};

// The credentials the environment fixes: both halves, or none.
LabelStudioCredentials environment_credentials(const LabelStudioCredentials& env);

// What to tell the user at start about a half-set environment; "" when both or neither are set.
std::string environment_credentials_warning(const LabelStudioCredentials& env);

// Whether a /setup's hostname and access_token may replace the credentials in use: only when the
// environment fixes none, only as a complete pair, and only with an http(s) hostname.
bool setup_credentials_apply(const LabelStudioCredentials& env, const LabelStudioCredentials& setup);

}  // namespace sam::ls
