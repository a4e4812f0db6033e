// daemons/rsm-gateway/static_files: URL paths from the network resolved
// under the noVNC directory, on a real temporary tree with the shapes that
// matter: nested files, a symlink inside (as Debian's vnc_auto.html), links
// out of the root (absolute, relative, through a directory), a FIFO, a
// directory, hidden files and types that are not served.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <fcntl.h>
#include <fstream>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

#include "static_files.hpp"

using namespace rsm;
using namespace rsm::gateway;

namespace {

struct Tree {
    std::string top;   // holds root/ and a file beside it
    std::string root;
    UniqueFd fd;

    Tree() {
        char templ[] = "/tmp/rsm-static-XXXXXX";
        REQUIRE(mkdtemp(templ) != nullptr);
        top = templ;
        root = top + "/novnc";
        REQUIRE(mkdir(root.c_str(), 0755) == 0);
        REQUIRE(mkdir((root + "/app").c_str(), 0755) == 0);
        REQUIRE(mkdir((root + "/app/styles").c_str(), 0755) == 0);
        REQUIRE(mkdir((root + "/dir.js").c_str(), 0755) == 0);
        write(root + "/vnc.html", "<html>noVNC</html>");
        write(root + "/app/ui.js", "export default {};");
        write(root + "/app/styles/base.css", "body{}");
        write(root + "/app/logo.svg", "<svg/>");
        write(root + "/.hidden.html", "secret");
        write(root + "/Makefile", "all:");
        write(top + "/outside.html", "outside");
        REQUIRE(symlink("vnc.html", (root + "/vnc_auto.html").c_str()) == 0);
        REQUIRE(symlink("app", (root + "/lib").c_str()) == 0);
        REQUIRE(symlink("../outside.html", (root + "/up.html").c_str()) == 0);
        REQUIRE(symlink((top + "/outside.html").c_str(), (root + "/abs.html").c_str()) == 0);
        REQUIRE(symlink("..", (root + "/parent").c_str()) == 0);
        REQUIRE(symlink("app/styles/base.css", (root + "/deep.css").c_str()) == 0);
        REQUIRE(symlink("../vnc.html", (root + "/app/back.html").c_str()) == 0);
        REQUIRE(symlink("loop2.js", (root + "/loop1.js").c_str()) == 0);
        REQUIRE(symlink("loop1.js", (root + "/loop2.js").c_str()) == 0);
        REQUIRE(mkfifo((root + "/pipe.js").c_str(), 0644) == 0);
        std::string error;
        fd = open_static_root(root, error);
        REQUIRE(fd);
    }
    ~Tree() { (void)std::system(("rm -rf '" + top + "'").c_str()); }

    static void write(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

    std::string read(std::string_view url) const {
        StaticLookup found = open_static(fd.get(), url);
        if (!found.file) return "refused: " + found.error;
        std::string text(found.file->size, '\0');
        REQUIRE(::pread(found.file->fd.get(), text.data(), text.size(), 0) == static_cast<ssize_t>(text.size()));
        // Handed to MHD: blocking.
        CHECK((fcntl(found.file->fd.get(), F_GETFL) & O_NONBLOCK) == 0);
        return text;
    }
};

bool refused(const Tree& t, std::string_view url) { return t.read(url).rfind("refused: ", 0) == 0; }

}  // namespace

TEST_CASE("/ is vnc.html and nested files are found", "[http-static]") {
    Tree t;
    CHECK(t.read("/") == "<html>noVNC</html>");
    CHECK(t.read("/vnc.html") == "<html>noVNC</html>");
    CHECK(t.read("/app/ui.js") == "export default {};");
    CHECK(t.read("/app/styles/base.css") == "body{}");
    StaticLookup f = open_static(t.fd.get(), "/app/logo.svg");
    REQUIRE(f.file);
    CHECK(f.file->content_type == "image/svg+xml");
    CHECK(f.file->size == 6);
}

TEST_CASE("traversal and odd segments are refused before any lookup", "[http-static]") {
    Tree t;
    for (const char* url : {"/../outside.html", "/app/../vnc.html", "/./vnc.html", "/app//ui.js", "/app/",
                            "//vnc.html", "vnc.html", "", "/.hidden.html", "/app/..", "/%2e%2e/outside.html"}) {
        INFO(url);
        CHECK(refused(t, url));
    }
    CHECK(t.read("/../outside.html") == "refused: the path has a segment starting with '.'");
    CHECK(refused(t, "/" + std::string(1100, 'a') + ".html"));
    std::string deep;
    for (int i = 0; i < 17; ++i) deep += "/d";
    CHECK(refused(t, deep + ".html"));
}

TEST_CASE("symlinks: followed only further down", "[http-static]") {
    Tree t;
    CHECK(t.read("/vnc_auto.html") == "<html>noVNC</html>");  // Debian's novnc has this one
    CHECK(t.read("/lib/ui.js") == "export default {};");       // a directory link inside
    CHECK(t.read("/deep.css") == "body{}");                    // a target of several segments
    const std::string out = "refused: a symlink on the path leads outside the noVNC directory (or upwards)";
    CHECK(t.read("/up.html") == out);
    CHECK(t.read("/abs.html") == out);
    CHECK(t.read("/parent/outside.html") == out);
    CHECK(t.read("/app/back.html") == out);  // upwards, even inside the root: not needed, not allowed
    CHECK(t.read("/loop1.js") == "refused: more than 8 symlinks on the path");
}

TEST_CASE("only regular files of a served type", "[http-static]") {
    Tree t;
    CHECK(t.read("/pipe.js") == "refused: pipe.js is not a regular file");  // and the open did not block
    CHECK(t.read("/dir.js") == "refused: dir.js is not a regular file");
    CHECK(t.read("/Makefile") == "refused: no file of this type is served");
    CHECK(t.read("/missing.html").rfind("refused: cannot open missing.html", 0) == 0);
    CHECK(t.read("/vnc.html/x.html").rfind("refused: cannot open vnc.html", 0) == 0);
}

TEST_CASE("content types by extension", "[http-static]") {
    CHECK(content_type_for("vnc.html") == "text/html; charset=utf-8");
    CHECK(content_type_for("rfb.js") == "text/javascript; charset=utf-8");
    CHECK(content_type_for("base.css") == "text/css; charset=utf-8");
    CHECK(content_type_for("de.json") == "application/json");
    CHECK(content_type_for("novnc-16x16.png") == "image/png");
    CHECK(content_type_for("Orbitron700.woff") == "font/woff");
    CHECK(content_type_for("bell.oga") == "audio/ogg");
    CHECK(content_type_for("Makefile").empty());
    CHECK(content_type_for(".html").empty());
    CHECK(content_type_for("x.HTML").empty());
    CHECK(content_type_for("novnc_proxy").empty());
}
