// Label Studio API tokens (DESIGN.md, "Label Studio tokens"). A legacy token goes as
// `Authorization: Token <key>`. A personal access token is a JWT *refresh* token: Label Studio
// refuses it as a credential; it is exchanged at POST /api/token/refresh/ for a short-lived JWT
// access token, sent as `Bearer <access>`. Pure logic: what a token is, what its payload says and
// when an access token is due for renewal. The exchange itself is server/label_studio_auth.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sam::ls {

enum class TokenKind {
    Legacy,      // an opaque key: "Token <key>"
    JwtRefresh,  // a personal access token: exchanged for an access token first
    JwtAccess,   // any other JWT: "Bearer <jwt>" as it is
};

struct JwtClaims {
    std::string token_type;      // "refresh", "access", or "" when absent
    std::optional<int64_t> exp;  // expiry, seconds since the epoch
    std::optional<int64_t> iat;  // issued at
};

// The token as pasted, without surrounding whitespace (a copied newline).
std::string trim_token(std::string_view token);

// Whether `token` can go into an Authorization header: not empty, printable ASCII, no spaces
// (a CR or LF would let a token from an unauthenticated /setup add headers of its own).
bool plausible_token(std::string_view token);

// The payload claims of a JWT, read without checking the signature (only Label Studio holds the
// key). nullopt when `token` is not a JWT: three base64url parts whose first two decode to JSON
// objects.
std::optional<JwtClaims> jwt_claims(std::string_view token);

TokenKind token_kind(std::string_view token);

// The Authorization header value for a token sent as it is: "Token <key>" for a legacy key,
// "Bearer <jwt>" for a JWT. Throws std::invalid_argument for an empty token.
std::string authorization_for(std::string_view token);

// Our clock's time (seconds) at which an access token received at `received_at` should be
// replaced, or nullopt when it names no expiry (then it is used until Label Studio refuses it).
// The lifetime is read from the token's own iat and exp when both are there, so a clock offset
// between Label Studio and us does not matter; renewal comes a fifth of the lifetime early, at
// most 30 s (Label Studio's access tokens live 5 minutes).
std::optional<int64_t> access_token_renewal_time(const JwtClaims& claims, int64_t received_at);

}  // namespace sam::ls
