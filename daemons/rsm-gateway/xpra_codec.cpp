#include "xpra_codec.hpp"

#include <bit>
#include <charconv>
#include <cstdio>
#include <cstring>

namespace rsm::gateway::xpra {

const Value* Value::find(std::string_view key) const noexcept {
    const Dict* d = dict();
    if (!d) return nullptr;
    for (const auto& [k, val] : *d)
        if (const std::string* s = k.string(); s && *s == key) return &val;
    return nullptr;
}

namespace {

// A failure anywhere unwinds with its message; the decoders catch it at the top.
struct DecodeError {
    std::string message;
};

class Reader {
public:
    explicit Reader(std::span<const std::uint8_t> b) : b_{b} {}
    bool at_end() const noexcept { return pos_ >= b_.size(); }
    std::size_t pos() const noexcept { return pos_; }
    [[noreturn]] void fail(const std::string& what) const {
        throw DecodeError{"offset " + std::to_string(pos_) + ": " + what};
    }
    std::uint8_t peek() const {
        if (at_end()) fail("truncated");
        return b_[pos_];
    }
    std::uint8_t next() {
        const std::uint8_t c = peek();
        ++pos_;
        return c;
    }
    std::span<const std::uint8_t> take(std::size_t n) {
        if (n > b_.size() - pos_) fail("length " + std::to_string(n) + " runs past the end");
        auto s = b_.subspan(pos_, n);
        pos_ += n;
        return s;
    }
    // ASCII digits (optionally one leading '-') up to `end`, which is consumed.
    std::string_view digits_until(std::uint8_t end, std::size_t max) {
        const std::size_t start = pos_;
        while (peek() != end) {
            const std::uint8_t c = next();
            if (!((c >= '0' && c <= '9') || (c == '-' && pos_ - 1 == start))) fail("not a digit in a number");
            if (pos_ - start > max) fail("number too long");
        }
        const std::string_view text(reinterpret_cast<const char*>(b_.data() + start), pos_ - start);
        ++pos_;
        return text;
    }

private:
    std::span<const std::uint8_t> b_;
    std::size_t pos_ = 0;
};

// "12", "-7": no leading zeros, no "-0", as both Python decoders insist.
Value parse_integer(const Reader& r, std::string_view text) {
    if (text.empty() || text == "-") r.fail("empty number");
    const std::string_view mag = text.front() == '-' ? text.substr(1) : text;
    if (mag.size() > 1 && mag.front() == '0') r.fail("leading zero in a number");
    if (text.front() == '-' && mag == "0") r.fail("negative zero");
    std::int64_t n = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec == std::errc::result_out_of_range) return BigInt{std::string(text)};
    if (ec != std::errc{} || end != text.data() + text.size()) r.fail("bad number");
    return n;
}

std::size_t parse_length(const Reader& r, std::string_view text) {
    if (text.empty() || text.front() == '-') r.fail("bad string length");
    if (text.size() > 1 && text.front() == '0') r.fail("leading zero in a string length");
    std::size_t n = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec != std::errc{} || end != text.data() + text.size()) r.fail("bad string length");
    return n;
}

std::string as_string(std::span<const std::uint8_t> s) { return std::string(s.begin(), s.end()); }

template <class T>
T big_endian(std::span<const std::uint8_t> s) {
    std::make_unsigned_t<T> u = 0;
    for (const std::uint8_t c : s) u = static_cast<std::make_unsigned_t<T>>((u << 8) | c);
    return static_cast<T>(u);
}

// rencode 1.0.6 type codes (rencode_orig.py).
namespace rc {
constexpr std::uint8_t list = 59, dict = 60, integer = 61, int1 = 62, int2 = 63, int4 = 64, int8 = 65,
                       float32 = 66, float64 = 44, true_ = 67, false_ = 68, none = 69, term = 127;
constexpr std::uint8_t int_pos_start = 0, int_pos_count = 44;
constexpr std::uint8_t int_neg_start = 70, int_neg_count = 32;
constexpr std::uint8_t dict_fixed_start = 102, dict_fixed_count = 25;
constexpr std::uint8_t str_fixed_start = 128, str_fixed_count = 64;
constexpr std::uint8_t list_fixed_start = 192;  // 64 of them, to 255
constexpr std::size_t max_int_length = 64;
}  // namespace rc

