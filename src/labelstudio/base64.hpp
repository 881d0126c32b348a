// Base64 (RFC 4648) as Label Studio's protocol uses it: base64url with '=' padding in presign
// URLs (Python's urlsafe_b64encode), unpadded base64url in JWTs, the standard alphabet in data
// URLs and HTTP basic auth.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace sam::ls {

// base64url (section 5) with '=' padding.
std::string base64url_encode(std::string_view bytes);
// Standard base64 (section 4) with '=' padding.
std::string base64_encode(std::string_view bytes);
// base64url with or without '=' padding; nullopt for anything else (another alphabet included).
std::optional<std::string> base64url_decode(std::string_view text);

}  // namespace sam::ls
