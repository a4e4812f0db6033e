// Touching paths a user can influence from a privileged process (the rule in
// docs/design-notes.md, "Paths a user can influence"): never follow a
// symlink, never block on a FIFO or device, check type and owner on the fd
// that was opened, and address entries through a directory fd (openat,
// fstatat, unlinkat) so that nothing can be swapped between a check and the
// act on a parent.
//
// Every function here fails with std::system_error naming the path and the
// step, except remove_entry(), which returns -errno for the callers that
// clean up and only log.
#pragma once

#include <optional>
#include <string>
#include <sys/stat.h>
#include <sys/types.h>

#include "util/fd.hpp"

namespace rsm::safe {

// The directory at `path`, opened O_DIRECTORY|O_NOFOLLOW|O_CLOEXEC (a symlink
// as last component fails with ELOOP/ENOTDIR). With `owner`, the directory
// must belong to that uid (EPERM otherwise).
UniqueFd open_directory(const std::string& path, std::optional<uid_t> owner = std::nullopt);

// An existing regular file dir_fd/name, opened for reading with
// O_NOFOLLOW|O_NONBLOCK|O_NOCTTY|O_CLOEXEC: a symlink fails (ELOOP), a FIFO
// or device is refused without blocking (EINVAL "not a regular file"), and so
// is a file of another owner (EPERM) when `owner` is given.
UniqueFd open_regular(int dir_fd, const std::string& name, std::optional<uid_t> owner = std::nullopt);

// A new, empty regular file dir_fd/name for writing, mode `mode` (before the
// umask). Whatever is there (a file, a FIFO, a symlink, a socket) is
// unlinked first, never followed or opened; the file is then created with
// O_CREAT|O_EXCL|O_NOFOLLOW|O_NONBLOCK, so an entry planted in between makes
// it fail (EEXIST, after a few tries) instead of being used. The new file
// must be a regular file owned by `owner` (EPERM otherwise: call it with the
// filesystem uid of the user who should own it).
UniqueFd create_fresh(int dir_fd, const std::string& name, mode_t mode, uid_t owner);

// Removes dir_fd/name when it is (without following it) of file type `type`
// (S_IFSOCK, S_IFREG, ...; 0 = anything but a directory) and, with `owner`,
// belongs to that uid. 0 when removed, -ENOENT when nothing is there,
// -EPERM when type or owner do not match (nothing removed), else -errno.
int remove_entry(int dir_fd, const std::string& name, mode_t type = 0, std::optional<uid_t> owner = std::nullopt);

// "dir/name" split at the last '/'; throws std::invalid_argument for a path
// without a directory part or with an empty or "."/".." name.
std::pair<std::string, std::string> split_path(const std::string& path);

}  // namespace rsm::safe
