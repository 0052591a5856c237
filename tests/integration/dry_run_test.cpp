// Dry run against the real parts (redis-server, the embedded broker, two SCIMMY targets): an
// app in dry run (apps[].dry_run) and a worker in dry run (run --dry-run) decide and record
// every operation and send no write; the real outcome of the same events comes later.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <filesystem>

#include <httplib.h>

#include <nlohmann/json.hpp>

#include "bridge_harness.hpp"
#include "browser_check.hpp"
#include "provbridge/core/keys.hpp"

namespace provbridge {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
using test_support::BridgeHarness;

constexpr const char* kApp = "app";
constexpr const char* kDryApp = "crm";
constexpr const char* kSource = "urn:directory:dry-run";

json user_event(const std::string& app, const std::string& id, const std::string& user, int version,
                const std::string& title) {
    return {{"specversion", "1.0"},
            {"id", id},
            {"source", kSource},
            {"type", "provisioning.user.assigned"},
            {"data",
             {{"app", app},
              {"object",
               {{"type", "user"},
                {"id", user},
                {"version", version},
                {"attributes",
                 {{"userPrincipalName", user + "@contoso.example"}, {"mail", user + "@contoso.example"},
                  {"mailNickname", user}, {"givenName", user}, {"surname", "Tester"}, {"jobTitle", title},
                  {"displayName", user + " Tester"}, {"accountEnabled", true}}}}},
              {"assignment", {{"role", "User"}}}}}};
}

// Requests the target was sent other than reads, by route ("POST /Users": 2).
std::map<std::string, int> writes_of(const json& stats) {
    std::map<std::string, int> out;
    for (const auto& [route, n] : stats["byRoute"].items()) {
        if (route.rfind("GET ", 0) != 0) out[route] = n.get<int>();
    }
    return out;
}

class DryRun : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        BridgeHarness::Options options;
        options.app = kApp;
        options.group = "dry-run";
        options.second_app = kDryApp;
        options.second_app_extra = {{"dry_run", true}};
        bridge_ = std::make_unique<BridgeHarness>(options);
    }
    static void TearDownTestSuite() { bridge_.reset(); }

    BridgeHarness& bridge() { return *bridge_; }
    OutcomeRecord outcome_of(const std::string& app, const std::string& id, std::chrono::seconds timeout = 60s) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (std::chrono::steady_clock::now() < deadline) {
            auto last = bridge().reader().last_log_id(app);
            EXPECT_TRUE(last.ok());
            auto found = bridge().reader().outcome(app, kSource, id);
            EXPECT_TRUE(found.ok());
            if (found.ok() && found->has_value()) return **found;
            (void)bridge().reader().log_since(app, last.ok() ? *last : "0-0", 10, 500ms);
        }
        ADD_FAILURE() << "no outcome for " << app << " " << id;
        return {};
    }
    // A dry run's outcome of the event, kept apart from the real one.
    OutcomeRecord dry_outcome_of(const std::string& app, const std::string& id) {
        return outcome_of(app, KeyScheme::dry_run_name(id));
    }
    json dry_app_stats() { return bridge().second_admin(HttpMethod::Get, "/_admin/stats"); }

    static std::unique_ptr<BridgeHarness> bridge_;
};

std::unique_ptr<BridgeHarness> DryRun::bridge_;

