// `provbridge dlq` against real parts: the binary, redis-server, the embedded broker and the
// SCIMMY target behaving like Leapsome. One bridge and one worker serve the whole suite; each
// test makes its own dead letters (its own users) and acts only on them.
#include <csignal>
#include <fstream>
#include <sstream>
#include <sys/wait.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "bridge_harness.hpp"
#include "cli_runner.hpp"
#include "provbridge/consumers/redis.hpp"
#include "provbridge/consumers/redis_store.hpp"
#include "provbridge/core/dead_letter.hpp"
#include "provbridge/core/keys.hpp"
#include "provbridge/ops/process.hpp"
#include "redis_fixture.hpp"

namespace provbridge {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
using test_support::BridgeHarness;

constexpr const char* kApp = "app";
constexpr const char* kSource = "urn:directory:dlq";

using test_support::CliResult;
using test_support::run_cli;

// stdout only, for --json.
json run_cli_json(std::vector<std::string> args, int expected_exit = 0) {
    ops::ChildProcess::Options options;
    options.argv = {PROVBRIDGE_BINARY};
    options.argv.insert(options.argv.end(), args.begin(), args.end());
    options.quiet_stderr = true;
    ops::ChildProcess process(std::move(options));
    std::string out;
    while (auto line = process.read_line(120s)) out += *line + "\n";
    const auto status = process.wait(5s);
    EXPECT_TRUE(status && WIFEXITED(*status) && WEXITSTATUS(*status) == expected_exit) << out;
    auto doc = json::parse(out, nullptr, false);
    EXPECT_FALSE(doc.is_discarded()) << out;
    return doc;
}

json user_event(const std::string& id, const std::string& type, const std::string& user, std::int64_t version,
                json attributes) {
    return {{"specversion", "1.0"}, {"id", id}, {"source", kSource}, {"type", "provisioning.user." + type},
            {"data", {{"app", kApp},
                      {"object", {{"type", "user"}, {"id", user}, {"version", version}, {"attributes", attributes}}},
                      {"assignment", {{"role", "User"}}}}}};
}

json person(const std::string& user, json extra = json::object()) {
    json a = {{"userPrincipalName", user + "@contoso.example"}, {"mail", user + "@contoso.example"},
              {"mailNickname", user}, {"givenName", user}, {"surname", "Tester"},
              {"displayName", user + " Tester"}, {"jobTitle", "Engineer"}, {"accountEnabled", true}};
    a.update(extra);
    return a;
}

class DlqTest : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        BridgeHarness::Options options;
        options.app = kApp;
        options.profile = "leapsome";
        options.behave_like = "leapsome";
        // A home address next to the work one: Leapsome keeps only work addresses, so a user with
        // only a home address is refused (ConnectorRuleViolation), permanently.
        options.app_extra = {
            {"mappings", {{"users", json::array({{{"target", R"(emails[type eq "home"].value)"}, {"source", "otherMail"}}})}}}};
        options.group = "dlq";
        options.partitions = 2;
        bridge_ = std::make_unique<BridgeHarness>(options);
        worker_ = bridge_->start_worker(false, "error");
    }
    static void TearDownTestSuite() {
        if (worker_) worker_->stop(30s);
        worker_.reset();
        bridge_.reset();
    }

    BridgeHarness& bridge() { return *bridge_; }
    consumers::ProvisioningLogReader& reader() { return bridge_->reader(); }
    std::string config() const { return bridge_->config_path(); }

    void fault(json rule) { bridge_->admin(HttpMethod::Post, "/_admin/faults", {}, std::move(rule)); }

    // Waits for the outcome of an event id (a blocking read on the log, not a sleep loop).
    OutcomeRecord wait_outcome(const std::string& event_id, std::chrono::seconds timeout = 60s) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (std::chrono::steady_clock::now() < deadline) {
            auto last = reader().last_log_id(kApp);
            EXPECT_TRUE(last.ok());
            auto found = reader().outcome(kApp, kSource, event_id);
            EXPECT_TRUE(found.ok()) << found.error().message;
            if (found.ok() && found->has_value()) return **found;
            (void)reader().log_since(kApp, last.ok() ? *last : "0-0", 10, 500ms);
        }
        ADD_FAILURE() << "no outcome for " << event_id;
        return {};
    }

    // The index entry of an event (its dead letter), or a test failure.
    consumers::StreamEntry entry_of(const std::string& event_id) {
        auto all = reader().all_dead_letters(kApp);
        EXPECT_TRUE(all.ok());
        if (all.ok()) {
            for (auto& e : *all) {
                if (e.fields["event_id"] == event_id) return e;
            }
        }
        ADD_FAILURE() << "no dead-letter entry for " << event_id;
        return {};
    }

    bool indexed(const std::string& entry_id) {
        auto found = reader().dead_letter(kApp, entry_id);
        EXPECT_TRUE(found.ok());
        return found.ok() && found->has_value();
    }

    // A dead letter for a new user: the target refuses its create once (400).
    std::string refused_create(const std::string& event_id, const std::string& user) {
        fault({{"status", 400}, {"count", 1}, {"match", "POST /Users"}, {"scimType", "invalidValue"},
               {"detail", "title is too long"}});
        bridge().send_event(user_event(event_id, "assigned", user, 1, person(user)));
        const auto out = wait_outcome(event_id);
        EXPECT_EQ(out.status, OutcomeStatus::DeadLettered);
        EXPECT_EQ(out.code, "BadRequest");
        return entry_of(event_id).id;
    }

    // The configuration with some fields changed.
    std::string config_with(const std::string& name, const json& patch) {
        std::ifstream in(config());
        json doc = json::parse(in);
        doc.merge_patch(patch);
        const std::string path = dir_.path() + "/" + name;
        std::ofstream(path) << doc.dump(2);
        return path;
    }

    static std::unique_ptr<BridgeHarness> bridge_;
    static std::unique_ptr<ops::ChildProcess> worker_;
    ops::TempDir dir_{"provbridge-dlq-"};
};

