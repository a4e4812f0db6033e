// ASCII case folding for protocol words (NX commands and parameters, X2Go
// profile keys): A-Z only, whatever the locale; every other byte is kept.
#pragma once

#include <string>
#include <string_view>

namespace rsm::util {

inline std::string ascii_lower(std::string_view s) {
    std::string out{s};
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

}  // namespace rsm::util
