#include "labelstudio/api_token.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "labelstudio/base64.hpp"

namespace sam::ls {

namespace {

std::optional<nlohmann::json> json_object_part(std::string_view part) {
    const std::optional<std::string> text = base64url_decode(part);
    if (!text) return std::nullopt;
    nlohmann::json j = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object()) return std::nullopt;
    return j;
}

std::optional<int64_t> seconds_claim(const nlohmann::json& payload, const char* name) {
    auto it = payload.find(name);
    if (it == payload.end() || !it->is_number()) return std::nullopt;
    const double v = it->get<double>();
    if (!std::isfinite(v) || std::abs(v) > 1e15) return std::nullopt;
    return static_cast<int64_t>(std::floor(v));
}

}  // namespace

std::string trim_token(std::string_view token) {
    const size_t b = token.find_first_not_of(" \t\r\n");
    if (b == std::string_view::npos) return "";
    return std::string(token.substr(b, token.find_last_not_of(" \t\r\n") - b + 1));
}

bool plausible_token(std::string_view token) {
    return !token.empty() && std::all_of(token.begin(), token.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

std::optional<JwtClaims> jwt_claims(std::string_view token) {
    const size_t d1 = token.find('.');
    if (d1 == std::string_view::npos) return std::nullopt;
    const size_t d2 = token.find('.', d1 + 1);
    if (d2 == std::string_view::npos || token.find('.', d2 + 1) != std::string_view::npos) return std::nullopt;
    const std::string_view signature = token.substr(d2 + 1);
    if (signature.empty() || !base64url_decode(signature)) return std::nullopt;
    if (!json_object_part(token.substr(0, d1))) return std::nullopt;
    const std::optional<nlohmann::json> payload = json_object_part(token.substr(d1 + 1, d2 - d1 - 1));
    if (!payload) return std::nullopt;
    JwtClaims claims;
    if (auto it = payload->find("token_type"); it != payload->end() && it->is_string())
        claims.token_type = it->get<std::string>();
    claims.exp = seconds_claim(*payload, "exp");
    claims.iat = seconds_claim(*payload, "iat");
    return claims;
}

TokenKind token_kind(std::string_view token) {
    const std::optional<JwtClaims> claims = jwt_claims(trim_token(token));
    if (!claims) return TokenKind::Legacy;
    return claims->token_type == "refresh" ? TokenKind::JwtRefresh : TokenKind::JwtAccess;
}

std::string authorization_for(std::string_view token) {
    const std::string t = trim_token(token);
    if (t.empty()) throw std::invalid_argument("authorization_for: empty Label Studio token");
    return (jwt_claims(t) ? "Bearer " : "Token ") + t;
}

std::optional<int64_t> access_token_renewal_time(const JwtClaims& claims, int64_t received_at) {
    if (!claims.exp) return std::nullopt;
    const int64_t lifetime = *claims.exp - claims.iat.value_or(received_at);
    if (lifetime <= 0) return received_at;  // already expired as issued: renew on every use
    return received_at + lifetime - std::min<int64_t>(30, lifetime / 5);
}

}  // namespace sam::ls