std::unique_ptr<BridgeHarness> DlqTest::bridge_;
std::unique_ptr<ops::ChildProcess> DlqTest::worker_;

TEST_F(DlqTest, APermanentFailureIsIndexedWithItsOriginalAndListedAndShownWithItsTrail) {
    const std::string entry = refused_create("d1", "ada");
    ASSERT_FALSE(entry.empty());

    auto stored = reader().dead_letter(kApp, entry);
    ASSERT_TRUE(stored.ok() && stored->has_value());
    EXPECT_NE((*stored)->fields.at("reason").find("title is too long"), std::string::npos);
    auto original = consumers::original_record(**stored);
    ASSERT_TRUE(original.ok()) << original.error().message;
    ASSERT_TRUE(original->has_value());
    EXPECT_EQ((*original)->key, std::optional<std::string>("app/user/ada"));
    EXPECT_EQ(json::parse((*original)->value), user_event("d1", "assigned", "ada", 1, person("ada")));

    auto r = run_cli({"dlq", "list", "--config", config()});
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("ID"), std::string::npos) << r.output;
    std::string row;
    std::istringstream lines(r.output);
    for (std::string line; std::getline(lines, line);) {
        if (line.rfind(entry, 0) == 0) row = line;
    }
    ASSERT_FALSE(row.empty()) << r.output;
    EXPECT_NE(row.find("BadRequest"), std::string::npos) << row;
    EXPECT_NE(row.find("user/ada"), std::string::npos) << row;
    EXPECT_NE(row.find("d1"), std::string::npos) << row;
    EXPECT_NE(row.find("title is too long"), std::string::npos) << row;

    const json listed = run_cli_json({"dlq", "list", "--config", config(), "--app", kApp, "--error", "BadRequest",
                                      "--since", "1h", "--json"});
    bool seen = false;
    for (const auto& e : listed["dead_letters"]) {
        if (e["id"] != entry) continue;
        seen = true;
        EXPECT_EQ(e["event_id"], "d1");
        EXPECT_EQ(e["http_status"], 400);
        EXPECT_EQ(e["scim_type"], "invalidValue");
        EXPECT_EQ(e["record_stored"], true);
    }
    EXPECT_TRUE(seen) << listed.dump();
    EXPECT_TRUE(run_cli_json({"dlq", "list", "--config", config(), "--error", "NoSuchCode", "--json"})["dead_letters"]
                    .empty());
    EXPECT_TRUE(run_cli_json({"dlq", "list", "--config", config(), "--since", "2999-01-01T00:00:00Z", "--json"})
                    ["dead_letters"]
                        .empty());
    r = run_cli({"dlq", "list", "--config", config(), "--since", "yesterday"});
    EXPECT_EQ(r.exit_code, 2) << r.output;

    r = run_cli({"dlq", "show", entry, "--config", config()});
    EXPECT_EQ(r.exit_code, 0) << r.output;
    for (const char* needle : {"app app", "d1", "BadRequest (class permanent, HTTP 400, scimType invalidValue)",
                               "title is too long", "trail", "HTTP 400", "provisioning.events[", "key app/user/ada",
                               "1 attempt(s)"}) {
        EXPECT_NE(r.output.find(needle), std::string::npos) << needle << "\n" << r.output;
    }
    EXPECT_EQ(r.output.find("jobTitle"), std::string::npos) << "the value is printed without --value";
    r = run_cli({"dlq", "show", entry, "--config", config(), "--value"});
    EXPECT_NE(r.output.find("jobTitle"), std::string::npos) << r.output;
    const json shown = run_cli_json({"dlq", "show", entry, "--config", config(), "--json"});
    ASSERT_EQ(shown["trail"].size(), 1U) << shown.dump();
    EXPECT_EQ(shown["trail"][0]["code"], "BadRequest");
    EXPECT_EQ(shown["trail"][0]["http_status"], 400);
    EXPECT_NE(shown["trail"][0]["detail"].get<std::string>().find("title is too long"), std::string::npos);
    EXPECT_FALSE(shown["record"].contains("value"));
    EXPECT_EQ(r.output.find(bridge().token()), std::string::npos);
}

