// HTTP basic auth for the backend's own routes (BASIC_AUTH_USER / BASIC_AUTH_PASS), as Label
// Studio sends it from the model's connection settings.
#pragma once

#include <string>
#include <string_view>

namespace sam::server {

// True when no credentials are configured (both empty), or when `authorization` (the request's
// Authorization header) carries exactly `user`:`pass`. The scheme name is case-insensitive
// (RFC 7235: "basic", "BASIC"); the credentials are compared in constant time.
bool basic_auth_allows(const std::string& user, const std::string& pass, std::string_view authorization);

}  // namespace sam::server