Value rdecode(Reader& r, int depth) {
    if (depth > max_depth) r.fail("nested too deeply");
    const std::uint8_t c = r.peek();
    if (c >= '0' && c <= '9') {
        const std::size_t n = parse_length(r, r.digits_until(':', 20));
        return as_string(r.take(n));
    }
    if (c >= rc::str_fixed_start && c < rc::str_fixed_start + rc::str_fixed_count) {
        r.next();
        return as_string(r.take(c - rc::str_fixed_start));
    }
    if (c < rc::int_pos_start + rc::int_pos_count) {
        r.next();
        return std::int64_t{c};
    }
    if (c >= rc::int_neg_start && c < rc::int_neg_start + rc::int_neg_count) {
        r.next();
        return std::int64_t{-1 - (c - rc::int_neg_start)};
    }
    if (c >= rc::list_fixed_start) {
        r.next();
        List l;
        for (int i = 0; i < c - rc::list_fixed_start; ++i) l.push_back(rdecode(r, depth + 1));
        return l;
    }
    if (c >= rc::dict_fixed_start && c < rc::dict_fixed_start + rc::dict_fixed_count) {
        r.next();
        Dict d;
        for (int i = 0; i < c - rc::dict_fixed_start; ++i) {
            Value k = rdecode(r, depth + 1);
            d.emplace_back(std::move(k), rdecode(r, depth + 1));
        }
        return d;
    }
    r.next();
    switch (c) {
    case rc::list: {
        List l;
        while (r.peek() != rc::term) l.push_back(rdecode(r, depth + 1));
        r.next();
        return l;
    }
    case rc::dict: {
        Dict d;
        while (r.peek() != rc::term) {
            Value k = rdecode(r, depth + 1);
            d.emplace_back(std::move(k), rdecode(r, depth + 1));
        }
        r.next();
        return d;
    }
    case rc::integer: return parse_integer(r, r.digits_until(rc::term, rc::max_int_length));
    case rc::int1: return std::int64_t{big_endian<std::int8_t>(r.take(1))};
    case rc::int2: return std::int64_t{big_endian<std::int16_t>(r.take(2))};
    case rc::int4: return std::int64_t{big_endian<std::int32_t>(r.take(4))};
    case rc::int8: return big_endian<std::int64_t>(r.take(8));
    case rc::float32: return double{std::bit_cast<float>(big_endian<std::uint32_t>(r.take(4)))};
    case rc::float64: return std::bit_cast<double>(big_endian<std::uint64_t>(r.take(8)));
    case rc::true_: return true;
    case rc::false_: return false;
    case rc::none: return None{};
    default: break;
    }
    char code[8];
    std::snprintf(code, sizeof code, "0x%02x", c);
    r.fail(std::string("unknown rencode type code ") + code);
}

Value bdecode(Reader& r, int depth) {
    if (depth > max_depth) r.fail("nested too deeply");
    const std::uint8_t c = r.peek();
    if (c >= '0' && c <= '9') {
        const std::size_t n = parse_length(r, r.digits_until(':', 20));
        return as_string(r.take(n));
    }
    r.next();
    switch (c) {
    case 'u': {  // xpra: a UTF-8 string
        if (!(r.peek() >= '0' && r.peek() <= '9')) r.fail("bad unicode string");
        const std::size_t n = parse_length(r, r.digits_until(':', 20));
        return as_string(r.take(n));
    }
    case 'i': return parse_integer(r, r.digits_until('e', rc::max_int_length));
    case 'l': {
        List l;
        while (r.peek() != 'e') l.push_back(bdecode(r, depth + 1));
        r.next();
        return l;
    }
    case 'd': {
        Dict d;
        while (r.peek() != 'e') {
            Value k = bdecode(r, depth + 1);
            d.emplace_back(std::move(k), bdecode(r, depth + 1));
        }
        r.next();
        return d;
    }
    default: break;
    }
    char code[8];
    std::snprintf(code, sizeof code, "0x%02x", c);
    r.fail(std::string("unknown bencode type code ") + code);
}

template <class F>
Decoded decode_all(std::span<const std::uint8_t> bytes, F decode) {
    Reader r{bytes};
    Decoded out;
    try {
        if (bytes.empty()) r.fail("empty");
        Value v = decode(r, 0);
        if (!r.at_end()) r.fail(std::to_string(bytes.size() - r.pos()) + " trailing bytes");
        out.value = std::move(v);
    } catch (const DecodeError& e) {
        out.error = e.message;
    }
    return out;
}

void bencode_to(const Value& value, std::string& out) {
    struct Visitor {
        std::string& out;
        void operator()(None) const { out += "i0e"; }
        void operator()(bool b) const { out += b ? "i1e" : "i0e"; }
        void operator()(std::int64_t i) const { out += "i" + std::to_string(i) + "e"; }
        void operator()(const BigInt& b) const { out += "i" + b.digits + "e"; }
        void operator()(double) const { out += "i0e"; }
        void operator()(const std::string& s) const {
            out += std::to_string(s.size());
            out += ':';
            out += s;
        }
        void operator()(const List& l) const {
            out += 'l';
            for (const auto& x : l) bencode_to(x, out);
            out += 'e';
        }
        void operator()(const Dict& d) const {
            out += 'd';
            for (const auto& [k, x] : d) {
                bencode_to(k, out);
                bencode_to(x, out);
            }
            out += 'e';
        }
    };
    std::visit(Visitor{out}, value.v);
}

}  // namespace

Decoded rencode_decode(std::span<const std::uint8_t> bytes) { return decode_all(bytes, rdecode); }
Decoded bencode_decode(std::span<const std::uint8_t> bytes) { return decode_all(bytes, bdecode); }

std::string bencode_encode(const Value& value) {
    std::string out;
    bencode_to(value, out);
    return out;
}

}  // namespace rsm::gateway::xpra
