// Group lifecycle against real parts: the provbridge binary, the embedded broker, Redis and the
// SCIMMY target, generic (groups created, renamed, deleted) and behaving like Genesys Cloud
// (groups only matched and PATCHed; a missing one waits until it is created there).
#include <csignal>
#include <map>
#include <set>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "bridge_harness.hpp"

namespace provbridge {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
using test_support::BridgeHarness;

constexpr const char* kSource = "urn:directory:groups";

json group_event(const std::string& id, const std::string& type, const std::string& group, std::int64_t version,
                 const std::string& name) {
    return {{"specversion", "1.0"}, {"id", id}, {"source", kSource}, {"type", "provisioning.group." + type},
            {"data", {{"app", "app"},
                      {"object", {{"type", "group"}, {"id", group}, {"version", version},
                                  {"attributes", {{"displayName", name}}}}},
                      {"assignment", {{"role", "User"}}}}}};
}

std::unique_ptr<BridgeHarness> harness(const std::string& profile, const std::string& behave_like) {
    BridgeHarness::Options options;
    options.profile = profile;
    options.behave_like = behave_like;
    options.group = "groups-" + profile;
    return std::make_unique<BridgeHarness>(options);
}

OutcomeRecord outcome(BridgeHarness& bridge, const std::string& event_id) {
    auto r = bridge.reader().outcome("app", kSource, event_id);
    EXPECT_TRUE(r.ok() && r->has_value()) << event_id;
    return r.ok() && r->has_value() ? **r : OutcomeRecord{};
}

std::size_t requests_to(BridgeHarness& bridge, const std::string& method, const std::string& path_prefix) {
    std::size_t n = 0;
    for (const auto& r : bridge.requests()) {
        if (r["method"] == method && r["path"].get<std::string>().rfind(path_prefix, 0) == 0) ++n;
    }
    return n;
}

TEST(GroupLifecycle, AGroupIsCreatedRenamedAndDeletedAndARedeliveryChangesNothing) {
    auto bridge = harness("generic", "generic");
    auto worker = bridge->start_worker();
    bridge->send_event(group_event("g-1", "assigned", "eng", 1, "Engineering"));
    // The create, then its members follow-up (no members: nothing sent).
    BridgeHarness::wait_finished(*worker, 2, 60s);
    json groups = bridge->admin(HttpMethod::Get, "/_admin/groups");
    ASSERT_EQ(groups.size(), 1U) << groups.dump();
    EXPECT_EQ(groups[0]["displayName"], "Engineering");
    EXPECT_EQ(groups[0]["externalId"], "eng");
    const std::string id = groups[0]["id"];
    EXPECT_EQ(outcome(*bridge, "g-1").scim_id, id);
    // The match asked for no members.
    bool matched_without_members = false;
    for (const auto& r : bridge->requests()) {
        if (r["method"] == "GET" && r["path"] == "/Groups") {
            matched_without_members = r["query"].dump().find("excludedAttributes") != std::string::npos;
        }
    }
    EXPECT_TRUE(matched_without_members) << bridge->requests().dump();

    bridge->send_event(group_event("g-1", "assigned", "eng", 1, "Engineering"));  // redelivered
    bridge->send_event(group_event("g-2", "updated", "eng", 2, "Engineering EU"));
    // finished counts the duplicate delivery too: the redelivered event, then the update.
    auto progress = BridgeHarness::wait_finished(*worker, 4, 60s);
    EXPECT_EQ(progress["duplicates"], 1) << progress.dump();
    groups = bridge->admin(HttpMethod::Get, "/_admin/groups");
    ASSERT_EQ(groups.size(), 1U) << groups.dump();
    EXPECT_EQ(groups[0]["id"], id);
    EXPECT_EQ(groups[0]["displayName"], "Engineering EU");
    EXPECT_EQ(outcome(*bridge, "g-2").action, Action::Update);
    EXPECT_EQ(requests_to(*bridge, "POST", "/Groups"), 1U);

    bridge->send_event(group_event("g-3", "unassigned", "eng", 3, "Engineering EU"));
    progress = BridgeHarness::wait_finished(*worker, 5, 60s);
    EXPECT_EQ(bridge->admin(HttpMethod::Get, "/_admin/groups").size(), 0U);
    EXPECT_EQ(outcome(*bridge, "g-3").action, Action::Delete);
    EXPECT_EQ(progress["applied"], 3) << progress.dump();
    worker->signal(SIGTERM);
    EXPECT_TRUE(worker->wait(60s).has_value());
}

TEST(GroupLifecycle, GenesysGroupsAreOnlyMatchedAndAMissingOneIsAppliedOnceItExists) {
    auto bridge = harness("genesys", "genesys");
    bridge->admin(HttpMethod::Post, "/_admin/groups", {}, json{{"displayName", "Support"}});
    auto worker = bridge->start_worker();
    bridge->send_event(group_event("s-1", "assigned", "support", 1, "Support"));
    bridge->send_event(group_event("m-1", "assigned", "sales", 1, "Sales"));  // not in Genesys yet
    // Finished counts each group's members follow-up too (no members: nothing sent).
    BridgeHarness::wait_finished(*worker, 2, 60s);
    BridgeHarness::wait_counter(*worker, "parked", 1, 60s);
    EXPECT_EQ(outcome(*bridge, "s-1").status, OutcomeStatus::Applied);

    // The operator creates the group in Genesys; the next retry finds and links it.
    bridge->admin(HttpMethod::Post, "/_admin/groups", {}, json{{"displayName", "Sales"}});
    const auto progress = BridgeHarness::wait_finished(*worker, 4, 60s);
    const auto sales = outcome(*bridge, "m-1");
    EXPECT_EQ(sales.status, OutcomeStatus::Applied) << sales.reason;
    EXPECT_GE(sales.attempts, 2);
    EXPECT_EQ(progress["dead_lettered"], 0) << progress.dump();

    bridge->send_event(group_event("s-2", "deleted", "support", 2, "Support"));
    BridgeHarness::wait_finished(*worker, 5, 60s);
    EXPECT_EQ(outcome(*bridge, "s-2").code, "delete_not_supported");
    const json groups = bridge->admin(HttpMethod::Get, "/_admin/groups");
    EXPECT_EQ(groups.size(), 2U) << "Genesys groups are never deleted: " << groups.dump();
    EXPECT_EQ(requests_to(*bridge, "POST", "/Groups"), 0U);
    EXPECT_EQ(requests_to(*bridge, "DELETE", "/Groups"), 0U);
    for (const auto& g : groups) EXPECT_FALSE(g["externalId"].is_null()) << "linked and PATCHed: " << g.dump();
    worker->signal(SIGTERM);
    EXPECT_TRUE(worker->wait(60s).has_value());
}

json members_event(const std::string& id, const std::string& change, const std::string& group, std::int64_t version,
                   const std::vector<std::string>& users) {
    return {{"specversion", "1.0"}, {"id", id}, {"source", kSource}, {"type", "provisioning.group.members." + change},
            {"data", {{"app", "app"}, {"object", {{"type", "group"}, {"id", group}, {"version", version}}},
                      {"members", users}}}};
}

json user_event(const std::string& id, const std::string& user) {
    return {{"specversion", "1.0"}, {"id", id}, {"source", kSource}, {"type", "provisioning.user.assigned"},
            {"data", {{"app", "app"},
                      {"object", {{"type", "user"}, {"id", user}, {"version", 1},
                                  {"attributes", {{"userPrincipalName", user + "@contoso.com"}, {"mailNickname", user},
                                                  {"displayName", user}, {"accountEnabled", true}}}}},
                      {"assignment", {{"role", "User"}}}}}};
}

// The target's group named `name`: its members' userNames.
std::set<std::string> member_names(BridgeHarness& bridge, const std::string& name) {
    std::map<std::string, std::string> user_names;
    for (const auto& u : bridge.users()) user_names[u["id"].get<std::string>()] = u["userName"].get<std::string>();
    std::set<std::string> out;
    for (const auto& g : bridge.admin(HttpMethod::Get, "/_admin/groups")) {
        if (g["displayName"] != name) continue;
        for (const auto& m : g.value("members", json::array())) {
            const auto found = user_names.find(m["value"].get<std::string>());
            out.insert(found == user_names.end() ? "?" + m["value"].get<std::string>() : found->second);
        }
    }
    return out;
}

// Events of one group and its members, in the order given, through one worker, until the
// group in the target has `expected` as members (how many follow-ups run depends on how the
// users' lanes and the group's interleave, so the outcomes are not counted).
void run_until_members(BridgeHarness& bridge, const std::vector<json>& events, const std::set<std::string>& expected) {
    auto worker = bridge.start_worker();
    for (const auto& e : events) bridge.send_event(e);
    BridgeHarness::wait_finished(*worker, events.size(), 90s);
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (member_names(bridge, "Engineering") != expected && std::chrono::steady_clock::now() < deadline) {
        (void)worker->read_line(1s);  // progress lines come as follow-ups finish
    }
    EXPECT_EQ(member_names(bridge, "Engineering"), expected);
    worker->signal(SIGTERM);
    EXPECT_TRUE(worker->wait(60s).has_value());
    std::size_t failed = 0;
    for (const auto& r : bridge.requests()) failed += r["status"].get<int>() >= 400 ? 1 : 0;
    EXPECT_EQ(failed, 0U) << bridge.requests().dump();
}

TEST(GroupMembers, MembersArriveWhicheverComesFirstTheGroupTheUsersOrTheMembership) {
    const std::set<std::string> expected = {"ada@contoso.com", "bob@contoso.com", "eve@contoso.com"};
    const auto group = [](std::int64_t v) { return group_event("ga-" + std::to_string(v), "assigned", "eng", v, "Engineering"); };
    const auto joined = members_event("m-1", "added", "eng", 2, {"ada", "bob", "eve"});
    const std::vector<json> people = {user_event("u-ada", "ada"), user_event("u-bob", "bob"), user_event("u-eve", "eve")};
    {
        // Group first, then the membership, then the users: each user's create sends it.
        auto bridge = harness("generic", "generic");
        std::vector<json> events = {group(1), joined};
        events.insert(events.end(), people.begin(), people.end());
        run_until_members(*bridge, events, expected);
    }
    {
        // Members first, then the users, then the group: the group's create sends them all.
        auto bridge = harness("generic", "generic");
        std::vector<json> events = {members_event("m-1", "added", "eng", 1, {"ada", "bob", "eve"})};
        events.insert(events.end(), people.begin(), people.end());
        events.push_back(group(2));
        run_until_members(*bridge, events, expected);
    }
    {
        // Users first, then the group and the membership, then one leaves.
        auto bridge = harness("generic", "generic");
        std::vector<json> events = people;
        events.push_back(group(1));
        events.push_back(joined);
        events.push_back(members_event("m-2", "removed", "eng", 3, {"bob"}));
        run_until_members(*bridge, events, {"ada@contoso.com", "eve@contoso.com"});
    }
}

json user_updated(const std::string& id, const std::string& user, std::int64_t version) {
    auto e = user_event(id, user);
    e["type"] = "provisioning.user.updated";
    e["data"]["object"]["version"] = version;
    e["data"].erase("assignment");
    return e;
}

std::int64_t route_count(BridgeHarness& bridge, const std::string& route) {
    const auto stats = bridge.stats();
    return stats["byRoute"].value(route, std::int64_t{0});
}

std::int64_t failed_requests(BridgeHarness& bridge) {
    std::int64_t failed = 0;
    for (const auto& [status, n] : bridge.stats()["byStatus"].items()) failed += std::stoi(status) >= 400 ? n.get<std::int64_t>() : 0;
    return failed;
}

// userName → active, of the target's users.
std::map<std::string, bool> accounts(BridgeHarness& bridge) {
    std::map<std::string, bool> out;
    for (const auto& u : bridge.users()) out[u["userName"].get<std::string>()] = u.value("active", true);
    return out;
}

// Sends the events and waits until `done` holds (follow-ups run after the events' own outcomes).
template <typename Done>
void run_until(BridgeHarness& bridge, ops::ChildProcess& worker, const std::vector<json>& events, Done done) {
    for (const auto& e : events) bridge.send_event(e);
    const auto deadline = std::chrono::steady_clock::now() + 90s;
    while (!done() && std::chrono::steady_clock::now() < deadline) (void)worker.read_line(1s);
    EXPECT_TRUE(done());
}

// Assignment through a group: nobody is assigned directly, the users' snapshots come as
// user.updated, and the group's assignment and membership decide who gets an account.
TEST(GroupAccess, MembersOfAnAssignedGroupGetAccountsInAnyOrderAndLeaveWithTheirLastGroup) {
    const std::vector<json> snapshots = {user_updated("up-ada", "ada", 1), user_updated("up-bob", "bob", 1)};
    const std::map<std::string, bool> both = {{"ada@contoso.com", true}, {"bob@contoso.com", true}};
    const std::set<std::string> members = {"ada@contoso.com", "bob@contoso.com"};
    for (const bool snapshots_first : {true, false}) {
        SCOPED_TRACE(snapshots_first ? "snapshots first" : "snapshots last");
        auto bridge = harness("generic", "generic");
        auto worker = bridge->start_worker();
        std::vector<json> events;
        if (snapshots_first) events = snapshots;
        events.push_back(members_event("m-1", "added", "eng", 1, {"ada", "bob"}));
        events.push_back(group_event("ga-1", "assigned", "eng", 2, "Engineering"));
        if (!snapshots_first) events.insert(events.end(), snapshots.begin(), snapshots.end());
        run_until(*bridge, *worker, events,
                  [&] { return accounts(*bridge) == both && member_names(*bridge, "Engineering") == members; });
        // Whichever ran last (a user's update or its reevaluation; the partitions interleave as
        // they will) created the account, and only once.
        EXPECT_EQ(route_count(*bridge, "POST /Users"), 2);
        // bob leaves the group: his account is disabled and he leaves the group in the target.
        run_until(*bridge, *worker, {members_event("m-2", "removed", "eng", 3, {"bob"})}, [&] {
            return accounts(*bridge) == std::map<std::string, bool>{{"ada@contoso.com", true}, {"bob@contoso.com", false}} &&
                   member_names(*bridge, "Engineering") == std::set<std::string>{"ada@contoso.com"};
        });
        // The group is unassigned: ada goes too (the generic app deletes the group).
        run_until(*bridge, *worker, {group_event("gu-1", "unassigned", "eng", 4, "Engineering")}, [&] {
            return accounts(*bridge) == std::map<std::string, bool>{{"ada@contoso.com", false}, {"bob@contoso.com", false}};
        });
        worker->signal(SIGTERM);
        EXPECT_TRUE(worker->wait(60s).has_value());
        std::size_t failed = 0;
        for (const auto& r : bridge->requests()) failed += r["status"].get<int>() >= 400 ? 1 : 0;
        EXPECT_EQ(failed, 0U) << bridge->requests().dump();
    }
}

// Assigned directly and through a group: the account stays until both are gone.
TEST(GroupAccess, AUserAssignedDirectlyAndThroughAGroupStaysUntilBothAreGone) {
    auto bridge = harness("generic", "generic");
    auto worker = bridge->start_worker();
    const std::set<std::string> ada = {"ada@contoso.com"};
    run_until(*bridge, *worker,
              {user_event("u-ada", "ada"), group_event("ga-1", "assigned", "eng", 1, "Engineering"),
               members_event("m-1", "added", "eng", 2, {"ada"})},
              [&] { return member_names(*bridge, "Engineering") == ada; });
    auto unassigned = user_event("uu-ada", "ada");
    unassigned["type"] = "provisioning.user.unassigned";
    unassigned["data"]["object"]["version"] = 2;
    run_until(*bridge, *worker, {unassigned}, [&] {
        auto r = bridge->reader().outcome("app", kSource, "uu-ada");
        return r.ok() && r->has_value();
    });
    EXPECT_EQ(outcome(*bridge, "uu-ada").code, "still_assigned");
    EXPECT_EQ(accounts(*bridge), (std::map<std::string, bool>{{"ada@contoso.com", true}}));
    run_until(*bridge, *worker, {members_event("m-2", "removed", "eng", 3, {"ada"})}, [&] {
        return accounts(*bridge) == std::map<std::string, bool>{{"ada@contoso.com", false}} &&
               member_names(*bridge, "Engineering").empty();
    });
    EXPECT_EQ(route_count(*bridge, "POST /Users"), 1);
    EXPECT_EQ(failed_requests(*bridge), 0);
    worker->signal(SIGTERM);
    EXPECT_TRUE(worker->wait(60s).has_value());
}

TEST(References, AReportAssignedBeforeItsManagerGetsTheManagerWithoutAReplay) {
    constexpr const char* kEnterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    auto bridge = harness("generic", "generic");
    auto worker = bridge->start_worker();
    auto report = user_event("u-ada", "ada");
    report["data"]["object"]["attributes"]["manager"] = "boss";
    const auto manager_of_ada = [&]() -> std::string {
        std::string boss_id;
        std::string managed;
        for (const auto& u : bridge->users()) {
            if (u["userName"] == "boss@contoso.com") boss_id = u["id"].get<std::string>();
            if (u["userName"] == "ada@contoso.com" && u.contains(kEnterprise)) {
                managed = u[kEnterprise].value("manager", json::object()).value("value", std::string());
            }
        }
        return !boss_id.empty() && managed == boss_id ? managed : std::string();
    };
    run_until(*bridge, *worker, {report}, [&] { return accounts(*bridge).contains("ada@contoso.com"); });
    EXPECT_EQ(outcome(*bridge, "u-ada").action, Action::Create);
    EXPECT_EQ(manager_of_ada(), "");
    run_until(*bridge, *worker, {user_event("u-boss", "boss")}, [&] { return !manager_of_ada().empty(); });
    worker->signal(SIGTERM);
    EXPECT_TRUE(worker->wait(60s).has_value());
    std::size_t failed = 0;
    for (const auto& r : bridge->requests()) failed += r["status"].get<int>() >= 400 ? 1 : 0;
    EXPECT_EQ(failed, 0U) << bridge->requests().dump();
}

// The manager is not assigned within the app's reference_timeout_seconds: the report's reference
// check records a reference failure in the provisioning log (status warning), the app is not
// quarantined, and the manager assigned later still reaches the report without a replay.
TEST(References, AManagerMissingPastTheTimeoutIsAReferenceFailureAndStillArrivesLater) {
    constexpr const char* kEnterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    BridgeHarness::Options options;
    options.group = "references-timeout";
    options.app_extra = {{"reference_timeout_seconds", 1}};
    BridgeHarness bridge(options);
    auto worker = bridge.start_worker();
    auto report = user_event("u-ada", "ada");
    report["data"]["object"]["attributes"]["manager"] = "boss";
    const auto warning = [&]() -> std::optional<OutcomeRecord> {
        auto log = bridge.reader().recent_log("app", 100);
        if (!log.ok()) return std::nullopt;
        for (const auto& r : *log) {
            if (r.status == OutcomeStatus::Warning && r.object_id == "ada") return r;
        }
        return std::nullopt;
    };
    run_until(bridge, *worker, {report}, [&] { return warning().has_value(); });
    const auto failure = warning();
    ASSERT_TRUE(failure.has_value());
    EXPECT_EQ(failure->code, "UnresolvedReference");
    EXPECT_EQ(failure->error_class, "reference");
    EXPECT_EQ(failure->source, kFollowUpSource);
    EXPECT_NE(failure->reason.find("boss"), std::string::npos) << failure->reason;
    const auto status = bridge.cli({"quarantine", "status", "--json"});
    const json report_of_apps = json::parse(status.output.substr(status.output.find('{')), nullptr, false);
    ASSERT_TRUE(report_of_apps.is_object()) << status.output;
    EXPECT_EQ(report_of_apps["apps"][0]["quarantined"], false) << status.output;
    const auto manager_of_ada = [&]() -> std::string {
        std::string boss_id;
        std::string managed;
        for (const auto& u : bridge.users()) {
            if (u["userName"] == "boss@contoso.com") boss_id = u["id"].get<std::string>();
            if (u["userName"] == "ada@contoso.com" && u.contains(kEnterprise)) {
                managed = u[kEnterprise].value("manager", json::object()).value("value", std::string());
            }
        }
        return !boss_id.empty() && managed == boss_id ? managed : std::string();
    };
    EXPECT_EQ(manager_of_ada(), "");
    run_until(bridge, *worker, {user_event("u-boss", "boss")}, [&] { return !manager_of_ada().empty(); });
    worker->signal(SIGTERM);
    EXPECT_TRUE(worker->wait(60s).has_value());
}

// A 1,000-member group sent in PATCHes of 100, with the worker killed -9 in the middle of the
// batches and the membership event delivered again afterwards: the group ends with exactly its
// members, at most one batch is sent twice, and the redelivery sends nothing.
TEST(GroupMembers, AThousandMembersInBatchesSurviveKill9AndARedelivery) {
    BridgeHarness::Options options;
    options.group = "groups-thousand";
    options.app_extra = {{"member_batch", 100}};
    BridgeHarness bridge(options);
    constexpr int kMembers = 1000;
    std::vector<std::string> ids;
    std::set<std::string> expected;
    auto worker = bridge.start_worker();
    for (int i = 0; i < kMembers; ++i) {
        ids.push_back("m" + std::to_string(i));
        expected.insert("m" + std::to_string(i) + "@contoso.com");
        bridge.send_event(user_event("u-m" + std::to_string(i), "m" + std::to_string(i)));
    }
    bridge.send_event(group_event("ga-1", "assigned", "eng", 1, "Engineering"));
    // The users, the group, and the group's members follow-up (nothing to send yet).
    BridgeHarness::wait_finished(*worker, kMembers + 2, 180s);
    ASSERT_EQ(bridge.stats()["users"], kMembers);

    // Slow answers, so that the kill lands between batches.
    bridge.admin(HttpMethod::Put, "/_admin/latency", {}, json{{"delayMs", 400}});
    const auto patches_before = route_count(bridge, "PATCH /Groups/{id}");
    const auto added = members_event("m-1", "added", "eng", 2, ids);
    bridge.send_event(added);
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (route_count(bridge, "PATCH /Groups/{id}") - patches_before < 3 && std::chrono::steady_clock::now() < deadline) {
        (void)worker->read_line(200ms);
    }
    ASSERT_GE(route_count(bridge, "PATCH /Groups/{id}") - patches_before, 3) << "the batches did not start";
    worker->signal(SIGKILL);
    ASSERT_TRUE(worker->wait(30s).has_value());
    const auto sent_before_kill = route_count(bridge, "PATCH /Groups/{id}") - patches_before;
    EXPECT_LT(sent_before_kill, 10) << "killed after every batch: nothing left to resume";
    bridge.admin(HttpMethod::Put, "/_admin/latency", {}, json{{"delayMs", 0}});

    auto again = bridge.start_worker();
    const auto until = std::chrono::steady_clock::now() + 120s;
    while (member_names(bridge, "Engineering").size() < kMembers && std::chrono::steady_clock::now() < until) {
        (void)again->read_line(1s);
    }
    EXPECT_EQ(member_names(bridge, "Engineering"), expected);
    const auto patches = route_count(bridge, "PATCH /Groups/{id}") - patches_before;
    EXPECT_GE(patches, 10);
    EXPECT_LE(patches, 11) << "a restart sends only what was not recorded: at most the batch in flight again";

    // Delivered again: a duplicate, nothing sent.
    const auto line = BridgeHarness::wait_counter(*again, "finished", 1, 60s);
    const auto duplicates = line.value("duplicates", std::uint64_t{0});
    bridge.send_event(added);
    BridgeHarness::wait_counter(*again, "duplicates", duplicates + 1, 60s);
    EXPECT_EQ(route_count(bridge, "PATCH /Groups/{id}") - patches_before, patches);
    EXPECT_EQ(member_names(bridge, "Engineering").size(), static_cast<std::size_t>(kMembers));
    EXPECT_EQ(failed_requests(bridge), 0);
    again->signal(SIGTERM);
    EXPECT_TRUE(again->wait(60s).has_value());
}

// Genesys: the group exists there already (seeded), is only matched, and gets its members by
// PATCH; removal from the last assigned group disables the member there too.
TEST(GroupMembers, GenesysSeededGroupsArePatchedWithTheirMembers) {
    auto bridge = harness("genesys", "genesys");
    bridge->admin(HttpMethod::Post, "/_admin/groups", {}, json{{"displayName", "Support"}});
    auto worker = bridge->start_worker();
    std::vector<json> events;
    for (const std::string user : {"ada", "bob"}) {
        auto e = user_updated("up-" + user, user, 1);
        e["data"]["object"]["attributes"]["mail"] = user + "@contoso.com";
        events.push_back(e);
    }
    events.push_back(group_event("s-1", "assigned", "support", 1, "Support"));
    events.push_back(members_event("sm-1", "added", "support", 2, {"ada", "bob"}));
    const std::set<std::string> both = {"ada@contoso.com", "bob@contoso.com"};
    run_until(*bridge, *worker, events, [&] { return member_names(*bridge, "Support") == both; });
    run_until(*bridge, *worker, {members_event("sm-2", "removed", "support", 3, {"bob"})}, [&] {
        return member_names(*bridge, "Support") == std::set<std::string>{"ada@contoso.com"} &&
               accounts(*bridge) == std::map<std::string, bool>{{"ada@contoso.com", true}, {"bob@contoso.com", false}};
    });
    EXPECT_EQ(requests_to(*bridge, "POST", "/Groups"), 0U);
    EXPECT_EQ(failed_requests(*bridge), 0);
    worker->signal(SIGTERM);
    EXPECT_TRUE(worker->wait(60s).has_value());
}

}  // namespace
}  // namespace provbridge
