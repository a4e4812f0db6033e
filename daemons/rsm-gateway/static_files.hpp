// The browser's files: noVNC's pages and scripts from an admin-configured
// directory (Debian's novnc package: /usr/share/novnc), looked up by the
// URL path of a GET or HEAD. The URL comes from the network; the directory
// does not (gateway.toml is root's), so what is guarded is that no URL
// names anything outside the directory, nor anything there but a regular
// file (static_files.cpp says how).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "util/fd.hpp"

namespace rsm::gateway {

// The directory that `/` (vnc.html) and every other path are under.
inline constexpr std::string_view default_novnc_root = "/usr/share/novnc";
inline constexpr std::string_view index_file = "vnc.html";

struct StaticFile {
    UniqueFd fd;  // blocking, for reading (MHD reads it by fd)
    std::uint64_t size = 0;
    std::string_view content_type;
};

struct StaticLookup {
    std::optional<StaticFile> file;
    std::string error;  // why there is none (for the journal; the client gets 404)
};

// The root directory, or an invalid fd with `error` set.
UniqueFd open_static_root(const std::string& path, std::string& error);

// The file a URL path (already percent-decoded, query removed; MHD does
// both) names under root_fd. Refused: a path not starting with '/', an
// empty, "." or ".." segment, any segment starting with '.', more than 16
// segments or 1024 bytes, a symlink that leads out of the root, anything
// but a regular file, and a file whose type is not in the table below.
StaticLookup open_static(int root_fd, std::string_view url_path);

// The Content-Type for a file name by its extension; "" if not served.
std::string_view content_type_for(std::string_view name) noexcept;

}  // namespace rsm::gateway
