#include "io/pickle.hpp"

#include <cstdio>
#include <cstring>
#include <deque>
#include <unordered_map>

namespace sam::io {

namespace {

using Kind = PickleValue::Kind;

const char* kind_name(Kind k) {
    switch (k) {
        case Kind::None: return "None";
        case Kind::Bool: return "bool";
        case Kind::Int: return "int";
        case Kind::Float: return "float";
        case Kind::String: return "str";
        case Kind::Bytes: return "bytes";
        case Kind::Tuple: return "tuple";
        case Kind::List: return "list";
        case Kind::Dict: return "dict";
        case Kind::Global: return "global";
        case Kind::Object: return "object";
        case Kind::PersistentId: return "persistent id";
    }
    return "?";
}

class Parser {
public:
    explicit Parser(std::span<const uint8_t> data)
        : p_(data.data()), n_(data.size()), text_budget_(2 * data.size()), arena_(std::make_shared<Arena>()) {}

    std::shared_ptr<const PickleValue> run() {
        while (true) {
            op_pos_ = pos_;
            uint8_t op = u8();
            if (op == '.') {  // STOP
                if (stack_.size() != 1 || !marks_.empty())
                    fail("STOP with " + std::to_string(stack_.size()) + " values on the stack (expected 1)");
                // The root shares ownership of the whole arena.
                return std::shared_ptr<const PickleValue>(arena_, stack_.back());
            }
            step(op);
        }
    }

private:
    using Arena = std::deque<PickleValue>;  // stable addresses; freed flat, whatever links them

    const uint8_t* p_;
    size_t n_;
    size_t pos_ = 0, op_pos_ = 0;
    size_t text_budget_;  // bytes of text still allowed (GLOBAL names are built from memoised strings)
    std::shared_ptr<Arena> arena_;
    std::vector<PickleValue*> stack_;
    std::vector<size_t> marks_;
    std::unordered_map<uint64_t, PickleValue*> memo_;

    PickleValue* make(Kind k) {
        if (arena_->size() >= kMaxPickleValues)
            fail("more than " + std::to_string(kMaxPickleValues) + " values: not a state dict");
        PickleValue& v = arena_->emplace_back();
        v.kind = k;
        return &v;
    }
    void spend_text(size_t bytes) {
        if (bytes > text_budget_) fail("builds more text than twice the pickle's size: not a state dict");
        text_budget_ -= bytes;
    }

    [[noreturn]] void fail(const std::string& what) const {
        throw PickleError("offset " + std::to_string(op_pos_) + ": " + what);
    }

    const uint8_t* take(uint64_t len) {
        if (len > n_ - pos_)
            fail("needs " + std::to_string(len) + " bytes but only " + std::to_string(n_ - pos_) +
                 " remain (truncated or corrupt pickle)");
        const uint8_t* q = p_ + pos_;
        pos_ += static_cast<size_t>(len);
        return q;
    }
    uint8_t u8() {
        if (pos_ >= n_) fail("pickle ends without a STOP opcode");
        return p_[pos_++];
    }
    uint64_t uint_le(int bytes) {
        const uint8_t* q = take(bytes);
        uint64_t v = 0;
        for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | q[i];
        return v;
    }
    std::string line() {  // GLOBAL's newline-terminated names
        size_t start = pos_;
        while (pos_ < n_ && p_[pos_] != '\n') ++pos_;
        if (pos_ >= n_) fail("GLOBAL name without a terminating newline");
        std::string s(reinterpret_cast<const char*>(p_ + start), pos_ - start);
        ++pos_;
        return s;
    }

    void push(PickleValue* v) { stack_.push_back(v); }
    PickleValue* pop() {
        size_t floor = marks_.empty() ? 0 : marks_.back();
        if (stack_.size() <= floor) fail("stack underflow");
        PickleValue* v = stack_.back();
        stack_.pop_back();
        return v;
    }
    PickleValue* top() {
        size_t floor = marks_.empty() ? 0 : marks_.back();
        if (stack_.size() <= floor) fail("stack underflow");
        return stack_.back();
    }
    void mark() {
        if (marks_.size() >= kMaxPickleValues) fail("more than " + std::to_string(kMaxPickleValues) + " MARKs open");
        marks_.push_back(stack_.size());
    }
    std::vector<PickleRef> pop_mark() {
        if (marks_.empty()) fail("no MARK to pop to");
        size_t m = marks_.back();
        marks_.pop_back();
        std::vector<PickleRef> out(stack_.begin() + m, stack_.end());
        stack_.resize(m);
        return out;
    }

