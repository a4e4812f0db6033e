// A minimal JSON writer for rsmctl's --json output: objects, arrays,
// strings (escaped per RFC 8259), unsigned and signed integers, doubles,
// booleans. The caller keeps the nesting right; commas are ours.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

namespace rsm::rsmctl {

class JsonWriter {
public:
    JsonWriter& begin_object() { return open('{'); }
    JsonWriter& end_object() { return close('}'); }
    JsonWriter& begin_array() { return open('['); }
    JsonWriter& end_array() { return close(']'); }

    // The next value's key (inside an object).
    JsonWriter& key(std::string_view k) {
        separate();
        quote(k);
        out_ += ':';
        after_key_ = true;
        return *this;
    }

    JsonWriter& string(std::string_view s) {
        separate();
        quote(s);
        return *this;
    }
    JsonWriter& number(uint64_t v) {
        separate();
        out_ += std::to_string(v);
        return *this;
    }
    JsonWriter& number(int64_t v) {
        separate();
        out_ += std::to_string(v);
        return *this;
    }
    JsonWriter& number(double v) {
        separate();
        char buf[64];
        std::snprintf(buf, sizeof buf, "%.17g", v);
        out_ += buf;
        return *this;
    }
    JsonWriter& boolean(bool b) {
        separate();
        out_ += b ? "true" : "false";
        return *this;
    }

    const std::string& str() const noexcept { return out_; }

    // The JSON string literal for s (with the quotes).
    static std::string quoted(std::string_view s) {
        JsonWriter w;
        w.quote(s);
        return w.out_;
    }

private:
    JsonWriter& open(char c) {
        separate();
        out_ += c;
        first_.push_back(true);
        return *this;
    }
    JsonWriter& close(char c) {
        if (!first_.empty()) first_.pop_back();
        out_ += c;
        return *this;
    }
    // A comma before every value but the first of its container; none
    // between a key and its value.
    void separate() {
        if (after_key_) {
            after_key_ = false;
            return;
        }
        if (first_.empty()) return;
        if (!first_.back()) out_ += ',';
        first_.back() = false;
    }
    void quote(std::string_view s) {
        out_ += '"';
        for (const char ch : s) {
            const auto c = static_cast<unsigned char>(ch);
            switch (c) {
            case '"': out_ += "\\\""; break;
            case '\\': out_ += "\\\\"; break;
            case '\b': out_ += "\\b"; break;
            case '\f': out_ += "\\f"; break;
            case '\n': out_ += "\\n"; break;
            case '\r': out_ += "\\r"; break;
            case '\t': out_ += "\\t"; break;
            default:
                if (c < 0x20 || c == 0x7f) {
                    char buf[8];
                    std::snprintf(buf, sizeof buf, "\\u%04x", c);
                    out_ += buf;
                } else {
                    // D-Bus strings are valid UTF-8 (sd-bus checks): bytes
                    // >= 0x80 pass through unchanged.
                    out_ += ch;
                }
            }
        }
        out_ += '"';
    }

    std::string out_;
    std::vector<bool> first_;
    bool after_key_ = false;
};

}  // namespace rsm::rsmctl
