// A fake ssh for rsm-broker's x2gobroker-agent tests: a script in a
// temporary directory that logs "<host> <remote command>" per run and then
// does what the test says (answer as the agent would, fail, hang).
#pragma once

#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

#include "broker_config.hpp"

namespace rsm::broker {

struct FakeSsh {
    std::filesystem::path dir;
    explicit FakeSsh(const std::string& body) {
        char tmpl[] = "/tmp/rsm-fake-ssh.XXXXXX";
        REQUIRE(mkdtemp(tmpl));
        dir = tmpl;
        std::ofstream f(dir / "ssh");
        // $host: the argument after "--"; $cmd: the remote command line.
        f << "#!/bin/sh\nwhile [ \"$1\" != -- ]; do shift; done\nhost=$2\ncmd=$3\nlog=" << (dir / "calls").string()
          << "\necho \"$host $cmd\" >>\"$log\"\n" << body;
        f.close();
        chmod((dir / "ssh").c_str(), 0755);
    }
    ~FakeSsh() { std::filesystem::remove_all(dir); }
    std::string calls() const {
        std::string out;
        if (std::FILE* f = std::fopen((dir / "calls").c_str(), "r")) {
            char buf[4096];
            for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) out.append(buf, n);
            std::fclose(f);
        }
        return out;
    }
    BrokerConfig config() const {
        BrokerConfig c;
        c.agent = AgentMode::ssh;
        c.agent_key = "/nonexistent/key";
        c.ssh_program = (dir / "ssh").string();
        c.agent_timeout_ms = 2000;
        c.suspend_wait_ms = 10;
        c.portscan = false;
        return c;
    }
};

}  // namespace rsm::broker
