// Each connector profile against the SCIM target made to behave like that app
// (tests/scim-target --behave-like), through the real binary, broker and Redis.
#include <csignal>
#include <fstream>
#include <set>
#include <sys/wait.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "provbridge/consumers/curl_scim_client.hpp"
#include "provbridge/consumers/redis_store.hpp"
#include "provbridge/core/keys.hpp"
#include "provbridge/ops/embedded_broker.hpp"
#include "provbridge/ops/local_services.hpp"
#include "provbridge/ops/process.hpp"
#include "provbridge/producers/producer.hpp"
#include "bridge_harness.hpp"

namespace provbridge {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kEnterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

json user_event(const std::string& id, const std::string& type, const std::string& user, std::int64_t version,
                json attributes, const std::string& role = "User", const std::string& app = "app") {
    json data = {{"app", app}, {"object", {{"type", "user"}, {"id", user}, {"version", version}, {"attributes", attributes}}}};
    if (!role.empty()) data["assignment"] = {{"role", role}};
    return {{"specversion", "1.0"}, {"id", id}, {"source", "urn:directory:profiles"},
            {"type", "provisioning.user." + type}, {"data", data}};
}

json person(const std::string& upn, const std::string& given, const std::string& surname, json extra = json::object()) {
    json a = {{"userPrincipalName", upn}, {"mail", upn}, {"mailNickname", given}, {"givenName", given},
              {"surname", surname}, {"displayName", given + " " + surname}, {"jobTitle", "Engineer"},
              {"department", "R&D"}, {"mobile", "+33 6 11 22 33 44"}, {"telephoneNumber", "+33 1 11 22 33 44"},
              {"employeeId", "42"}, {"preferredLanguage", "fr-FR"}, {"accountEnabled", true}};
    a.update(extra);
    return a;
}

class ProfileTest : public ::testing::Test {
protected:
    void start(const std::string& profile, const std::string& behave_like, json app_extra = json::object()) {
        test_support::BridgeHarness::Options options;
        options.profile = profile;
        options.behave_like = behave_like;
        options.app_extra = std::move(app_extra);
        options.group = "profiles";
        bridge_ = std::make_unique<test_support::BridgeHarness>(options);
        worker_ = bridge_->start_worker(false, "error");
    }

    // Sends events one object after the other and waits until each is finished, so the order of
    // outcomes is the order given.
    void send(const std::vector<json>& events) {
        for (const auto& e : events) {
            bridge_->send_event(e);
            test_support::BridgeHarness::wait_finished(*worker_, ++sent_, 60s);
        }
    }

    OutcomeRecord outcome(const std::string& event_id) {
        auto r = bridge_->reader().outcome("app", "urn:directory:profiles", event_id);
        EXPECT_TRUE(r.ok() && r->has_value()) << event_id;
        return r.ok() && r->has_value() ? **r : OutcomeRecord{};
    }

    json user_named(const std::string& user_name) { return bridge_->user_named(user_name); }
    json users() { return bridge_->users(); }
    // The SCIM requests the target received, as {method, path, query, body, status}.
    json requests() { return bridge_->requests(); }