TEST_F(DlqTest, AReplayOfAFixedFailureIsAppliedAndLeavesTheIndexButNotTheHistory) {
    const std::string entry = refused_create("d2", "bea");
    ASSERT_FALSE(entry.empty());
    EXPECT_TRUE(bridge().user_named("bea@contoso.example").is_null());

    const auto r = run_cli({"dlq", "replay", entry, "--config", config(), "--wait", "60"});
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("applied (create)"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("1 applied"), std::string::npos) << r.output;

    EXPECT_FALSE(bridge().user_named("bea@contoso.example").is_null()) << "the replay did not create the account";
    EXPECT_FALSE(indexed(entry)) << "the replayed entry is still in the index";
    auto replayed = reader().outcome(kApp, kSource, replay_event_id("d2", entry));
    ASSERT_TRUE(replayed.ok() && replayed->has_value());
    EXPECT_EQ((*replayed)->status, OutcomeStatus::Applied);
    auto first = reader().outcome(kApp, kSource, "d2");
    ASSERT_TRUE(first.ok() && first->has_value());
    EXPECT_EQ((*first)->status, OutcomeStatus::DeadLettered) << "the original outcome was overwritten";
    auto log = reader().recent_log(kApp, 1000);
    ASSERT_TRUE(log.ok());
    int d2 = 0;
    for (const auto& o : *log) d2 += o.event_id == "d2" || o.event_id == replay_event_id("d2", entry) ? 1 : 0;
    EXPECT_EQ(d2, 2) << "both outcomes are in the log history";

    // Nothing is left to replay under that id.
    const auto again = run_cli({"dlq", "replay", entry, "--config", config(), "--wait", "1"});
    EXPECT_EQ(again.exit_code, 1) << again.output;
    EXPECT_NE(again.output.find("not found"), std::string::npos) << again.output;
}

