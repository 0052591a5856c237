// `provbridge provision`: one object's latest known state through the real pipeline, now,
// against the real parts (redis-server, the embedded broker, SCIMMY).
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "bridge_harness.hpp"
#include "provbridge/ops/process.hpp"

namespace provbridge {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
using test_support::BridgeHarness;

constexpr const char* kApp = "app";
constexpr const char* kSource = "urn:directory:provision";

json user_event(const std::string& id, const std::string& user, const std::string& department) {
    return {{"specversion", "1.0"},
            {"id", id},
            {"source", kSource},
            {"type", "provisioning.user.assigned"},
            {"data",
             {{"app", kApp},
              {"object",
               {{"type", "user"},
                {"id", user},
                {"version", 1},
                {"attributes",
                 {{"userPrincipalName", user + "@contoso.example"}, {"mail", user + "@contoso.example"},
                  {"mailNickname", user}, {"givenName", user}, {"surname", "Tester"}, {"department", department},
                  {"displayName", user + " Tester"}, {"accountEnabled", true}}}}},
              {"assignment", {{"role", "User"}}}}}};
}

class Provision : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        BridgeHarness::Options options;
        options.app = kApp;
        options.group = "provision";
        // Only Sales is in scope: a user of another department is skipped, its state kept.
        options.app_extra = {
            {"scoping",
             {{"users", json::array({{{"name", "Sales"},
                                      {"clauses", json::array({{{"attribute", "department"},
                                                                 {"operator", "EQUALS"},
                                                                 {"value", "Sales"}}})}}})}}}};
        bridge_ = std::make_unique<BridgeHarness>(options);
        worker_ = bridge_->start_worker(false, "error");
    }
    static void TearDownTestSuite() {
        if (worker_) worker_->stop(30s);
        worker_.reset();
        bridge_.reset();
    }

    OutcomeRecord wait_outcome(const std::string& event_id) { return bridge_->wait_outcome(kSource, event_id); }

    // The configuration without the scoping filter: what an operator checks before changing it.
    std::string unscoped_config() {
        std::ifstream in(bridge_->config_path());
        json doc = json::parse(in);
        doc["apps"][0].erase("scoping");
        const std::string path = dir_.path() + "/unscoped.json";
        std::ofstream(path) << doc.dump(2);
        return path;
    }

    static std::unique_ptr<BridgeHarness> bridge_;
    static std::unique_ptr<ops::ChildProcess> worker_;
    ops::TempDir dir_{"provbridge-provision-"};
};

std::unique_ptr<BridgeHarness> Provision::bridge_;
std::unique_ptr<ops::ChildProcess> Provision::worker_;

TEST_F(Provision, AnObjectsKnownStateIsProvisionedNowWithEveryStepAndRequestPrinted) {
    bridge_->send_event(user_event("p1", "pat", "Engineering"));
    const auto skipped = wait_outcome("p1");
    ASSERT_EQ(skipped.status, OutcomeStatus::Skipped);
    ASSERT_EQ(skipped.code, "out_of_scope");
    ASSERT_TRUE(bridge_->user_named("pat@contoso.example").is_null());

    // Under the configured scoping it is still out of scope: nothing is sent, the step says why.
    const auto scoped = bridge_->cli({"provision", "--app", kApp, "--user", "pat"});
    EXPECT_EQ(scoped.exit_code, 0) << scoped.output;
    EXPECT_NE(scoped.output.find("1. Test connection  OK"), std::string::npos) << scoped.output;
    EXPECT_NE(scoped.output.find("2. Import           user/pat, version 1, assigned (role User)"), std::string::npos)
        << scoped.output;
    EXPECT_NE(scoped.output.find("scoping            Skipped"), std::string::npos) << scoped.output;
    EXPECT_NE(scoped.output.find("Result: Skipped"), std::string::npos) << scoped.output;
    EXPECT_TRUE(bridge_->user_named("pat@contoso.example").is_null()) << "an out-of-scope user got an account";

    // Without the filter, the same state is provisioned: found nowhere, created.
    const auto r = test_support::run_cli({"provision", "--config", unscoped_config(), "--app", kApp, "--user", "pat"});
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("scoping            Success"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("matching           Success"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("GET /Users?filter=userName eq \"pat@contoso.example\"  ->  HTTP 200"), std::string::npos)
        << r.output;
    EXPECT_NE(r.output.find("POST /Users  ->  HTTP 201"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("\"userName\": \"pat@contoso.example\""), std::string::npos) << "the request body";
    EXPECT_NE(r.output.find("Result: Success (Create), account "), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find(bridge_->token()), std::string::npos) << "the SCIM token is in the output";
    const auto account = bridge_->user_named("pat@contoso.example");
    ASSERT_FALSE(account.is_null());
    // Recorded like any event: the link and the provisioning log know it.
    auto link = bridge_->reader().link(kApp, ObjectType::User, "pat");
    ASSERT_TRUE(link.ok() && link->has_value());
    EXPECT_EQ((*link)->scim_id, account["id"]);
    auto log = bridge_->reader().recent_log(kApp, 5);
    ASSERT_TRUE(log.ok() && !log->empty());
    EXPECT_EQ(log->front().event_id.rfind("provision:user:pat:", 0), 0u) << log->front().event_id;
    EXPECT_EQ(log->front().status, OutcomeStatus::Applied);
}

TEST_F(Provision, AGroupIsProvisionedWithItsMembers) {
    bridge_->send_event({{"specversion", "1.0"}, {"id", "g1"}, {"source", kSource}, {"type", "provisioning.group.assigned"},
                         {"data", {{"app", kApp},
                                   {"object", {{"type", "group"}, {"id", "eng"}, {"version", 1},
                                               {"attributes", {{"displayName", "Engineering"}}}}},
                                   {"assignment", {{"role", "User"}}}}}});
    ASSERT_EQ(wait_outcome("g1").status, OutcomeStatus::Applied);
    // Its members sync, which the create parked behind itself, runs first.
    auto& reader = bridge_->reader();
    bool synced = false;
    std::string position = "0-0";
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (!synced && std::chrono::steady_clock::now() < deadline) {
        auto entries = reader.log_since(kApp, position, 100, 1000ms);
        ASSERT_TRUE(entries.ok());
        for (const auto& e : *entries) {
            position = e.id;
            synced = synced || (e.record.object_id == "eng" && e.record.event_type == "provisioning.group.members.sync");
        }
    }
    ASSERT_TRUE(synced) << "the group's members sync never ran";
    const auto r = bridge_->cli({"provision", "--app", kApp, "--group", "eng"});
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("Provision group/eng in app"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("2. Import           group/eng, version 1, account "), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("the group already has its members in the app"), std::string::npos) << r.output;
}

TEST_F(Provision, AnUnknownObjectOrABadRequestIsRefusedClearly) {
    const auto unknown = bridge_->cli({"provision", "--app", kApp, "--user", "nobody"});
    EXPECT_EQ(unknown.exit_code, 1) << unknown.output;
    EXPECT_NE(unknown.output.find("nothing known"), std::string::npos) << unknown.output;
    const auto both = bridge_->cli({"provision", "--app", kApp, "--user", "a", "--group", "b"});
    EXPECT_EQ(both.exit_code, 2) << both.output;
    const auto app = bridge_->cli({"provision", "--app", "elsewhere", "--user", "a"});
    EXPECT_EQ(app.exit_code, 2) << app.output;
    EXPECT_NE(app.output.find("no app \"elsewhere\""), std::string::npos) << app.output;
}

}  // namespace
}  // namespace provbridge
