// A reader for the subset of Python's pickle format that torch.save writes (protocol 2, plus
// the few protocol 3-5 opcodes that cost nothing). It only builds a tree of values: GLOBAL
// yields a name, REDUCE/NEWOBJ an inert "object" recording the callable and its arguments,
// BINPERSID a persistent-id record. Nothing is ever looked up or executed; the caller decides
// what the names mean and refuses the ones it does not know.
// Values link by plain pointers into one arena that owns them all, so neither nesting depth
// nor cycles (a list that holds itself through the memo) matter when they are freed, and
// nothing here recurses on the file's structure.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sam::io {

class PickleError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct PickleValue;
using PickleRef = const PickleValue*;  // valid while the root parse_pickle returned is alive

struct PickleValue {
    enum class Kind { None, Bool, Int, Float, String, Bytes, Tuple, List, Dict, Global, Object, PersistentId };
    Kind kind = Kind::None;
    bool boolean = false;
    int64_t integer = 0;
    double number = 0;
    std::string text;                                  // String, Bytes; Global: "module.name"
    std::vector<PickleRef> items;                      // Tuple, List; Object: APPEND(S) onto it
    std::vector<std::pair<PickleRef, PickleRef>> entries;  // Dict; Object: SETITEM(S) onto it (in order)
    PickleRef callable = nullptr;                      // Object: callable(*args), then BUILD(state)
    PickleRef args = nullptr, state = nullptr;
                                                       // PersistentId: args = the id

    bool is(Kind k) const { return kind == k; }
    bool is_object_of(std::string_view global_name) const;  // an Object whose callable is that Global
    // Dict or Object entries: the value of the last entry whose key is that string; nullptr if none.
    const PickleValue* find(std::string_view key) const;
};

// A short human description for error messages: "int 3", "str 'abc'", "tuple of 6",
// "collections.OrderedDict(...)". Never recursive beyond one level.
std::string describe(const PickleValue& v);

// Parses one pickle (up to STOP). The root keeps every value of the pickle alive. Throws
// PickleError "offset N: ..." on anything malformed: unknown opcode, stack underflow, a length
// or memo index that does not exist, data ending before STOP; and on a pickle that builds far
// more than a state dict does (over kMaxPickleValues values, marks or memo entries, or more
// text than twice its size), so a small file cannot make the reader allocate gigabytes.
constexpr size_t kMaxPickleValues = size_t(1) << 20;
std::shared_ptr<const PickleValue> parse_pickle(std::span<const uint8_t> data);

}  // namespace sam::io