TEST_F(DlqTest, AnOldEventReplayedAfterANewerOneWasAppliedIsSkippedAsStale) {
    // Only a home address: Leapsome refuses the user (a permanent failure, no request sent).
    bridge().send_event(user_event("l1", "assigned", "cy", 1,
                                   person("cy", {{"mail", nullptr}, {"otherMail", "cy@home.example"}})));
    const auto refused = wait_outcome("l1");
    EXPECT_EQ(refused.status, OutcomeStatus::DeadLettered);
    EXPECT_EQ(refused.code, "ConnectorRuleViolation");
    const std::string entry = entry_of("l1").id;
    ASSERT_FALSE(entry.empty());

    // The directory fixes the data; the newer event is applied.
    bridge().send_event(user_event("l2", "assigned", "cy", 2, person("cy", {{"jobTitle", "Fixed"}})));
    const auto fixed = wait_outcome("l2");
    ASSERT_EQ(fixed.status, OutcomeStatus::Applied) << to_json(fixed).dump();
    const json before = bridge().user_named("cy@contoso.example");
    ASSERT_TRUE(before.is_object());

    const json replay = run_cli_json({"dlq", "replay", entry, "--config", config(), "--json"});
    ASSERT_EQ(replay["replays"].size(), 1U) << replay.dump();
    EXPECT_EQ(replay["replays"][0]["result"], "skipped") << replay.dump();
    EXPECT_EQ(replay["replays"][0]["code"], "stale") << replay.dump();
    EXPECT_EQ(replay["replays"][0]["replay_event_id"], replay_event_id("l1", entry));

    const json after = bridge().user_named("cy@contoso.example");
    EXPECT_EQ(after["title"], "Fixed") << "the old event was applied over newer data";
    EXPECT_EQ(after["emails"], before["emails"]);
    EXPECT_FALSE(indexed(entry));
    auto link = reader().link(kApp, ObjectType::User, "cy");
    ASSERT_TRUE(link.ok() && link->has_value());
    EXPECT_EQ((*link)->version, 2);
}

TEST_F(DlqTest, ManyReplaysAreSentAndAwaitedTogether) {
    constexpr int kUsers = 40;
    fault({{"status", 400}, {"count", kUsers}, {"match", "POST /Users"}, {"detail", "not today"}});
    for (int i = 0; i < kUsers; ++i) {
        const std::string user = "many" + std::to_string(i);
        bridge().send_event(user_event("m" + std::to_string(i), "assigned", user, 1, person(user)));
    }
    std::vector<std::string> args = {"dlq", "replay", "--config", config(), "--json"};
    for (int i = 0; i < kUsers; ++i) {
        const std::string id = "m" + std::to_string(i);
        EXPECT_EQ(wait_outcome(id).status, OutcomeStatus::DeadLettered);
        args.push_back(entry_of(id).id);
    }
    const json replay = run_cli_json(args);
    ASSERT_EQ(replay["replays"].size(), static_cast<std::size_t>(kUsers)) << replay.dump();
    EXPECT_EQ(replay["summary"]["applied"], kUsers) << replay.dump();
    for (int i = 0; i < kUsers; ++i) {
        EXPECT_FALSE(bridge().user_named("many" + std::to_string(i) + "@contoso.example").is_null()) << i;
    }
}

