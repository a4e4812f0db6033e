#include "static_files.hpp"

#include <array>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <climits>
#include <sys/stat.h>
#include <unistd.h>
#include <utility>
#include <vector>

namespace rsm::gateway {

// How the lookup stays inside the root.
//
// The root is named by the administrator (gateway.toml is root's, the
// default is the novnc package's directory, whose files are root's), and
// the gateway reads it as an unprivileged user in a read-only sandbox: the
// tree is trusted, the URL is not. So:
//  - the URL path is split into segments and each is checked before any
//    file system call: no empty, ".", ".." or other dot-segment (no hidden
//    files either), nothing that could be read as a path of its own;
//  - each segment is opened from its parent's fd with O_NOFOLLOW (openat),
//    so a path is never re-resolved from a string;
//  - a segment that is a symlink (Debian's novnc has vnc_auto.html ->
//    vnc.html) is followed only when its target (readlinkat) is relative
//    and made of segments that pass the same check (no "..", no "/" at the
//    start, no dot-segments), walked the same way from the link's own
//    directory, at most 8 links deep: such a target can only lead further
//    down, so a symlink in the tree cannot take a URL outside the root
//    either, whatever else the tree holds. (openat2's RESOLVE_BENEATH would
//    allow "../x" inside the root too, but systemd-nspawn's system-call
//    filter answers it with ENOSYS, and novnc needs nothing of the kind.)
//  - the result must be a regular file (fstat on the opened fd; it was
//    opened O_NONBLOCK, so a FIFO or device cannot block the open) of a
//    type in the table.
namespace {

struct Type {
    std::string_view extension;
    std::string_view content_type;
};

constexpr std::array<Type, 12> types{{
    {"html", "text/html; charset=utf-8"},
    {"js", "text/javascript; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},
    {"json", "application/json"},
    {"png", "image/png"},
    {"svg", "image/svg+xml"},
    {"ico", "image/x-icon"},
    {"ttf", "font/ttf"},
    {"woff", "font/woff"},
    {"woff2", "font/woff2"},
    {"oga", "audio/ogg"},
    {"mp3", "audio/mpeg"},
}};

constexpr std::size_t max_segments = 16;
constexpr std::size_t max_path = 1024;

StaticLookup refuse(std::string why) { return {std::nullopt, std::move(why)}; }

constexpr int max_links = 8;
constexpr int directory_flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC;

// A segment of a URL path or of a symlink's target that may be opened.
bool plain_segment(std::string_view seg) noexcept {
    return !seg.empty() && seg[0] != '.' && seg.find('\0') == std::string_view::npos;
}

// Splits "a/b/c" into plain segments; false if any is not plain.
bool split_plain(std::string_view path, std::vector<std::string>& out) {
    for (std::size_t pos = 0;;) {
        const std::size_t end = path.find('/', pos);
        const std::string_view seg = path.substr(pos, end == std::string_view::npos ? end : end - pos);
        if (!plain_segment(seg)) return false;
        out.emplace_back(seg);
        if (end == std::string_view::npos) return true;
        pos = end + 1;
    }
}

// Opens `segment` in `dir` without following a symlink, or through one
// whose target leads only further down (see above). EXDEV: a link whose
// target is not allowed.
int open_segment(int dir, const std::string& segment, int flags, int depth) {
    const int fd = ::openat(dir, segment.c_str(), flags | O_NOFOLLOW);
    if (fd >= 0 || (errno != ELOOP && errno != ENOTDIR)) return fd;
    struct stat st {};
    if (::fstatat(dir, segment.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISLNK(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    if (depth >= max_links) {
        errno = ELOOP;
        return -1;
    }
    char target[PATH_MAX];
    const ssize_t n = ::readlinkat(dir, segment.c_str(), target, sizeof target);
    if (n <= 0 || static_cast<std::size_t>(n) >= sizeof target) {
        errno = EXDEV;
        return -1;
    }
    std::vector<std::string> parts;
    if (!split_plain(std::string_view(target, static_cast<std::size_t>(n)), parts)) {
        errno = EXDEV;
        return -1;
    }
    UniqueFd cur;  // invalid: `dir` itself
    for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
        UniqueFd next{open_segment(cur ? cur.get() : dir, parts[i], directory_flags, depth + 1)};
        if (!next) return -1;
        cur = std::move(next);
    }
    return open_segment(cur ? cur.get() : dir, parts.back(), flags, depth + 1);
}

}  // namespace

std::string_view content_type_for(std::string_view name) noexcept {
    const auto dot = name.rfind('.');
    if (dot == std::string_view::npos || dot == 0) return {};
    const std::string_view ext = name.substr(dot + 1);
    for (const auto& t : types)
        if (t.extension == ext) return t.content_type;
    return {};
}

UniqueFd open_static_root(const std::string& path, std::string& error) {
    UniqueFd fd{::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
    if (!fd) error = "cannot open the noVNC directory " + path + ": " + std::strerror(errno);
    return fd;
}

StaticLookup open_static(int root_fd, std::string_view url) {
    if (url.empty() || url[0] != '/') return refuse("the path does not start with /");
    if (url.size() > max_path) return refuse("the path is longer than " + std::to_string(max_path) + " bytes");
    std::vector<std::string> segments;
    if (url == "/") {
        segments.emplace_back(index_file);
    } else if (!split_plain(url.substr(1), segments)) {
        for (std::size_t pos = 1;;) {  // which rule it broke, for the journal
            const std::size_t end = url.find('/', pos);
            const std::string_view seg = url.substr(pos, end == std::string_view::npos ? end : end - pos);
            if (seg.empty()) return refuse("the path has an empty segment (or ends with /)");
            if (seg[0] == '.') return refuse("the path has a segment starting with '.'");
            if (end == std::string_view::npos) return refuse("the path has a NUL byte");
            pos = end + 1;
        }
    }
    if (segments.size() > max_segments) return refuse("the path has more than 16 segments");
    const std::string_view content_type = content_type_for(segments.back());
    if (content_type.empty()) return refuse("no file of this type is served");

    std::string relative;
    UniqueFd dir;  // invalid: the root itself
    for (std::size_t i = 0; i < segments.size(); ++i) {
        const bool last = i + 1 == segments.size();
        relative += (i ? "/" : "") + segments[i];
        const int flags = last ? O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC : directory_flags;
        UniqueFd next{open_segment(dir ? dir.get() : root_fd, segments[i], flags, 0)};
        if (!next) {
            const int e = errno;
            if (e == EXDEV) return refuse("a symlink on the path leads outside the noVNC directory (or upwards)");
            if (e == ELOOP) return refuse("more than 8 symlinks on the path");
            return refuse(std::string("cannot open ") + relative + ": " + std::strerror(e));
        }
        if (last) {
            struct stat st {};
            if (::fstat(next.get(), &st) != 0) return refuse(std::string("fstat: ") + std::strerror(errno));
            if (!S_ISREG(st.st_mode)) return refuse(relative + " is not a regular file");
            // MHD wants a blocking fd (O_NONBLOCK only kept the open from waiting).
            const int fl = ::fcntl(next.get(), F_GETFL);
            if (fl < 0 || ::fcntl(next.get(), F_SETFL, fl & ~O_NONBLOCK) < 0)
                return refuse(std::string("fcntl: ") + std::strerror(errno));
            StaticFile f;
            f.fd = std::move(next);
            f.size = static_cast<std::uint64_t>(st.st_size);
            f.content_type = content_type;
            return {std::move(f), {}};
        }
        dir = std::move(next);
    }
    return refuse("empty path");  // not reached: there is at least one segment
}

}  // namespace rsm::gateway
