// Request text made safe: the one parser for request bodies (nesting depth capped before
// nlohmann builds anything, numbers out of range are a 400) and the one place that turns
// request-derived bytes into text for JSON answers and logs (valid UTF-8, bounded length,
// no control characters). Error messages quote request values only through these.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace sam::ls {

// Deeper JSON is refused: Label Studio's requests nest about 6 levels.
constexpr int kMaxJsonDepth = 64;

// Parses a request body. Throws RequestError(400) for an empty body, nesting deeper than
// max_depth, malformed JSON (also bytes that are not UTF-8 inside strings) and numbers out of
// the double range (1e400); the message quotes at most a short, printable piece of the input.
nlohmann::json parse_request_json(std::string_view body, int max_depth = kMaxJsonDepth);

// Valid UTF-8: every ill-formed sequence (stray continuation bytes, overlong forms,
// surrogates, code points above U+10FFFF, truncated sequences) becomes U+FFFD, one per
// maximal ill-formed subpart (Unicode's recommended practice). Valid text passes unchanged.
std::string valid_utf8(std::string_view text);

// valid_utf8, with control characters escaped (\n, \t, \x01...) and cut to at most
// max_bytes (on a character boundary, "..." appended when cut): safe in a log line or message.
std::string printable(std::string_view text, size_t max_bytes = 200);

// A short rendering of a JSON value for an error message: strings quoted and cut, arrays and
// objects shown two levels deep and three items wide, at most max_bytes in all. Never dumps
// the whole value, so a huge or deeply nested one costs nothing.
std::string quote(const nlohmann::json& value, size_t max_bytes = 80);

// The text of an answer: dump() that replaces invalid UTF-8 instead of throwing (defence in
// depth: request strings are already valid when they get here).
std::string to_json_text(const nlohmann::json& value);

}  // namespace sam::ls