TEST_F(DlqTest, AReplayThatFailsAgainIsANewEntryAndASlowOneHasNoOutcomeYet) {
    const std::string first = refused_create("f1", "fay");
    ASSERT_FALSE(first.empty());
    // The replay's create is refused again, but only after the replay stopped waiting.
    fault({{"status", 400}, {"count", 1}, {"match", "POST /Users"}, {"delayMs", 2500}, {"detail", "still wrong"}});
    auto r = run_cli({"dlq", "replay", first, "--config", config(), "--wait", "1"});
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_NE(r.output.find("no outcome yet after 1 s"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("1 without an outcome yet"), std::string::npos) << r.output;

    const auto again = wait_outcome(replay_event_id("f1", first));
    EXPECT_EQ(again.status, OutcomeStatus::DeadLettered);
    EXPECT_FALSE(indexed(first)) << "the replayed entry stayed";
    const std::string second = entry_of(replay_event_id("f1", first)).id;
    ASSERT_FALSE(second.empty());
    r = run_cli({"dlq", "show", second, "--config", config()});
    EXPECT_NE(r.output.find("still wrong"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("provbridge.replay.of"), std::string::npos) << "the replayed record's headers: " << r.output;

    // Replaying the new entry replays the original event again, under the new entry's id.
    const json replay = run_cli_json({"dlq", "replay", second, "--config", config(), "--json"});
    ASSERT_EQ(replay["replays"].size(), 1U) << replay.dump();
    EXPECT_EQ(replay["replays"][0]["result"], "applied") << replay.dump();
    EXPECT_EQ(replay["replays"][0]["replay_event_id"], replay_event_id("f1", second));
    EXPECT_FALSE(indexed(second));
    EXPECT_FALSE(bridge().user_named("fay@contoso.example").is_null());
}

TEST_F(DlqTest, AnUnparseableRecordIsReplayedAsItWasReceived) {
    const std::string invalid(KeyScheme::kInvalidApp);
    auto before = reader().all_dead_letters(invalid);
    ASSERT_TRUE(before.ok());
    auto last = reader().last_log_id(invalid);
    ASSERT_TRUE(last.ok());
    bridge().send(std::nullopt, "{this is not json", {{"traceparent", "00-abc-01"}});
    auto logged = reader().log_since(invalid, *last, 10, 30s);
    ASSERT_TRUE(logged.ok() && !logged->empty()) << "the record was not dead-lettered";
    auto after = reader().all_dead_letters(invalid);
    ASSERT_TRUE(after.ok());
    ASSERT_EQ(after->size(), before->size() + 1);
    const std::string entry = after->back().id;

    const json replay = run_cli_json({"dlq", "replay", entry, "--config", config(), "--json"}, 1);
    ASSERT_EQ(replay["replays"].size(), 1U) << replay.dump();
    EXPECT_EQ(replay["replays"][0]["app"], invalid);
    EXPECT_EQ(replay["replays"][0]["result"], "dead_lettered") << replay.dump();
    EXPECT_EQ(replay["replays"][0]["code"], "InvalidEvent") << replay.dump();

    // The worker cannot mark an unparseable record as a replay; the command removed the entry.
    auto found = reader().dead_letter(invalid, entry);
    ASSERT_TRUE(found.ok());
    EXPECT_FALSE(found->has_value()) << "the replayed entry stayed";
    auto now = reader().all_dead_letters(invalid);
    ASSERT_TRUE(now.ok());
    ASSERT_EQ(now->size(), before->size() + 1);
    auto original = consumers::original_record(now->back());
    ASSERT_TRUE(original.ok() && original->has_value());
    EXPECT_EQ((*original)->value, "{this is not json");
    EXPECT_FALSE((*original)->key.has_value());
    ASSERT_FALSE((*original)->headers.empty());
    EXPECT_EQ((*original)->headers.front().name, "traceparent");
    EXPECT_EQ(run_cli({"dlq", "purge", now->back().id, "--config", config()}).exit_code, 0);
}

TEST_F(DlqTest, AnEntryWithoutItsOriginalIsReportedAndSkipped) {
    // As an index entry written before originals were kept.
    OutcomeRecord old;
    old.event_id = "old-1";
    old.source = kSource;
    old.app = kApp;
    old.status = OutcomeStatus::DeadLettered;
    old.code = "BadRequest";
    old.topic = BridgeHarness::kTopic;
    old.partition = 1;
    old.offset = 77;
    consumers::RedisConnection admin(test_support::redis_options_for_port(bridge().redis().port()));
    auto added = admin.call({"XADD", KeyScheme("pb").dead_letters(kApp), "*", "event_id", "old-1", "app", kApp, "reason",
                             "old", "code", "BadRequest", "topic", BridgeHarness::kTopic, "partition", "1", "offset", "77",
                             "json", to_json(old).dump()});
    ASSERT_TRUE(added.ok());
    const std::string entry = added->str;

    const auto r = run_cli({"dlq", "replay", entry, "--config", config(), "--wait", "1"});
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_NE(r.output.find("cannot replay: original not stored; it is in the dead-letter topic provisioning.deadletter "
                            "at source provisioning.events[1]@77"),
              std::string::npos)
        << r.output;
    EXPECT_TRUE(indexed(entry)) << "an entry that was not replayed was removed";
    EXPECT_EQ(run_cli({"dlq", "purge", entry, "--config", config()}).exit_code, 0);
}

TEST_F(DlqTest, PurgeRemovesRefusesUnknownIdsAndNeedsYesForBulk) {
    const std::string entry = refused_create("p1", "dan");
    ASSERT_FALSE(entry.empty());

    auto r = run_cli({"dlq", "purge", "1-0", "--config", config()});
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_NE(r.output.find("not found: 1-0"), std::string::npos) << r.output;
    r = run_cli({"dlq", "show", "1-0", "--config", config()});
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_NE(r.output.find("no dead letter 1-0 in the index of apps app, _invalid"), std::string::npos) << r.output;
    r = run_cli({"dlq", "show", "not-an-id", "--config", config()});
    EXPECT_EQ(r.exit_code, 2) << r.output;
    r = run_cli({"dlq", "purge", "--config", config()});
    EXPECT_EQ(r.exit_code, 2) << r.output;

    r = run_cli({"dlq", "purge", "--app", kApp, "--config", config()});
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find("without --yes"), std::string::npos) << r.output;
    r = run_cli({"dlq", "purge", "--all", "--config", config()});
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_TRUE(indexed(entry)) << "a refused purge removed something";

    r = run_cli({"dlq", "purge", entry, "--config", config()});
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("purged 1 dead letter(s)"), std::string::npos) << r.output;
    EXPECT_FALSE(indexed(entry));
    r = run_cli({"dlq", "show", entry, "--config", config()});
    EXPECT_EQ(r.exit_code, 1) << r.output;

    // A confirmed bulk purge by code.
    const std::string second = refused_create("p2", "eve");
    r = run_cli({"dlq", "purge", "--app", kApp, "--error", "BadRequest", "--yes", "--config", config()});
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_FALSE(indexed(second));
    const json left = run_cli_json({"dlq", "list", "--config", config(), "--error", "BadRequest", "--json"});
    EXPECT_TRUE(left["dead_letters"].empty()) << left.dump();
}

