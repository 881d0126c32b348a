#include "server/basic_auth.hpp"

#include <cctype>
#include <cstdint>

#include "labelstudio/base64.hpp"

namespace sam::server {

namespace {

// Compares every byte whatever the first difference, so timing does not reveal the secret.
bool constant_time_equal(std::string_view a, std::string_view b) {
    const size_t n = std::max(a.size(), b.size());
    unsigned diff = a.size() != b.size();
    for (size_t i = 0; i < n; ++i) diff |= uint8_t(i < a.size() ? a[i] : 0) ^ uint8_t(i < b.size() ? b[i] : 0);
    return diff == 0;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

}  // namespace

bool basic_auth_allows(const std::string& user, const std::string& pass, std::string_view authorization) {
    if (user.empty() && pass.empty()) return true;
    authorization = trim(authorization);
    const size_t space = authorization.find_first_of(" \t");
    if (space == std::string_view::npos) return false;
    const std::string_view scheme = authorization.substr(0, space);
    constexpr std::string_view kBasic = "basic";
    if (scheme.size() != kBasic.size()) return false;
    for (size_t i = 0; i < kBasic.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(scheme[i])) != kBasic[i]) return false;
    return constant_time_equal(trim(authorization.substr(space)), ls::base64_encode(user + ":" + pass));
}

}  // namespace sam::server
