#include "labelstudio/request_json.hpp"

#include <cstdio>

#include "labelstudio/errors.hpp"

namespace sam::ls {

using nlohmann::json;

namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD
constexpr std::string_view kCut = "...";

// Refuses nesting deeper than max_depth by counting brackets outside strings. For any text
// the parser accepts this is the exact depth; for text it refuses the count does not matter.
void check_depth(std::string_view body, int max_depth) {
    int depth = 0;
    bool in_string = false;
    for (size_t i = 0; i < body.size(); ++i) {
        const char c = body[i];
        if (in_string) {
            if (c == '\\') ++i;
            else if (c == '"') in_string = false;
            continue;
        }
        if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > max_depth)
                throw RequestError(400, "JSON nested deeper than " + std::to_string(max_depth) + " levels");
        } else if (c == ']' || c == '}') {
            --depth;
        }
    }
}

// Length of the valid UTF-8 sequence at s[i], or 0 with `bad` set to the length of its
// maximal ill-formed subpart (at least 1).
size_t utf8_sequence(std::string_view s, size_t i, size_t& bad) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t len = 0;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c >= 0xE0 && c <= 0xEF) len = 3;
    else if (c >= 0xF0 && c <= 0xF4) len = 4;
    if (len == 0) {
        bad = 1;
        return 0;
    }
    size_t k = 1;
    for (; k < len && i + k < s.size(); ++k) {
        const auto d = static_cast<unsigned char>(s[i + k]);
        unsigned char lo = 0x80, hi = 0xBF;
        if (k == 1) {  // the second byte rules out overlong forms, surrogates and > U+10FFFF
            if (c == 0xE0) lo = 0xA0;
            else if (c == 0xED) hi = 0x9F;
            else if (c == 0xF0) lo = 0x90;
            else if (c == 0xF4) hi = 0x8F;
        }
        if (d < lo || d > hi) break;
    }
    if (k == len) return len;
    bad = k;
    return 0;
}

void append_string(const std::string& text, size_t max_bytes, std::string& out) {
    out += '"';
    out += printable(text, max_bytes);
    out += '"';
}

// Two levels deep, three items wide; stops adding once `out` passes `limit`.
void render(const json& v, int depth, size_t limit, std::string& out) {
    if (out.size() > limit) return;
    switch (v.type()) {
        case json::value_t::string:
            append_string(v.get_ref<const std::string&>(), 40, out);
            return;
        case json::value_t::array:
        case json::value_t::object: {
            const bool array = v.is_array();
            out += array ? '[' : '{';
            if (depth >= 2 && !v.empty()) {
                out += "...";
            } else {
                size_t shown = 0;
                for (auto it = v.begin(); it != v.end() && out.size() <= limit; ++it, ++shown) {
                    if (shown == 3) {
                        out += ", ... " + std::to_string(v.size()) + " items";
                        break;
                    }
                    if (shown) out += ", ";
                    if (!array) {
                        append_string(it.key(), 20, out);
                        out += ": ";
                    }
                    render(*it, depth + 1, limit, out);
                }
            }
            out += array ? ']' : '}';
            return;
        }
        default:
            out += v.dump();  // numbers, booleans, null: short by nature
    }
}

}  // namespace

json parse_request_json(std::string_view body, int max_depth) {
    if (body.empty()) throw RequestError(400, "empty request body: expected JSON");
    check_depth(body, max_depth);
    try {
        return json::parse(body.begin(), body.end());
    } catch (const json::parse_error& e) {
        throw RequestError(400, "malformed JSON: " + printable(e.what()));
    } catch (const json::out_of_range& e) {
        throw RequestError(400, "number out of range in JSON: " + printable(e.what()));
    } catch (const json::exception& e) {
        throw RequestError(400, "malformed JSON: " + printable(e.what()));
    }
}

std::string valid_utf8(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (size_t i = 0; i < text.size();) {
        size_t bad = 0;
        if (const size_t len = utf8_sequence(text, i, bad)) {
            out.append(text.substr(i, len));
            i += len;
        } else {
            out += kReplacement;
            i += bad;
        }
    }
    return out;
}

std::string printable(std::string_view text, size_t max_bytes) {
    // Look at a bounded prefix only (ending on a character boundary): a 16 MB string costs
    // no more than a short one.
    size_t look = text.size();
    if (look > max_bytes + 4) {
        look = max_bytes + 4;
        for (int k = 0; k < 3 && (static_cast<unsigned char>(text[look]) & 0xC0) == 0x80; ++k) --look;
    }
    const std::string valid = valid_utf8(text.substr(0, look));
    std::string out;
    bool cut = false;
    for (size_t i = 0; i < valid.size();) {
        size_t bad = 0;
        const size_t len = utf8_sequence(valid, i, bad);  // valid: never 0
        std::string piece;
        const auto c = static_cast<unsigned char>(valid[i]);
        if (c < 0x20 || c == 0x7f) {
            char buf[8];
            if (c == '\n') piece = "\\n";
            else if (c == '\r') piece = "\\r";
            else if (c == '\t') piece = "\\t";
            else std::snprintf(buf, sizeof buf, "\\x%02x", c), piece = buf;
        } else {
            piece = valid.substr(i, len);
        }
        if (out.size() + piece.size() > max_bytes) {
            cut = true;
            break;
        }
        out += piece;
        i += len;
    }
    if (cut || look < text.size()) {
        while (out.size() + kCut.size() > max_bytes && !out.empty()) {
            // drop whole characters from the end until "..." fits
            size_t back = out.size() - 1;
            while (back > 0 && (static_cast<unsigned char>(out[back]) & 0xC0) == 0x80) --back;
            out.erase(back);
        }
        out += kCut;
    }
    return out;
}

std::string quote(const json& value, size_t max_bytes) {
    std::string out;
    render(value, 0, max_bytes, out);
    if (out.size() > max_bytes) out = printable(out, max_bytes);
    return out;
}

std::string to_json_text(const json& value) { return value.dump(-1, ' ', false, json::error_handler_t::replace); }

}  // namespace sam::ls
