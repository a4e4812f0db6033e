// Tests for src/session/desktop_entry: finding a session entry by name in
// scratch xsessions/wayland-sessions directories, Exec= splitting, field
// codes, Hidden/NoDisplay/TryExec, and broken files.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include "session/desktop_entry.hpp"
#include "temp_dir.hpp"

using rsm::session::DesktopSession;
using rsm::session::find_desktop_session;
using rsm::session::valid_desktop_name;
using Argv = std::vector<std::string>;

namespace {

struct Dirs {
    rsm::test::TempDir tmp;
    std::string x() const { return (tmp.path() / "xsessions").string(); }
    std::string wayland() const { return (tmp.path() / "wayland-sessions").string(); }
    std::vector<std::string> both() const { return {x(), wayland()}; }

    void write(const std::string& dir, const std::string& name, const std::string& body) const {
        tmp.write(std::filesystem::path{dir} / (name + ".desktop"), "[Desktop Entry]\nType=Application\n" + body);
    }
};

}  // namespace

TEST_CASE("desktop entry: names", "[desktop_entry]") {
    CHECK(valid_desktop_name("xfce"));
    CHECK(valid_desktop_name("gnome-xorg"));
    CHECK(valid_desktop_name("Plasma_5.27"));
    CHECK_FALSE(valid_desktop_name(""));
    CHECK_FALSE(valid_desktop_name("../xfce"));
    CHECK_FALSE(valid_desktop_name("a/b"));
    CHECK_FALSE(valid_desktop_name("a b"));
    CHECK_FALSE(valid_desktop_name("xfce\n"));
    CHECK_FALSE(valid_desktop_name(std::string(256, 'a')));
    CHECK_THROWS_AS(find_desktop_session("../../etc/passwd", {"/usr/share/xsessions"}), std::invalid_argument);
}

TEST_CASE("desktop entry: a complete entry", "[desktop_entry]") {
    Dirs d;
    d.write(d.x(), "xfce", "Name=Xfce Session\nName[de]=Xfce-Sitzung\nExec=startxfce4 --with-ck-launch\n"
                           "DesktopNames=XFCE;\n");
    const auto s = find_desktop_session("xfce", d.both());
    REQUIRE(s);
    CHECK(s->name == "xfce");
    CHECK(s->display_name == "Xfce Session");
    CHECK(s->argv == Argv{"startxfce4", "--with-ck-launch"});
    CHECK(s->desktop_names == "XFCE");
    CHECK_FALSE(s->wayland);
}

TEST_CASE("desktop entry: DesktopNames are joined with ':', Name defaults to the file name", "[desktop_entry]") {
    Dirs d;
    d.write(d.x(), "gnome-xorg", "Exec=gnome-session\nDesktopNames=GNOME;GNOME-Classic;\n");
    const auto s = find_desktop_session("gnome-xorg", d.both());
    REQUIRE(s);
    CHECK(s->desktop_names == "GNOME:GNOME-Classic");
    CHECK(s->display_name == "gnome-xorg");
}

TEST_CASE("desktop entry: Exec= is split as shell words, %% is a literal '%'", "[desktop_entry]") {
    Dirs d;
    // "\\" is the key file's escape for one backslash, which escapes the space.
    d.write(d.x(), "quoted", R"(Exec=env "A=1 2" 'b c' d\\ e 100%%)" "\n");
    const auto s = find_desktop_session("quoted", d.both());
    REQUIRE(s);
    CHECK(s->argv == Argv{"env", "A=1 2", "b c", "d e", "100%"});
}

TEST_CASE("desktop entry: the first directory wins; wayland-sessions marks wayland", "[desktop_entry]") {
    Dirs d;
    d.write(d.wayland(), "plasma", "Name=Plasma (Wayland)\nExec=startplasma-wayland\n");
    auto s = find_desktop_session("plasma", d.both());
    REQUIRE(s);
    CHECK(s->wayland);
    CHECK(s->argv == Argv{"startplasma-wayland"});

    d.write(d.x(), "plasma", "Name=Plasma (X11)\nExec=startplasma-x11\n");
    s = find_desktop_session("plasma", d.both());
    REQUIRE(s);
    CHECK_FALSE(s->wayland);
    CHECK(s->argv == Argv{"startplasma-x11"});
    // A trailing slash does not hide the directory's kind.
    s = find_desktop_session("plasma", {d.wayland() + "/"});
    REQUIRE(s);
    CHECK(s->wayland);
}

TEST_CASE("desktop entry: a missing entry is nullopt", "[desktop_entry]") {
    Dirs d;
    CHECK_FALSE(find_desktop_session("none", d.both()));
    d.write(d.x(), "other", "Exec=x\n");
    CHECK_FALSE(find_desktop_session("none", d.both()));
    CHECK_FALSE(find_desktop_session("other", {}));
}

