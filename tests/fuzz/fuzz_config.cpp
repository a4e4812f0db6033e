// Fuzz target: the rsm.toml loader (src/config/config.*, toml++ underneath).
// Whatever the documents, the loader either returns a Config or throws
// ConfigError naming one of the files (any other exception escapes and
// libFuzzer reports it); an accepted Config survives to_toml() ->
// parse_string() unchanged, as the "show the effective configuration" tools
// rely on.
//
// Input: one TOML document for parse_string(); or, when it holds lines
// "#---", the main file followed by drop-ins (in that order), written to a
// private directory and read with load(), the path the manager takes at
// start and on SIGHUP (cross-file checks included).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "fuzz_check.hpp"

namespace c = rsm::config;

namespace {

constexpr std::string_view separator = "\n#---\n";

// A private directory for load(), made once per process and removed at exit
// (a plain array: it must outlive the atexit handler); tmpfs when there is one.
char dir_buffer[64];

std::filesystem::path config_dir() {
    static const bool made = [] {
        bool ok = false;
        for (const char* base : {"/dev/shm", "/tmp"}) {
            std::snprintf(dir_buffer, sizeof dir_buffer, "%s/rsm-fuzz-config-XXXXXX", base);
            if ((ok = mkdtemp(dir_buffer) != nullptr)) break;
        }
        FUZZ_CHECK(ok);
        std::atexit([] {
            std::error_code ec;
            std::filesystem::remove_all(dir_buffer, ec);
        });
        return true;
    }();
    (void)made;
    return dir_buffer;
}

void write_file(const std::filesystem::path& path, std::string_view text) {
    std::ofstream out{path, std::ios::binary | std::ios::trunc};
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    FUZZ_CHECK(out.good());
}

// parse_string() or load(); nullopt after a ConfigError, checked to name one
// of `files`.
std::optional<c::Config> read(std::string_view in) {
    std::vector<std::string> files;
    try {
        if (in.find(separator) == std::string_view::npos) {
            files.push_back("fuzz.toml");
            return c::parse_string(in, "fuzz.toml");
        }
        const auto dir = config_dir();
        const c::LoadPaths paths{dir / "rsm.toml", dir / "rsm.toml.d"};
        std::filesystem::remove_all(paths.dropin_dir);
        std::filesystem::create_directory(paths.dropin_dir);
        std::size_t at = in.find(separator);
        write_file(paths.main_file, in.substr(0, at));
        files.push_back(paths.main_file.string());
        for (int n = 10; at != std::string_view::npos; ++n) {
            in.remove_prefix(at + separator.size());
            at = in.find(separator);
            const auto file = paths.dropin_dir / (std::to_string(n) + "-fuzz.toml");
            write_file(file, in.substr(0, at));
            files.push_back(file.string());
        }
        return c::load(paths);
    } catch (const c::ConfigError& e) {
        bool named = false;
        for (const auto& f : files) named = named || e.file() == f;
        FUZZ_CHECK(named);
        FUZZ_CHECK(std::string_view{e.what()}.starts_with(e.file() + ":"));
        return std::nullopt;
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const auto config = read({reinterpret_cast<const char*>(data), size});
    if (!config) return 0;
    const std::string rendered = c::to_toml(*config);
    c::Config again;
    try {
        again = c::parse_string(rendered, "rendered.toml");
    } catch (const c::ConfigError& e) {
        std::fprintf(stderr, "to_toml() output refused: %s\n%s\n", e.what(), rendered.c_str());
        FUZZ_CHECK(!"to_toml() output is readable");
    }
    FUZZ_CHECK(again == *config);
    return 0;
}