TEST_F(DlqTest, ThousandsOfEntriesAreListedAndPurgedInPages) {
    constexpr int kEntries = 2500;  // several pages and XDEL batches
    OutcomeRecord r;
    r.app = kApp;
    r.status = OutcomeStatus::DeadLettered;
    r.code = "BulkTest";
    consumers::RedisConnection admin(test_support::redis_options_for_port(bridge().redis().port()));
    for (int i = 0; i < kEntries; ++i) {
        r.event_id = "bulk-" + std::to_string(i);
        admin.append({"XADD", KeyScheme("pb").dead_letters(kApp), "*", "event_id", r.event_id, "code", "BulkTest",
                      "json", to_json(r).dump()});
    }
    auto added = admin.get_replies();
    ASSERT_TRUE(added.ok());

    const json listed = run_cli_json({"dlq", "list", "--config", config(), "--error", "BulkTest", "--json"});
    ASSERT_EQ(listed["count"], kEntries);
    EXPECT_EQ(listed["dead_letters"][0]["event_id"], "bulk-0") << "oldest first";
    EXPECT_EQ(listed["dead_letters"][kEntries - 1]["event_id"], "bulk-" + std::to_string(kEntries - 1));

    const auto r2 = run_cli({"dlq", "purge", "--error", "BulkTest", "--yes", "--config", config()});
    EXPECT_EQ(r2.exit_code, 0) << r2.output;
    EXPECT_NE(r2.output.find("purged " + std::to_string(kEntries) + " dead letter(s)"), std::string::npos) << r2.output;
    EXPECT_TRUE(run_cli_json({"dlq", "list", "--config", config(), "--error", "BulkTest", "--json"})["dead_letters"]
                    .empty());
}

TEST_F(DlqTest, ReplayNeedsAReachableBrokerAndEveryCommandNeedsRedis) {
    auto r = run_cli({"dlq", "replay", "--all", "--config",
                      config_with("embedded.json", {{"kafka", {{"bootstrap_servers", ""}}}})});
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find("dlq replay needs a reachable Kafka broker"), std::string::npos) << r.output;

    const std::string no_redis =
        config_with("no-redis.json", {{"redis", {{"url", "redis://127.0.0.1:" + std::to_string(ops::pick_free_port()) + "/0"}}}});
    r = run_cli({"dlq", "list", "--config", no_redis});
    EXPECT_EQ(r.exit_code, 3) << r.output;
    EXPECT_NE(r.output.find("Redis unreachable"), std::string::npos) << r.output;

    r = run_cli({"dlq", "list", "--config", config(), "--app", "nope"});
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find("configured: app; and _invalid"), std::string::npos) << r.output;
    r = run_cli({"dlq", "replay", "1-0", "--all", "--config", config()});
    EXPECT_EQ(r.exit_code, 2) << r.output;
    // Arguments CLI11 refuses are exit 2 too.
    EXPECT_EQ(run_cli({"dlq"}).exit_code, 2);
    EXPECT_EQ(run_cli({"dlq", "list"}).exit_code, 2) << "no --config";
    EXPECT_EQ(run_cli({"dlq", "replay", "--all", "--wait", "soon", "--config", config()}).exit_code, 2);
    EXPECT_EQ(run_cli({"dlq", "list", "--help"}).exit_code, 0);
}

}  // namespace
}  // namespace provbridge