    PickleValue* scalar_int(int64_t v) {
        PickleValue* r = make(Kind::Int);
        r->integer = v;
        return r;
    }
    PickleValue* text(Kind k, uint64_t len) {
        const uint8_t* q = take(len);
        PickleValue* r = make(k);
        r->text.assign(reinterpret_cast<const char*>(q), static_cast<size_t>(len));
        return r;
    }
    PickleValue* tuple(std::vector<PickleRef> items) {
        PickleValue* r = make(Kind::Tuple);
        r->items = std::move(items);
        return r;
    }
    PickleValue* global(const std::string& module, const std::string& name) {
        spend_text(module.size() + 1 + name.size());
        PickleValue* r = make(Kind::Global);
        r->text = module + "." + name;
        return r;
    }
    PickleValue* object(PickleValue* callable, PickleValue* args) {
        if (!callable->is(Kind::Global)) fail("REDUCE of " + std::string(kind_name(callable->kind)) + ", not of a global");
        if (!args->is(Kind::Tuple)) fail("REDUCE arguments are " + std::string(kind_name(args->kind)) + ", not a tuple");
        PickleValue* r = make(Kind::Object);
        r->callable = callable;
        r->args = args;
        return r;
    }
    void set_items(PickleValue& target, std::vector<PickleRef>& kv) {
        if (!target.is(Kind::Dict) && !target.is(Kind::Object))
            fail("SETITEM on a " + std::string(kind_name(target.kind)));
        if (kv.size() % 2) fail("SETITEMS with an odd number of values");
        for (size_t i = 0; i < kv.size(); i += 2) target.entries.emplace_back(kv[i], kv[i + 1]);
    }
    void append_items(PickleValue& target, std::vector<PickleRef>& vs) {
        if (!target.is(Kind::List) && !target.is(Kind::Object)) fail("APPEND on a " + std::string(kind_name(target.kind)));
        target.items.insert(target.items.end(), vs.begin(), vs.end());
    }
    void put(uint64_t idx) {
        if (memo_.size() >= kMaxPickleValues && !memo_.count(idx))
            fail("more than " + std::to_string(kMaxPickleValues) + " memo entries");
        memo_[idx] = top();
    }
    void get(uint64_t idx) {
        auto it = memo_.find(idx);
        if (it == memo_.end()) fail("memo index " + std::to_string(idx) + " was never stored");
        push(it->second);
    }

