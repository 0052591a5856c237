// Producing contract events with other people's tools, as the README shows: kcat (structured
// mode, keyed with -K) and Python's confluent-kafka (examples/produce-events.py, structured and
// binary mode), into the embedded broker; the real worker applies them to the SCIMMY target.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <fstream>

#include "bridge_harness.hpp"

namespace provbridge {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
using test_support::BridgeHarness;

json user_event(const std::string& id, const std::string& type, int version, const std::string& name,
                const std::string& title) {
    return {{"specversion", "1.0"},
            {"id", id + "-v" + std::to_string(version)},
            {"source", "urn:directory:interop"},
            {"type", "provisioning.user." + type},
            {"subject", "user/" + id},
            {"time", "2026-12-02T10:00:00Z"},
            {"data",
             {{"app", "app"},
              {"object",
               {{"type", "user"},
                {"id", id},
                {"version", version},
                {"attributes",
                 {{"userPrincipalName", id + "@example.org"},
                  {"mail", id + "@example.org"},
                  {"mailNickname", id},
                  {"givenName", name},
                  {"surname", "Interop"},
                  {"displayName", name + " Interop"},
                  {"jobTitle", title},
                  {"accountEnabled", true}}}}},
              {"assignment", {{"role", "User"}}}}}};
}

struct Run {
    int exit_code = -1;
    std::string output;
};

Run run(std::vector<std::string> argv) {
    ops::ChildProcess::Options o;
    o.argv = std::move(argv);
    o.merge_stderr = true;
    ops::ChildProcess p(std::move(o));
    Run r;
    while (auto line = p.read_line(60s)) r.output += *line + "\n";
    const auto status = p.wait(10s);
    if (status && WIFEXITED(*status)) r.exit_code = WEXITSTATUS(*status);
    return r;
}

void write_file(const std::string& path, const std::string& text) {
    std::ofstream out(path);
    out << text;
    ASSERT_TRUE(out.flush()) << path;
}

TEST(Interop, EventsProducedWithKcatAndPythonConfluentKafkaAreApplied) {
    BridgeHarness bridge({});
    auto worker = bridge.start_worker(false, "error");
    const std::string bootstrap = bridge.broker().bootstrap_servers();
    ops::TempDir dir("provbridge-interop-");

    // kcat: one record per line, "<key>|<event>" (the README's command).
    const auto ada = user_event("ada", "assigned", 1, "Ada", "Engineer");
    write_file(dir.path() + "/events.txt", "app/user/ada|" + ada.dump() + "\n");
    const auto kcat = run({"kcat", "-P", "-b", bootstrap, "-t", BridgeHarness::kTopic, "-K", "|", "-l",
                           dir.path() + "/events.txt"});
    ASSERT_EQ(kcat.exit_code, 0) << kcat.output;

    // Python, structured mode, from standard input's stand-in (a file argument) ...
    write_file(dir.path() + "/structured.jsonl", user_event("zoe", "assigned", 1, "Zoë", "Designer").dump() + "\n");
    const std::string script = std::string(PROVBRIDGE_SOURCE_DIR) + "/examples/produce-events.py";
    const auto structured = run({"/usr/bin/python3", script, "--bootstrap", bootstrap, dir.path() + "/structured.jsonl"});
    ASSERT_EQ(structured.exit_code, 0) << structured.output;
    EXPECT_NE(structured.output.find("sent 1 of 1 events"), std::string::npos) << structured.output;

    // ... and binary mode: a new user, and an update of the one kcat sent.
    write_file(dir.path() + "/binary.jsonl", user_event("alan", "assigned", 1, "Alan", "Researcher").dump() + "\n" +
                                                 user_event("ada", "updated", 2, "Ada", "Lead").dump() + "\n");
    const auto binary = run({"/usr/bin/python3", script, "--bootstrap", bootstrap, "--binary", dir.path() + "/binary.jsonl"});
    ASSERT_EQ(binary.exit_code, 0) << binary.output;
    EXPECT_NE(binary.output.find("sent 2 of 2 events"), std::string::npos) << binary.output;

    const auto progress = BridgeHarness::wait_finished(*worker, 4, 120s);
    EXPECT_EQ(progress["dead_lettered"], 0) << progress.dump();
    const auto ada_account = bridge.user_named("ada@example.org");
    ASSERT_FALSE(ada_account.is_null());
    EXPECT_EQ(ada_account["title"], "Lead") << "the binary-mode update after kcat's create, in key order";
    const auto zoe = bridge.user_named("zoe@example.org");
    ASSERT_FALSE(zoe.is_null());
    EXPECT_EQ(zoe["name"]["givenName"], "Zoë") << zoe.dump();
    const auto alan = bridge.user_named("alan@example.org");
    ASSERT_FALSE(alan.is_null());
    EXPECT_EQ(alan["title"], "Researcher");
    EXPECT_EQ(bridge.users().size(), 3U);

    // A line that is not an event is refused by the script, which names it.
    write_file(dir.path() + "/bad.jsonl", "{\"not\": \"an event\"}\n");
    const auto bad = run({"/usr/bin/python3", script, "--bootstrap", bootstrap, dir.path() + "/bad.jsonl"});
    EXPECT_EQ(bad.exit_code, 2) << bad.output;
    EXPECT_NE(bad.output.find("line 1: not a contract event"), std::string::npos) << bad.output;
    worker->stop(30s);
}

}  // namespace
}  // namespace provbridge
