// Secrets in memory: passwords and PAM conversation answers.
//
// A SecretString owns its characters and overwrites them with zeros
// (explicit_bzero, which the compiler may not drop) before its buffer is
// freed or handed on: on destruction, on clear(), and in the moved-from
// object of a move. It cannot be copied by accident (no copy constructor);
// an explicit SecretString{view} makes a second secret on purpose.
//
//   util::SecretString password{bus::read_string(m)};  // the temporary is wiped
//   pam_set_item(h, PAM_AUTHTOK, password.c_str());
//
// This is best effort, as everything of the kind: what a library copied
// (sd-bus buffers, libpam's own copies) is out of reach here; see
// sd_bus_message_sensitive for the bus messages.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace rsm::util {

// Zeros every byte of the string's buffer, including the slack behind its
// size (where an earlier, longer value may have been), then empties it.
// The buffer is kept (capacity unchanged).
void wipe(std::string& s) noexcept;
// wipe() on every element, then empties the vector.
void wipe(std::vector<std::string>& v) noexcept;

class SecretString {
public:
    SecretString() noexcept = default;
    // Takes the characters of `s` and wipes what `s` is left holding (a
    // short string's inline buffer is copied, not moved, by std::string).
    SecretString(std::string&& s) noexcept;  // NOLINT(google-explicit-constructor): wiping is the point
    // A copy of `s`, which the caller still owns (and wipes).
    explicit SecretString(std::string_view s);
    explicit SecretString(const char* s) : SecretString(std::string_view(s ? s : "")) {}
    ~SecretString() { wipe(value_); }

    SecretString(SecretString&& o) noexcept;
    SecretString& operator=(SecretString&& o) noexcept;
    SecretString& operator=(std::string&& s) noexcept;
    SecretString(const SecretString&) = delete;
    SecretString& operator=(const SecretString&) = delete;

    const char* c_str() const noexcept { return value_.c_str(); }
    std::string_view view() const noexcept { return value_; }
    std::size_t size() const noexcept { return value_.size(); }
    bool empty() const noexcept { return value_.empty(); }
    // Wipes and empties.
    void clear() noexcept { wipe(value_); }

    friend bool operator==(const SecretString& a, std::string_view b) noexcept { return a.view() == b; }

private:
    std::string value_;
};

// wipe() for a vector of secrets: clears (and so wipes) every element.
void wipe(std::vector<SecretString>& v) noexcept;

}  // namespace rsm::util