    void step(uint8_t op) {
        switch (op) {
            case 0x80: {  // PROTO
                uint8_t v = u8();
                if (v > 5) fail("unsupported pickle protocol " + std::to_string(v));
                break;
            }
            case 0x95: take(8); break;  // FRAME: a length hint only
            case '(': mark(); break;                           // MARK
            case '0': pop(); break;                            // POP
            case '1': pop_mark(); break;                       // POP_MARK
            case '2': push(top()); break;                      // DUP
            case 'N': push(make(Kind::None)); break;
            case 0x88:  // NEWTRUE
            case 0x89: {  // NEWFALSE
                PickleValue* b = make(Kind::Bool);
                b->boolean = op == 0x88;
                push(b);
                break;
            }
            case 'J': push(scalar_int(static_cast<int32_t>(uint_le(4)))); break;  // BININT
            case 'K': push(scalar_int(static_cast<int64_t>(uint_le(1)))); break;  // BININT1
            case 'M': push(scalar_int(static_cast<int64_t>(uint_le(2)))); break;  // BININT2
            case 0x8a:  // LONG1
            case 0x8b: {  // LONG4
                uint64_t len = op == 0x8a ? uint_le(1) : uint_le(4);
                if (len > 8) fail("integer of " + std::to_string(len) + " bytes is too large");
                const uint8_t* q = take(len);
                uint64_t v = 0;
                for (size_t i = len; i-- > 0;) v = (v << 8) | q[i];
                if (len > 0 && len < 8 && (q[len - 1] & 0x80)) v |= ~uint64_t(0) << (8 * len);  // sign-extend
                push(scalar_int(static_cast<int64_t>(v)));
                break;
            }
            case 'G': {  // BINFLOAT: big-endian double
                const uint8_t* q = take(8);
                uint64_t bits = 0;
                for (int i = 0; i < 8; ++i) bits = (bits << 8) | q[i];
                PickleValue* f = make(Kind::Float);
                std::memcpy(&f->number, &bits, 8);
                push(f);
                break;
            }
            case 'X': push(text(Kind::String, uint_le(4))); break;    // BINUNICODE
            case 0x8c: push(text(Kind::String, uint_le(1))); break;   // SHORT_BINUNICODE
            case 0x8d: push(text(Kind::String, uint_le(8))); break;   // BINUNICODE8
            case 'T': push(text(Kind::String, uint_le(4))); break;    // BINSTRING (Python 2 str)
            case 'U': push(text(Kind::String, uint_le(1))); break;    // SHORT_BINSTRING
            case 'B': push(text(Kind::Bytes, uint_le(4))); break;     // BINBYTES
            case 'C': push(text(Kind::Bytes, uint_le(1))); break;     // SHORT_BINBYTES
            case 0x8e: push(text(Kind::Bytes, uint_le(8))); break;    // BINBYTES8
            case ')': push(tuple({})); break;                         // EMPTY_TUPLE
            case 't': push(tuple(pop_mark())); break;                 // TUPLE
            case 0x85:  // TUPLE1
            case 0x86:  // TUPLE2
            case 0x87: {  // TUPLE3
                size_t k = op - 0x84;
                std::vector<PickleRef> items(k);
                for (size_t i = k; i-- > 0;) items[i] = pop();
                push(tuple(std::move(items)));
                break;
            }
            case ']': push(make(Kind::List)); break;  // EMPTY_LIST
            case 'l': {                               // LIST
                PickleValue* l = make(Kind::List);
                l->items = pop_mark();
                push(l);
                break;
            }
            case 'a': {  // APPEND
                std::vector<PickleRef> v{pop()};
                append_items(*top(), v);
                break;
            }
            case 'e': {  // APPENDS
                auto v = pop_mark();
                append_items(*top(), v);
                break;
            }
            case '}': push(make(Kind::Dict)); break;  // EMPTY_DICT
            case 'd': {                               // DICT
                auto kv = pop_mark();
                PickleValue* d = make(Kind::Dict);
                set_items(*d, kv);
                push(d);
                break;
            }
            case 's': {  // SETITEM
                PickleRef v = pop(), k = pop();
                std::vector<PickleRef> kv{k, v};
                set_items(*top(), kv);
                break;
            }
            case 'u': {  // SETITEMS
                auto kv = pop_mark();
                set_items(*top(), kv);
                break;
            }
            case 'c': {  // GLOBAL
                std::string module = line();
                std::string name = line();
                push(global(module, name));
                break;
            }
            case 0x93: {  // STACK_GLOBAL
                PickleValue *name = pop(), *module = pop();
                if (!name->is(Kind::String) || !module->is(Kind::String)) fail("STACK_GLOBAL needs two strings");
                push(global(module->text, name->text));
                break;
            }
            case 'R':     // REDUCE
            case 0x81: {  // NEWOBJ
                PickleValue *args = pop(), *callable = pop();
                push(object(callable, args));
                break;
            }
            case 'b': {  // BUILD
                PickleRef state = pop();
                PickleValue* target = top();
                if (!target->is(Kind::Object)) fail("BUILD on a " + std::string(kind_name(target->kind)));
                target->state = state;
                break;
            }
            case 'Q': {  // BINPERSID
                PickleValue* id = make(Kind::PersistentId);
                id->args = pop();
                push(id);
                break;
            }
            case 'q': put(uint_le(1)); break;    // BINPUT
            case 'r': put(uint_le(4)); break;    // LONG_BINPUT
            case 0x94: put(memo_.size()); break;  // MEMOIZE
            case 'h': get(uint_le(1)); break;    // BINGET
            case 'j': get(uint_le(4)); break;    // LONG_BINGET
            default: {
                char hex[8];
                std::snprintf(hex, sizeof hex, "0x%02x", op);
                fail(std::string("unsupported pickle opcode ") + hex);
            }
        }
    }
};

}  // namespace

bool PickleValue::is_object_of(std::string_view global_name) const {
    return kind == Kind::Object && callable && callable->text == global_name;
}

const PickleValue* PickleValue::find(std::string_view key) const {
    if (kind != Kind::Dict && kind != Kind::Object) return nullptr;
    for (size_t i = entries.size(); i-- > 0;)
        if (entries[i].first->is(Kind::String) && entries[i].first->text == key) return entries[i].second;
    return nullptr;
}

std::string describe(const PickleValue& v) {
    switch (v.kind) {
        case Kind::None: return "None";
        case Kind::Bool: return v.boolean ? "True" : "False";
        case Kind::Int: return "int " + std::to_string(v.integer);
        case Kind::Float: return "float " + std::to_string(v.number);
        case Kind::String: return "str '" + (v.text.size() > 40 ? v.text.substr(0, 40) + "..." : v.text) + "'";
        case Kind::Bytes: return "bytes of length " + std::to_string(v.text.size());
        case Kind::Tuple: return "tuple of " + std::to_string(v.items.size());
        case Kind::List: return "list of " + std::to_string(v.items.size());
        case Kind::Dict: return "dict of " + std::to_string(v.entries.size());
        case Kind::Global: return "global " + v.text;
        case Kind::Object: return v.callable->text + "(...)";
        case Kind::PersistentId: return "persistent id";
    }
    return "?";
}

std::shared_ptr<const PickleValue> parse_pickle(std::span<const uint8_t> data) { return Parser(data).run(); }

}  // namespace sam::io
