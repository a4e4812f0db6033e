// The two packet encodings of xpra 3.1 that rsm-gateway needs before a
// client is authenticated: a rencode *decoder* (the default of xpra's
// clients: python3-rencode 1.0.6's format) and bencode both ways (xpra's own
// variant, with 'u' for UTF-8 strings; every xpra peer accepts it, so the
// gateway's own packets are bencoded). Only the first packets of a
// connection go through here: after the login the relay passes bytes
// through untouched.
//
// Hand-written and fuzzed (tests/fuzz/fuzz_xpra_codec.cpp): the input is
// untrusted network bytes. Bounded: nesting at most max_depth, every length
// checked against the input; an error says what and where.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace rsm::gateway::xpra {

struct Value;
using List = std::vector<Value>;
using Dict = std::vector<std::pair<Value, Value>>;  // in wire order
struct None {
    bool operator==(const None&) const = default;
};
// An integer beyond 64 bits (rencode's decimal form allows 64 digits): kept
// as its text.
struct BigInt {
    std::string digits;
    bool operator==(const BigInt&) const = default;
};

struct Value {
    std::variant<None, bool, std::int64_t, BigInt, double, std::string, List, Dict> v;

    // Implicit on purpose: packets read like Python literals in code and tests.
    Value() = default;
    Value(None) {}
    Value(bool b) : v(b) {}
    Value(int i) : v(std::int64_t{i}) {}
    Value(std::int64_t i) : v(i) {}
    Value(BigInt b) : v(std::move(b)) {}
    Value(double d) : v(d) {}
    Value(std::string s) : v(std::move(s)) {}
    Value(const char* s) : v(std::string(s)) {}
    Value(List l) : v(std::move(l)) {}
    Value(Dict d) : v(std::move(d)) {}

    bool operator==(const Value&) const = default;

    const std::string* string() const noexcept { return std::get_if<std::string>(&v); }
    const List* list() const noexcept { return std::get_if<List>(&v); }
    const Dict* dict() const noexcept { return std::get_if<Dict>(&v); }
    const std::int64_t* integer() const noexcept { return std::get_if<std::int64_t>(&v); }
    // The value under string key `key` of a dict, or nullptr.
    const Value* find(std::string_view key) const noexcept;
};

inline constexpr int max_depth = 32;

struct Decoded {
    std::optional<Value> value;
    std::string error;  // set when !value: "offset 12: unknown type code 0xf0"
};

// The whole input must be one value (trailing bytes are an error).
Decoded rencode_decode(std::span<const std::uint8_t> bytes);
Decoded bencode_decode(std::span<const std::uint8_t> bytes);

// bencode as xpra reads it: bool as 0/1; None and floats have no bencode
// form and are written as 0 (the gateway never sends them).
std::string bencode_encode(const Value& value);

}  // namespace rsm::gateway::xpra