    std::unique_ptr<test_support::BridgeHarness> bridge_;
    std::unique_ptr<ops::ChildProcess> worker_;
    std::uint64_t sent_ = 0;
};

TEST_F(ProfileTest, GenericProvisionsEntrasDefaultMappingWithManagerAndScoping) {
    start("generic", "generic",
          {{"scoping", {{"users", json::array({{{"name", "R&D only"},
                                                {"clauses", json::array({{{"attribute", "department"},
                                                                          {"operator", "EQUALS"},
                                                                          {"value", "R&D"}}})}}})}}}});
    send({user_event("g1", "assigned", "boss", 1, person("grace@contoso.example", "Grace", "Hopper")),
          user_event("g2", "assigned", "ada", 1, person("ada@contoso.example", "Ada", "Lovelace", {{"manager", "boss"}})),
          user_event("g3", "assigned", "sam", 1, person("sam@contoso.example", "Sam", "Sales", {{"department", "Sales"}})),
          user_event("g4", "updated", "ada", 2,
                     person("ada@contoso.example", "Ada", "Lovelace", {{"manager", "boss"}, {"jobTitle", "Countess"}}), ""),
          user_event("g5", "updated", "boss", 2,
                     person("grace@contoso.example", "Grace", "Hopper", {{"department", "Navy"}}), "")});

    const json boss = user_named("grace@contoso.example");
    const json ada = user_named("ada@contoso.example");
    ASSERT_TRUE(boss.is_object() && ada.is_object());
    EXPECT_EQ(ada["active"], true);
    EXPECT_EQ(ada["displayName"], "Ada Lovelace");
    EXPECT_EQ(ada["title"], "Countess");
    EXPECT_EQ(ada["name"]["formatted"], "Ada Lovelace");
    EXPECT_EQ(ada["externalId"], "Ada");
    EXPECT_EQ(ada["preferredLanguage"], "fr-FR");
    EXPECT_EQ(ada[kEnterprise]["employeeNumber"], "42");
    EXPECT_EQ(ada[kEnterprise]["manager"]["value"], boss["id"]);

    EXPECT_EQ(outcome("g3").code, "out_of_scope");
    EXPECT_NE(outcome("g3").reason.find("department EQUALS \"R&D\""), std::string::npos) << outcome("g3").reason;
    EXPECT_TRUE(user_named("sam@contoso.example").is_null()) << "an out-of-scope user was provisioned";
    const auto fell_out = outcome("g5");
    EXPECT_EQ(fell_out.action, Action::Disable);
    EXPECT_NE(fell_out.reason.find("department is \"Navy\""), std::string::npos) << fell_out.reason;
    EXPECT_EQ(user_named("grace@contoso.example")["active"], false);

    // The update of ada sent one PATCH with only the changed title, lowercase op.
    bool saw_patch = false;
    for (const auto& r : requests()) {
        if (r["method"] == "PATCH" && r["path"].get<std::string>().find(ada["id"].get<std::string>()) != std::string::npos) {
            saw_patch = true;
            EXPECT_EQ(r["body"]["Operations"], json::array({{{"op", "replace"}, {"path", "title"}, {"value", "Countess"}}}));
        }
        if (r["method"] == "POST") {
            EXPECT_TRUE(r["body"]["active"].is_boolean());
        }
    }
    EXPECT_TRUE(saw_patch);
}

TEST_F(ProfileTest, LeapsomeSendsOnlyWorkEmailsAndKeepsUserNamesUnique) {
    start("leapsome", "leapsome",
          {{"mappings", {{"users", json::array({{{"target", R"(emails[type eq "home"].value)"}, {"source", "otherMail"}}})}}}});
    send({user_event("l1", "assigned", "ada", 1,
                     person("ada@contoso.example", "Ada", "Lovelace", {{"otherMail", "ada@home.example"}})),
          user_event("l2", "assigned", "bob", 1,
                     person("bob@contoso.example", "Bob", "Home", {{"mail", nullptr}, {"otherMail", "bob@home.example"}})),
          user_event("l3", "assigned", "guest", 1, person("guest@contoso.example", "Guest", "User"), "Default Access"),
          user_event("l4", "assigned", "ada-twin", 1, person("ADA@contoso.example", "Ada", "Twin"))});

    const json ada = user_named("ada@contoso.example");
    ASSERT_TRUE(ada.is_object());
    EXPECT_EQ(ada["emails"], json::array({{{"type", "work"}, {"value", "ada@contoso.example"}}}));
    EXPECT_EQ(ada["name"]["familyName"], "Lovelace") << "the twin overwrote ada's account";

    const auto refused = outcome("l2");
    EXPECT_EQ(refused.status, OutcomeStatus::DeadLettered);
    EXPECT_EQ(refused.code, "ConnectorRuleViolation");
    EXPECT_EQ(refused.scim_requests, 0);
    EXPECT_NE(refused.reason.find("only stores work email"), std::string::npos) << refused.reason;
    EXPECT_EQ(outcome("l3").code, "not_entitled");
    const auto twin = outcome("l4");
    EXPECT_EQ(twin.code, "DuplicateSourceEntries");
    EXPECT_NE(twin.reason.find("already linked to source user ada"), std::string::npos) << twin.reason;

    for (const auto& r : requests()) {
        EXPECT_EQ(r["query"].dump().find("bob@"), std::string::npos) << "a request was sent for the refused user";
        EXPECT_EQ(r["query"].dump().find("guest@"), std::string::npos) << "a request was sent for Default Access";
        EXPECT_LT(r["status"].get<int>(), 400) << r.dump();
    }
    EXPECT_EQ(users().size(), 1U);
}

TEST_F(ProfileTest, EliumTakesUsersOnly) {
    start("elium", "elium");
    json group = {{"specversion", "1.0"}, {"id", "e2"}, {"source", "urn:directory:profiles"},
                  {"type", "provisioning.group.assigned"},
                  {"data", {{"app", "app"}, {"object", {{"type", "group"}, {"id", "g1"}, {"version", 1},
                                                         {"attributes", {{"displayName", "Engineering"}}}}}}}};
    send({user_event("e1", "assigned", "ada", 1, person("ada@contoso.example", "Ada", "Lovelace")), group});
    EXPECT_EQ(outcome("e1").action, Action::Create);
    const auto skipped = outcome("e2");
    EXPECT_EQ(skipped.status, OutcomeStatus::Skipped);
    EXPECT_EQ(skipped.code, "not_supported_by_app");
    EXPECT_NE(skipped.reason.find("users only"), std::string::npos);
    for (const auto& r : requests()) EXPECT_EQ(r["path"].get<std::string>().find("/Groups"), std::string::npos);
}

TEST_F(ProfileTest, GenesysSendsItsAttributeTableAndFiltersOnlyOnUserName) {
    start("genesys", "genesys");
    send({user_event("n1", "assigned", "boss", 1, person("grace@contoso.example", "Grace", "Hopper")),
          user_event("n2", "assigned", "ada", 1, person("ada@contoso.example", "Ada", "Lovelace", {{"manager", "boss"}}))});
    const json ada = user_named("ada@contoso.example");
    ASSERT_TRUE(ada.is_object());
    EXPECT_EQ(ada[kEnterprise]["manager"]["value"], user_named("grace@contoso.example")["id"]);
    for (const auto& r : requests()) {
        if (r["method"] == "GET") {
            EXPECT_EQ(r["query"]["filter"].get<std::string>().rfind("userName eq ", 0), 0U) << r.dump();
        }
        if (r["method"] == "POST") {
            std::set<std::string> keys;
            for (const auto& [k, v] : r["body"].items()) keys.insert(k);
            EXPECT_EQ(keys, (std::set<std::string>{"schemas", "userName", "active", "displayName", "emails", "title",
                                                   "phoneNumbers", kEnterprise}))
                << r["body"].dump();
        }
    }
}

TEST(ProfileConfig, GenesysRefusesMatchingOnAnotherAttributeAtStart) {
    ops::TempDir dir("provbridge-profiles-");
    const std::string config = dir.path() + "/bridge.json";
    std::ofstream(config) << R"({"ops":{"listen":"127.0.0.1:0"},"apps":[{"id":"gen","profile":"genesys",
        "scim":{"base_url":"https://api.mypurecloud.com/api/v2/scim/v2","token_env":"GEN_TOKEN"},
        "mappings":{"users":[{"target":"externalId","source":"mailNickname","match":2}]}}]})";
    ops::ChildProcess::Options options;
    options.argv = {PROVBRIDGE_BINARY, "run", "--config", config};
    options.merge_stderr = true;
    options.extra_env = {"GEN_TOKEN=x"};
    ops::ChildProcess run(std::move(options));
    std::string output;
    while (auto line = run.read_line(30s)) output += *line + "\n";
    const auto status = run.wait(10s);
    ASSERT_TRUE(status.has_value());
    EXPECT_EQ(WEXITSTATUS(*status), 2) << output;
    EXPECT_NE(output.find(config + ": apps[0].mappings.users: matching on externalId is not possible"), std::string::npos)
        << output;
}

}  // namespace
}  // namespace provbridge