TEST_CASE("desktop entry: Hidden, NoDisplay and TryExec make an entry absent", "[desktop_entry]") {
    Dirs d;
    SECTION("Hidden=true, and it shadows later directories") {
        d.write(d.x(), "s", "Exec=x\nHidden=true\n");
        d.write(d.wayland(), "s", "Exec=y\n");
        CHECK_FALSE(find_desktop_session("s", d.both()));
        CHECK(find_desktop_session("s", {d.wayland()}));
    }
    SECTION("Hidden=false is usable") {
        d.write(d.x(), "s", "Exec=x\nHidden=false\nNoDisplay=false\n");
        CHECK(find_desktop_session("s", d.both()));
    }
    SECTION("NoDisplay=true") {
        d.write(d.x(), "s", "Exec=x\nNoDisplay=true\n");
        CHECK_FALSE(find_desktop_session("s", d.both()));
    }
    SECTION("TryExec not in PATH") {
        d.write(d.x(), "s", "Exec=x\nTryExec=rsm-no-such-program-here\n");
        CHECK_FALSE(find_desktop_session("s", d.both()));
    }
    SECTION("TryExec in PATH") {
        d.write(d.x(), "s", "Exec=x\nTryExec=sh\n");
        CHECK(find_desktop_session("s", d.both()));
    }
    SECTION("TryExec an absolute path that is not executable") {
        const auto plain = d.tmp.write("not-executable", "#!/bin/sh\n");
        ::chmod(plain.c_str(), 0644);
        d.write(d.x(), "s", "Exec=x\nTryExec=" + plain.string() + "\n");
        CHECK_FALSE(find_desktop_session("s", d.both()));
        ::chmod(plain.c_str(), 0755);
        CHECK(find_desktop_session("s", d.both()));
    }
}

TEST_CASE("desktop entry: broken entries throw naming the file", "[desktop_entry]") {
    Dirs d;
    const std::string file = d.x() + "/s.desktop";
    SECTION("field codes") {
        for (const char* code : {"%f", "%F", "%u", "%U", "%i", "%c", "%k"}) {
            d.write(d.x(), "s", std::string{"Exec=app "} + code + "\n");
            CHECK_THROWS_WITH(find_desktop_session("s", d.both()),
                              file + ": Exec=: field code " + code + " is not supported in a session entry");
        }
        d.write(d.x(), "s", "Exec=app --file=%f\n");
        CHECK_THROWS_WITH(find_desktop_session("s", d.both()), Catch::Contains("field code %f"));
        d.write(d.x(), "s", "Exec=app 50%\n");
        CHECK_THROWS_WITH(find_desktop_session("s", d.both()), Catch::Contains("'%' at the end"));
    }
    SECTION("no Exec=") {
        d.write(d.x(), "s", "Name=S\n");
        CHECK_THROWS_WITH(find_desktop_session("s", d.both()), file + ": no Exec=");
        d.write(d.x(), "s", "Exec=\n");
        CHECK_THROWS_WITH(find_desktop_session("s", d.both()), file + ": no Exec=");
    }
    SECTION("Exec= that is not shell words") {
        d.write(d.x(), "s", "Exec=app \"unterminated\n");
        CHECK_THROWS_WITH(find_desktop_session("s", d.both()), Catch::StartsWith(file + ": Exec=: "));
        d.write(d.x(), "s", "Exec=   \n");
        CHECK_THROWS_WITH(find_desktop_session("s", d.both()), Catch::StartsWith(file + ": "));
    }
    SECTION("no [Desktop Entry] group") {
        d.tmp.write("xsessions/s.desktop", "[Other]\nExec=x\n");
        CHECK_THROWS_WITH(find_desktop_session("s", d.both()), file + ": no [Desktop Entry] group");
    }
    SECTION("not a key file") {
        d.tmp.write("xsessions/s.desktop", "this is not a key file\n");
        CHECK_THROWS_WITH(find_desktop_session("s", d.both()), Catch::StartsWith(file + ": "));
    }
    SECTION("a bad boolean") {
        d.write(d.x(), "s", "Exec=x\nHidden=maybe\n");
        CHECK_THROWS_WITH(find_desktop_session("s", d.both()), Catch::StartsWith(file + ": Hidden=: "));
    }
    SECTION("a directory in place of the file") {
        std::filesystem::create_directories(file);
        CHECK_THROWS_WITH(find_desktop_session("s", d.both()), Catch::StartsWith(file + ": "));
    }
}
