#include "util/secret_string.hpp"

#include <string.h>
#include <utility>

namespace rsm::util {

void wipe(std::string& s) noexcept {
    // resize() up to the capacity never reallocates (so cannot throw) and
    // fills the slack with '\0'; explicit_bzero then covers the whole
    // buffer, old value included, in a way the optimizer keeps.
    s.resize(s.capacity());
    if (!s.empty()) explicit_bzero(s.data(), s.size());
    s.clear();
}

void wipe(std::vector<std::string>& v) noexcept {
    for (auto& s : v) wipe(s);
    v.clear();
}

void wipe(std::vector<SecretString>& v) noexcept {
    for (auto& s : v) s.clear();
    v.clear();
}

SecretString::SecretString(std::string&& s) noexcept : value_{std::move(s)} { wipe(s); }

SecretString::SecretString(std::string_view s) {
    // Reserve first: growing while copying would free a partial copy unwiped.
    value_.reserve(s.size());
    value_.assign(s);
}

SecretString::SecretString(SecretString&& o) noexcept : value_{std::move(o.value_)} { wipe(o.value_); }

SecretString& SecretString::operator=(SecretString&& o) noexcept {
    if (this != &o) {
        wipe(value_);
        value_ = std::move(o.value_);
        wipe(o.value_);
    }
    return *this;
}

SecretString& SecretString::operator=(std::string&& s) noexcept {
    wipe(value_);
    value_ = std::move(s);
    wipe(s);
    return *this;
}

}  // namespace rsm::util