TEST_F(DryRun, AnAppInDryRunDecidesAgainstItsRealStateAndIsSentNoWrite) {
    auto worker = bridge().start_worker(false, "error");
    const std::string url = BridgeHarness::wait_ops_url(*worker);
    // An account the dry-run app has already: the dry run matches it with a real read.
    bridge().second_admin(HttpMethod::Post, "/scim/v2/Users",
                          json{{"schemas", {"urn:ietf:params:scim:schemas:core:2.0:User"}},
                               {"userName", "kim@contoso.example"}, {"active", true}, {"title", "Old title"}});
    const auto writes_before = writes_of(dry_app_stats());

    bridge().send_event(user_event(kApp, "e1", "ana", 1, "Engineer"));
    bridge().send_event(user_event(kDryApp, "c1", "ana", 1, "Engineer"));
    bridge().send_event(user_event(kDryApp, "c2", "kim", 1, "New title"));
    // The live app beside it is provisioned as usual.
    const auto live = outcome_of(kApp, "e1");
    EXPECT_EQ(live.status, OutcomeStatus::Applied);
    EXPECT_EQ(live.action, Action::Create);
    EXPECT_FALSE(live.dry_run);
    EXPECT_FALSE(bridge().user_named("ana@contoso.example").is_null());

    const auto create = dry_outcome_of(kDryApp, "c1");
    EXPECT_TRUE(create.dry_run);
    EXPECT_EQ(create.status, OutcomeStatus::Applied);
    EXPECT_EQ(create.action, Action::Create);
    EXPECT_TRUE(create.scim_id.empty()) << "a withheld create has no account: " << create.scim_id;
    EXPECT_NE(create.reason.find("dry run: not sent: POST /Users"), std::string::npos) << create.reason;
    const auto linked = dry_outcome_of(kDryApp, "c2");
    EXPECT_TRUE(linked.dry_run);
    EXPECT_EQ(linked.status, OutcomeStatus::Applied) << linked.reason;
    EXPECT_NE(linked.reason.find("not sent: PATCH /Users/"), std::string::npos) << linked.reason;
    bool title_change = false;
    for (const auto& c : linked.changes) title_change = title_change || (c.path == "title" && c.new_value == "New title");
    EXPECT_TRUE(title_change) << "the diff against the account read from the app";

    // The real outcome is still to come: none recorded under the event's own id, no link kept.
    auto real = bridge().reader().outcome(kDryApp, kSource, "c1");
    ASSERT_TRUE(real.ok());
    EXPECT_FALSE(real->has_value());
    auto link = bridge().reader().link(kDryApp, ObjectType::User, "ana");
    ASSERT_TRUE(link.ok());
    EXPECT_FALSE(link->has_value()) << "a dry run wrote a link";
    // A later version is judged against the same real state: a create again, not an update.
    bridge().send_event(user_event(kDryApp, "c3", "ana", 2, "Lead"));
    const auto again = dry_outcome_of(kDryApp, "c3");
    EXPECT_EQ(again.action, Action::Create) << again.reason;

    EXPECT_EQ(writes_of(dry_app_stats()), writes_before) << "a write reached the dry-run app: " << dry_app_stats().dump();
    const auto users = bridge().second_admin(HttpMethod::Get, "/_admin/users");
    EXPECT_EQ(users.size(), 1U) << users.dump();
    EXPECT_EQ(users[0]["title"], "Old title");

    // Operators see it: status marks the app, logs mark the entries, the page's API lists them.
    const auto status = bridge().cli({"status", "--app", kDryApp, "--json"});
    const auto status_doc = json::parse(status.output, nullptr, false);
    ASSERT_FALSE(status_doc.is_discarded()) << status.output;
    EXPECT_EQ(status_doc["apps"][0]["dry_run"], true) << status.output;
    EXPECT_GE(status_doc["apps"][0]["dry_run_events"].get<int>(), 3) << status.output;
    EXPECT_EQ(status_doc["apps"][0]["events"], 0) << "dry-run decisions counted as the app's traffic";
    const auto logs = bridge().cli({"logs", "--app", kDryApp});
    EXPECT_NE(logs.output.find("Create (dry run)"), std::string::npos) << logs.output;
    const auto host = url.substr(7, url.find(':', 7) - 7);
    const int port = std::stoi(url.substr(url.find(':', 7) + 1));
    httplib::Client client(host, port);
    auto res = client.Get((std::string("/api/v1/apps/") + kDryApp).c_str());
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200) << res->body;
    const auto detail = json::parse(res->body);
    EXPECT_EQ(detail["app"]["dry_run"], true);
    ASSERT_GE(detail["dry_run_decisions"].size(), 3U) << res->body;
    EXPECT_EQ(detail["dry_run_decisions"][0]["dry_run"], true);
    EXPECT_TRUE(detail["failures"].empty()) << res->body;

    // The page in headless Chromium marks the app and lists the same decisions as the API.
    const auto check = test_support::run_dashboard_check(
        {"--url", url.substr(0, url.size() - 1), "--token", bridge().ops_token(), "--app", kDryApp, "--dry-run",
         "--screenshot", test_support::artifact_path("dashboard-dry-run.png"), "--timeout-ms", "60000"});
    EXPECT_TRUE(check.exited_zero) << check.transcript;
    EXPECT_EQ(check.result["ok"], true) << check.transcript;
    EXPECT_GE(check.result.value("dry_run_rows", 0), 3) << check.transcript;
    worker->stop(30s);
}

TEST_F(DryRun, ADryRunWorkerLeavesTheLiveGroupItsEventsAndTheRealRunAppliesThem) {
    const auto writes_before = writes_of(bridge().stats());
    auto dry = bridge().start_worker(false, "error", {}, {"--dry-run"});
    bridge().send_event(user_event(kApp, "d1", "dana", 1, "Analyst"));
    const auto decided = dry_outcome_of(kApp, "d1");
    EXPECT_TRUE(decided.dry_run);
    EXPECT_EQ(decided.action, Action::Create) << decided.reason;
    EXPECT_TRUE(bridge().user_named("dana@contoso.example").is_null()) << "the dry run created the account";
    EXPECT_EQ(writes_of(bridge().stats()), writes_before) << bridge().stats().dump();
    dry->stop(30s);
    auto real = bridge().reader().outcome(kApp, kSource, "d1");
    ASSERT_TRUE(real.ok());
    EXPECT_FALSE(real->has_value()) << "the dry run recorded the event's real outcome";

    // The live group never gave the event to the dry run: its worker applies it now.
    auto live = bridge().start_worker(false, "error");
    const auto applied = outcome_of(kApp, "d1");
    EXPECT_FALSE(applied.dry_run);
    EXPECT_EQ(applied.status, OutcomeStatus::Applied) << applied.reason;
    EXPECT_EQ(applied.action, Action::Create);
    EXPECT_FALSE(bridge().user_named("dana@contoso.example").is_null());
    live->stop(30s);
}

}  // namespace
}  // namespace provbridge
