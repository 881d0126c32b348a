// Label Studio tokens and credentials, the pure rules: what a token is (legacy key, JWT refresh
// or access token), its claims, the header it goes in, when an access token is renewed, and
// which address and token the backend may use (environment versus /setup).
#include <gtest/gtest.h>

#include <stdexcept>

#include "labelstudio/api_token.hpp"
#include "labelstudio/credentials.hpp"
#include "support/fake_label_studio.hpp"

namespace {

using sam::ls::LabelStudioCredentials;
using sam::ls::TokenKind;

// A refresh token shaped as Label Studio issues them (PyJWT, HS256), made with Python's json and
// base64 modules: payload {"token_type":"refresh","exp":4102444800,"iat":1767225600,
// "jti":"5e0c3d1f9a7b4c2e8d6f1a3b5c7d9e0f","user_id":1}.
const std::string kLabelStudioRefresh =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ0b2tlbl90eXBlIjoicmVmcmVzaCIsImV4cCI6NDEwMjQ0NDgwMCwiaWF0IjoxNzY3MjI1NjAw"
    "LCJqdGkiOiI1ZTBjM2QxZjlhN2I0YzJlOGQ2ZjFhM2I1YzdkOWUwZiIsInVzZXJfaWQiOjF9.Xawe4n3ouQnwsHefzQyjlyxHrRs9-_p--XYKXtuhefU";

TEST(LabelStudioToken, ClaimsOfALabelStudioRefreshToken) {
    auto claims = sam::ls::jwt_claims(kLabelStudioRefresh);
    ASSERT_TRUE(claims);
    EXPECT_EQ(claims->token_type, "refresh");
    EXPECT_EQ(claims->exp, 4102444800);
    EXPECT_EQ(claims->iat, 1767225600);
    EXPECT_EQ(sam::ls::token_kind(kLabelStudioRefresh), TokenKind::JwtRefresh);
    EXPECT_EQ(sam::ls::token_kind("  " + kLabelStudioRefresh + "\n"), TokenKind::JwtRefresh);  // pasted
}

TEST(LabelStudioToken, KindsAndHeaders) {
    const std::string access = samtest::make_jwt(R"({"token_type":"access","exp":1700000300.5,"iat":1700000000})");
    auto claims = sam::ls::jwt_claims(access);
    ASSERT_TRUE(claims);
    EXPECT_EQ(claims->exp, 1700000300);  // fractional seconds are allowed in exp
    EXPECT_EQ(sam::ls::token_kind(access), TokenKind::JwtAccess);
    EXPECT_EQ(sam::ls::token_kind(samtest::make_jwt(R"({"user_id":1})")), TokenKind::JwtAccess);  // no token_type
    EXPECT_EQ(sam::ls::authorization_for(access), "Bearer " + access);

    EXPECT_EQ(sam::ls::token_kind("e3b0c44298fc1c149afbf4c8996fb92427ae41e4"), TokenKind::Legacy);
    EXPECT_EQ(sam::ls::authorization_for("e3b0c44298fc1c149afbf4c8996fb92427ae41e4"),
              "Token e3b0c44298fc1c149afbf4c8996fb92427ae41e4");
    EXPECT_EQ(sam::ls::authorization_for(" abc123\n"), "Token abc123");
    EXPECT_THROW(sam::ls::authorization_for(""), std::invalid_argument);
    EXPECT_THROW(sam::ls::authorization_for(" \n"), std::invalid_argument);
}

TEST(LabelStudioToken, NotJwtsAreLegacyTokens) {
    const std::string header = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";
    for (const std::string& t : {std::string("eyJabc.def"),                         // two parts
                                 std::string("eyJa.b.c.d"),                         // four parts
                                 std::string("abc.def.ghi"),                        // parts are not JSON
                                 header + "..c",                                    // empty payload
                                 header + ".eyJhIjoxfQ.",                           // empty signature
                                 header + ".W10.c2ln",                              // payload a JSON array
                                 header + ".eyJhIjox.c2ln",                         // payload cut short
                                 header + ".eyJhIjoxfQ.c2l*",                       // not base64url
                                 std::string("ZGVm.eyJhIjoxfQ.c2ln")}) {            // header "def"
        SCOPED_TRACE(t);
        EXPECT_FALSE(sam::ls::jwt_claims(t));
        EXPECT_EQ(sam::ls::token_kind(t), TokenKind::Legacy);
    }
    EXPECT_TRUE(sam::ls::jwt_claims(header + ".eyJhIjoxfQ.c2ln"));  // the same with every part right
}

TEST(LabelStudioToken, OnlyPrintableTokensGoIntoHeaders) {
    EXPECT_TRUE(sam::ls::plausible_token("e3b0c44298fc1c149afbf4c8996fb92427ae41e4"));
    EXPECT_TRUE(sam::ls::plausible_token(kLabelStudioRefresh));
    for (const char* t : {"", "a b", "abc\r\nX-Injected: 1", "tab\there", "caf\xc3\xa9"}) EXPECT_FALSE(sam::ls::plausible_token(t)) << t;
}

TEST(LabelStudioToken, AccessTokenRenewalTime) {
    using sam::ls::access_token_renewal_time;
    using sam::ls::JwtClaims;
    // Label Studio's 5 minutes: renewed 30 s before expiry.
    EXPECT_EQ(access_token_renewal_time(JwtClaims{"access", 1300, 1000}, 1000), 1270);
    // Our clock an hour ahead of Label Studio's: the lifetime counts, not the absolute exp.
    EXPECT_EQ(access_token_renewal_time(JwtClaims{"access", 1300, 1000}, 4600), 4870);
    // Short lifetimes: a fifth early.
    EXPECT_EQ(access_token_renewal_time(JwtClaims{"access", 1010, 1000}, 1000), 1008);
    // No iat: exp against our clock.
    EXPECT_EQ(access_token_renewal_time(JwtClaims{"access", 1100, std::nullopt}, 1000), 1080);
    // Expired as issued: renewed at every use rather than trusted.
    EXPECT_EQ(access_token_renewal_time(JwtClaims{"access", 900, std::nullopt}, 1000), 1000);
    // No exp: used until Label Studio refuses it.
    EXPECT_FALSE(access_token_renewal_time(JwtClaims{"access", std::nullopt, 1000}, 1000));
}

TEST(LabelStudioCredentials, EnvironmentPairWinsAndHalvesAreIgnoredWithAWarning) {
    const LabelStudioCredentials both{"http://ls:8080", "key"}, url_only{"http://ls:8080", ""},
        key_only{"", "key"}, none{};
    EXPECT_EQ(sam::ls::environment_credentials(both), both);
    EXPECT_EQ(sam::ls::environment_credentials(url_only), none);
    EXPECT_EQ(sam::ls::environment_credentials(key_only), none);
    EXPECT_EQ(sam::ls::environment_credentials_warning(both), "");
    EXPECT_EQ(sam::ls::environment_credentials_warning(none), "");
    const std::string w1 = sam::ls::environment_credentials_warning(key_only);
    EXPECT_NE(w1.find("LABEL_STUDIO_API_KEY is set but LABEL_STUDIO_URL is not"), std::string::npos) << w1;
    const std::string w2 = sam::ls::environment_credentials_warning(url_only);
    EXPECT_NE(w2.find("LABEL_STUDIO_URL is set but LABEL_STUDIO_API_KEY is not"), std::string::npos) << w2;

    const LabelStudioCredentials setup{"http://other:8080", "setup-token"};
    EXPECT_FALSE(sam::ls::setup_credentials_apply(both, setup));  // the environment wins
    EXPECT_TRUE(sam::ls::setup_credentials_apply(none, setup));
    EXPECT_TRUE(sam::ls::setup_credentials_apply(key_only, setup));  // its own token, to its own host
    EXPECT_TRUE(sam::ls::setup_credentials_apply(url_only, setup));
}

TEST(LabelStudioCredentials, SetupOnlyAsACompleteUsablePair) {
    const LabelStudioCredentials none{};
    EXPECT_FALSE(sam::ls::setup_credentials_apply(none, {"http://ls:8080", ""}));
    EXPECT_FALSE(sam::ls::setup_credentials_apply(none, {"", "token"}));
    EXPECT_FALSE(sam::ls::setup_credentials_apply(none, {"ls:8080", "token"}));          // no scheme
    EXPECT_FALSE(sam::ls::setup_credentials_apply(none, {"file:///etc", "token"}));
    EXPECT_FALSE(sam::ls::setup_credentials_apply(none, {"http://ls:8080", "a\r\nX-Evil: 1"}));
    EXPECT_FALSE(sam::ls::setup_credentials_apply(none, {"http://ls:8080/\r\nX: 1", "token"}));
    EXPECT_TRUE(sam::ls::setup_credentials_apply(none, {"https://ls.example/label-studio", " token\n"}));
}

}  // namespace
