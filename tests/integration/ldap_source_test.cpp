// `provbridge source ldap` end to end against the real parts: OpenLDAP slapd with syncprov
// (ops::LocalSlapd), the embedded broker, redis-server, the real worker and the SCIMMY target.
// A seeded directory of 2,000 users is provisioned exactly as its app group says, through a
// kill -9 of the source during the initial sync; then each kind of live change reaches the app;
// then a kill -9 in the middle of a stream of changes loses none and duplicates none.
#include <gtest/gtest.h>
#include <httplib.h>

#include <csignal>
#include <fstream>
#include <functional>
#include <set>

#include "bridge_harness.hpp"
#include "kafka_inspect.hpp"

namespace provbridge {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
using test_support::BridgeHarness;

constexpr int kUsers = 2000;
constexpr const char* kApp = "crm";
constexpr const char* kPasswordEnv = "PB_TEST_LDAP_PASSWORD";

bool assigned_at_start(int i) { return i % 3 == 0; }
std::string uid_of(int i) { return "user" + std::to_string(i); }

class LdapSourceEndToEnd : public ::testing::Test {
protected:
    void SetUp() override { build(ops::LocalSlapd::Options{}, kUsers, assigned_at_start); }

    // A directory of `users` people (user0...), those `assigned` in the app group, a staff group
    // holding user1; the bridge with the source configured to follow it.
    void build(const ops::LocalSlapd::Options& slapd_options, int users, const std::function<bool(int)>& assigned) {
        slapd_ = std::make_unique<ops::LocalSlapd>(slapd_options);
        const auto& suffix = slapd_->suffix();
        people_ = "ou=people," + suffix;
        app_group_ = "cn=app-crm,ou=groups," + suffix;
        std::string ldif = "dn: " + people_ + "\nobjectClass: organizationalUnit\nou: people\n\n";
        ldif += "dn: ou=groups," + suffix + "\nobjectClass: organizationalUnit\nou: groups\n\n";
        for (int i = 0; i < users; ++i) ldif += user_ldif(uid_of(i), "Engineer");
        ldif += "dn: " + app_group_ + "\nobjectClass: groupOfNames\ncn: app-crm\n";
        for (int i = 0; i < users; ++i) {
            if (assigned(i)) ldif += "member: " + dn_of(uid_of(i)) + "\n";
        }
        ldif += "\ndn: cn=staff,ou=groups," + suffix + "\nobjectClass: groupOfNames\ncn: staff\nmember: " +
                dn_of(uid_of(1)) + "\n\n";
        apply(ldif);

        BridgeHarness::Options options;
        options.app = kApp;
        options.group = "ldap-source";
        options.config_extra = {
            {"sources",
             {{"ldap",
               {{"url", slapd_->url()},
                {"bind_dn", slapd_->admin_dn()},
                {"password_env", kPasswordEnv},
                {"source", "urn:directory:test-ldap"},
                {"users", {{"base_dn", people_}}},
                {"groups", {{"base_dn", "ou=groups," + suffix}}},
                {"assignments", {{{"app", kApp}, {"group", app_group_}, {"role", "User"}}}}}}}}};
        bridge_ = std::make_unique<BridgeHarness>(options);
    }

    std::string dn_of(const std::string& uid) const { return "uid=" + uid + "," + people_; }
    std::string user_ldif(const std::string& uid, const std::string& title) const {
        return "dn: " + dn_of(uid) + "\nobjectClass: inetOrgPerson\nuid: " + uid + "\ncn: " + uid + "\nsn: Tester\n" +
               "givenName: " + uid + "\nmail: " + uid + "@example.org\ntitle: " + title + "\n\n";
    }
    void apply(const std::string& ldif) {
        auto applied = slapd_->apply(ldif);
        ASSERT_TRUE(applied.ok()) << applied.error().message;
    }

    std::unique_ptr<ops::ChildProcess> start_source(const std::string& config = {}, bool dry_run = false) {
        ops::ChildProcess::Options options;
        options.argv = {PROVBRIDGE_BINARY, "source", "ldap", "--config", config.empty() ? bridge_->config_path() : config,
                        dry_run ? "--dry-run" : "--json-progress", "--log-level", "warn"};
        options.extra_env = {std::string(kPasswordEnv) + "=" + slapd_->admin_password()};
        return std::make_unique<ops::ChildProcess>(std::move(options));
    }

    // The target's accounts by userName.
    std::map<std::string, json> accounts() {
        std::map<std::string, json> out;
        for (const auto& u : bridge_->users()) out[u["userName"].get<std::string>()] = u;
        return out;
    }

    // Reads the worker's progress lines (each a moment to look again) until `holds` is true of
    // the target or the deadline passes.
    bool wait_for_target(ops::ChildProcess& worker, const std::function<bool(const std::map<std::string, json>&)>& holds,
                         std::chrono::seconds timeout = 120s) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (std::chrono::steady_clock::now() < deadline) {
            if (holds(accounts())) return true;
            (void)worker.read_line(2000ms);
        }
        return holds(accounts());
    }

    std::unique_ptr<ops::LocalSlapd> slapd_;
    std::unique_ptr<BridgeHarness> bridge_;
    std::string people_, app_group_;
};

TEST_F(LdapSourceEndToEnd, TheDirectoryReachesTheAppExactlyThroughKillsAndLiveChanges) {
    auto worker = bridge_->start_worker(false, "error");
    std::set<std::string> expected;
    for (int i = 0; i < kUsers; ++i) {
        if (assigned_at_start(i)) expected.insert(uid_of(i) + "@example.org");
    }
    auto exactly_expected = [&](const std::map<std::string, json>& accounts) {
        std::set<std::string> names;
        for (const auto& [name, account] : accounts) names.insert(name);
        return names == expected;
    };

    // kill -9 while the initial sync is under way: once the worker has the first events.
    {
        auto source = start_source();
        (void)BridgeHarness::wait_consumed(*worker, 1, 120s);
        source->signal(SIGKILL);
        (void)source->wait(30s);
    }
    auto source = start_source();
    ASSERT_TRUE(wait_for_target(*worker, exactly_expected)) << accounts().size() << " accounts";
    const auto users = bridge_->users();
    EXPECT_EQ(users.size(), expected.size()) << "an account was created twice";
    for (const auto& u : users) EXPECT_EQ(u["active"], true) << u.dump();

    // Live changes, each to the app within seconds.
    const std::string joined = uid_of(1) + "@example.org";
    apply("dn: " + app_group_ + "\nchangetype: modify\nadd: member\nmember: " + dn_of(uid_of(1)) + "\n");
    ASSERT_TRUE(wait_for_target(*worker, [&](const auto& a) { return a.count(joined) == 1; })) << "joined the app group";
    apply("dn: " + dn_of(uid_of(0)) + "\nchangetype: modify\nreplace: title\ntitle: Lead\n");
    ASSERT_TRUE(wait_for_target(*worker, [&](const auto& a) {
        return a.count("user0@example.org") && a.at("user0@example.org").value("title", "") == "Lead";
    })) << "attribute change";
    apply("dn: " + app_group_ + "\nchangetype: modify\ndelete: member\nmember: " + dn_of(uid_of(3)) + "\n");
    ASSERT_TRUE(wait_for_target(*worker, [&](const auto& a) {
        return a.count("user3@example.org") && a.at("user3@example.org")["active"] == false;
    })) << "left the app group: disabled";
    apply("dn: " + dn_of(uid_of(6)) + "\nchangetype: delete\n");
    // Deleted in the directory: disabled in the app, its hard delete scheduled for 30 days on.
    ASSERT_TRUE(wait_for_target(*worker, [&](const auto& a) {
        return a.count("user6@example.org") == 1 && a.at("user6@example.org")["active"] == false;
    })) << "deleted in the directory: disabled in the app";
    const auto status = bridge_->cli({"deletes", "status", "--json"});
    const auto at = status.output.find('[');
    const json report = at == std::string::npos ? json() : json::parse(status.output.substr(at), nullptr, false);
    ASSERT_TRUE(report.is_array() && report.size() == 1) << status.output;
    EXPECT_EQ(report[0]["scheduled"].size(), 1U) << status.output;
    apply("dn: " + dn_of(uid_of(9)) + "\nchangetype: modrdn\nnewrdn: uid=renamed9\ndeleteoldrdn: 1\n");
    ASSERT_TRUE(wait_for_target(*worker, [&](const auto& a) {
        return a.count("user9@example.org") && a.at("user9@example.org").value("externalId", "") == "renamed9";
    })) << "a rename is an update of the same account";
    apply("dn: " + dn_of(uid_of(12)) + "\nchangetype: modify\nreplace: manager\nmanager: " + dn_of(uid_of(15)) + "\n");
    const std::string enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    ASSERT_TRUE(wait_for_target(*worker, [&](const auto& a) {
        if (!a.count("user12@example.org") || !a.count("user15@example.org")) return false;
        const auto& report = a.at("user12@example.org");
        return report.contains(enterprise) && report[enterprise].contains("manager") &&
               report[enterprise]["manager"].value("value", "") == a.at("user15@example.org")["id"];
    })) << "the manager, as the manager's account in the app: " << accounts()["user12@example.org"].dump();
    // The rename kept the membership: user9 is still active.
    EXPECT_EQ(accounts()["user9@example.org"]["active"], true);

    // kill -9 in the middle of a stream of changes: the restarted source sends what was not
    // acknowledged and stored, and the bridge takes what was sent twice as duplicates.
    std::string changes;
    std::set<int> retitled;
    for (int i = 18; i < 18 + 60 * 3; i += 3) {
        changes += "dn: " + dn_of(uid_of(i)) + "\nchangetype: modify\nreplace: title\ntitle: Streamed\n\n";
        retitled.insert(i);
    }
    apply(changes);
    source->signal(SIGKILL);
    (void)source->wait(30s);
    apply("dn: " + dn_of(uid_of(21)) + "\nchangetype: modify\nreplace: title\ntitle: While down\n");
    source = start_source();
    ASSERT_TRUE(wait_for_target(*worker, [&](const auto& a) {
        for (int i : retitled) {
            const auto name = uid_of(i) + "@example.org";
            const std::string want = i == 21 ? "While down" : "Streamed";
            if (!a.count(name) || a.at(name).value("title", "") != want) return false;
        }
        return true;
    })) << "a change was lost across the kill";
    expected.insert(joined);  // user6 stays, disabled, until its hard delete
    const auto final_accounts = accounts();
    std::set<std::string> names;
    for (const auto& [name, account] : final_accounts) names.insert(name);
    EXPECT_EQ(names, expected);
    EXPECT_EQ(bridge_->users().size(), expected.size()) << "no account twice";
    source->stop();
    worker->stop(30s);
}

// A group listed in the app group is assigned to the app: it is created there with its members,
// who come in through it; membership changes, a rename and its leaving the app group follow.
TEST_F(LdapSourceEndToEnd, AGroupAssignedThroughTheAppGroupIsProvisionedWithItsMembers) {
    const std::string staff = "cn=staff,ou=groups," + slapd_->suffix();
    // user1 is in staff already; 2 and 4 join it; staff joins the app group. None of them is a
    // member of the app group itself.
    apply("dn: " + staff + "\nchangetype: modify\nadd: member\nmember: " + dn_of(uid_of(2)) + "\nmember: " +
          dn_of(uid_of(4)) + "\n\ndn: " + app_group_ + "\nchangetype: modify\nadd: member\nmember: " + staff + "\n");
    auto worker = bridge_->start_worker(false, "error");
    const std::string url = BridgeHarness::wait_ops_url(*worker);
    auto source = start_source();
    // The group in the app, with the app's ids of exactly these members.
    auto group_holds = [&](const std::string& name, const std::set<std::string>& user_names) {
        const auto groups = bridge_->admin(HttpMethod::Get, "/_admin/groups");
        if (groups.size() != 1 || groups[0].value("displayName", "") != name) return false;
        const auto all = accounts();
        std::set<std::string> want, have;
        for (const auto& u : user_names) {
            if (!all.count(u) || all.at(u)["active"] != true) return false;
            want.insert(all.at(u)["id"].get<std::string>());
        }
        for (const auto& m : groups[0].value("members", json::array())) have.insert(m["value"].get<std::string>());
        return have == want;
    };
    auto wait_group = [&](const std::string& name, const std::set<std::string>& members) {
        return wait_for_target(*worker, [&](const auto&) { return group_holds(name, members); });
    };
    ASSERT_TRUE(wait_group("staff", {"user1@example.org", "user2@example.org", "user4@example.org"}))
        << bridge_->admin(HttpMethod::Get, "/_admin/groups").dump();
    ASSERT_TRUE(wait_for_target(*worker, [&](const auto& a) { return a.size() == 667 + 3; })) << accounts().size();

    apply("dn: " + staff + "\nchangetype: modify\nadd: member\nmember: " + dn_of(uid_of(5)) + "\n");
    ASSERT_TRUE(wait_group("staff", {"user1@example.org", "user2@example.org", "user4@example.org",
                                     "user5@example.org"}))
        << "a new member: its account is created and added";
    apply("dn: " + staff + "\nchangetype: modify\ndelete: member\nmember: " + dn_of(uid_of(2)) + "\n");
    ASSERT_TRUE(wait_group("staff", {"user1@example.org", "user4@example.org", "user5@example.org"}));
    ASSERT_TRUE(wait_for_target(*worker, [&](const auto& a) {
        return a.count("user2@example.org") && a.at("user2@example.org")["active"] == false;
    })) << "a member leaving the only group that gave it the app is disabled";

    apply("dn: " + staff + "\nchangetype: modrdn\nnewrdn: cn=team\ndeleteoldrdn: 1\n");
    ASSERT_TRUE(wait_group("team", {"user1@example.org", "user4@example.org", "user5@example.org"}))
        << "a renamed group is the same group under its new name";

    const std::string team = "cn=team,ou=groups," + slapd_->suffix();
    apply("dn: " + app_group_ + "\nchangetype: modify\ndelete: member\nmember: " + team + "\n");
    ASSERT_TRUE(wait_for_target(*worker, [&](const auto& a) {
        for (const char* name : {"user1@example.org", "user4@example.org", "user5@example.org"}) {
            if (!a.count(name) || a.at(name)["active"] != false) return false;
        }
        return bridge_->admin(HttpMethod::Get, "/_admin/groups").empty();
    })) << "unassigned: the group is removed from the app and its members lose the app "
        << bridge_->admin(HttpMethod::Get, "/_admin/groups").dump();
    EXPECT_EQ(accounts().size(), 667U + 4) << "no account twice";

    // Operators see the source: its state and counters in status, the page's API and the metrics.
    const auto status = bridge_->cli({"status", "--json"});
    const auto doc = json::parse(status.output, nullptr, false);
    ASSERT_FALSE(doc.is_discarded()) << status.output;
    ASSERT_EQ(doc["sources"].size(), 1U) << status.output;
    const auto& row = doc["sources"][0];
    EXPECT_EQ(row["source"], "urn:directory:test-ldap");
    EXPECT_EQ(row["state"], "following") << status.output;
    EXPECT_EQ(row["users"], kUsers);
    EXPECT_EQ(row["groups"], 2) << "the app group and the team";
    EXPECT_GE(row["entries_read"].get<int>(), kUsers + 2);
    EXPECT_GE(row["events_sent"].get<int>(), 667 + 4) << status.output;
    EXPECT_EQ(status.output.find(slapd_->admin_password()), std::string::npos);
    const auto text = bridge_->cli({"status"});
    EXPECT_NE(text.output.find("directory sources:"), std::string::npos) << text.output;
    EXPECT_NE(text.output.find("following"), std::string::npos) << text.output;
    const auto host = url.substr(7, url.find(':', 7) - 7);
    httplib::Client client(host, std::stoi(url.substr(url.find(':', 7) + 1)));
    auto fleet = client.Get("/api/v1/apps");
    ASSERT_TRUE(fleet);
    ASSERT_EQ(fleet->status, 200) << fleet->body;
    EXPECT_EQ(json::parse(fleet->body)["sources"][0]["state"], "following") << fleet->body;
    auto metrics = client.Get("/metrics");
    ASSERT_TRUE(metrics);
    EXPECT_NE(metrics->body.find("provbridge_source_up{source=\"urn:directory:test-ldap\"} 1"), std::string::npos)
        << metrics->body;
    EXPECT_NE(metrics->body.find("provbridge_source_objects{kind=\"user\",source=\"urn:directory:test-ldap\"} 2000"),
              std::string::npos);

    source->stop();
    const auto stopped = json::parse(bridge_->cli({"status", "--json"}).output, nullptr, false);
    ASSERT_FALSE(stopped.is_discarded());
    EXPECT_EQ(stopped["sources"][0]["state"], "stopped") << "a source that stopped says so";
    worker->stop(30s);
}

TEST_F(LdapSourceEndToEnd, ADryRunPrintsTheEventsItWouldSendAndStoresNothing) {
    ops::ChildProcess::Options options;
    options.argv = {PROVBRIDGE_BINARY, "source", "ldap", "--config", bridge_->config_path(), "--dry-run",
                    "--log-level", "warn"};
    options.extra_env = {std::string(kPasswordEnv) + "=" + slapd_->admin_password()};
    ops::ChildProcess dry(std::move(options));
    std::set<std::string> assigned;
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (assigned.size() < static_cast<std::size_t>((kUsers + 2) / 3) && std::chrono::steady_clock::now() < deadline) {
        auto line = dry.read_line(5000ms);
        if (!line) break;
        const auto doc = json::parse(*line, nullptr, false);
        if (doc.is_discarded() || !doc.is_object()) continue;
        EXPECT_EQ(doc["type"], "provisioning.user.assigned");
        EXPECT_EQ(doc["source"], "urn:directory:test-ldap");
        assigned.insert(doc["data"]["object"]["attributes"]["mail"].get<std::string>());
    }
    EXPECT_EQ(assigned.size(), static_cast<std::size_t>((kUsers + 2) / 3));
    dry.stop();
    // Nothing stored: a real run afterwards starts from the beginning.
    consumers::RedisOptions redis;
    redis.port = bridge_->redis().port();
    consumers::RedisConnection connection(redis);
    auto keys = connection.call({"KEYS", "*source:*"});
    ASSERT_TRUE(keys.ok()) << keys.error().message;
    EXPECT_TRUE(keys->elements.empty()) << "a dry run stored its progress";
    // And nothing sent: the events topic is empty.
    const auto position = test_support::group_position(bridge_->broker().bootstrap_servers(), "ldap-source",
                                                       BridgeHarness::kTopic, bridge_->options().partitions);
    EXPECT_EQ(position.end_total(), 0) << "the dry run sent events";
}

// A change of the source's rules takes effect for everyone at the next start: under a new app
// group and attribute map, a dry run shows what the change means, and the real run applies it:
// the old group's members leave the app, the new group's arrive, who is in both is updated.
TEST_F(LdapSourceEndToEnd, ChangedRulesAreAppliedToEveryoneAtTheNextStart) {
    const std::string next_group = "cn=app-crm-next,ou=groups," + slapd_->suffix();
    apply("dn: " + next_group + "\nobjectClass: groupOfNames\ncn: app-crm-next\nmember: " + dn_of(uid_of(1)) +
          "\nmember: " + dn_of(uid_of(2)) + "\nmember: " + dn_of(uid_of(3)) + "\n");
    auto worker = bridge_->start_worker(false, "error");
    auto source = start_source();
    ASSERT_TRUE(wait_for_target(*worker, [&](const auto& a) { return a.size() == 667; })) << accounts().size();
    source->stop();

    std::ifstream in(bridge_->config_path());
    json config = json::parse(in);
    config["sources"]["ldap"]["assignments"][0]["group"] = next_group;
    config["sources"]["ldap"]["attributes"] = {{"jobTitle", "sn"}};
    const std::string changed = bridge_->config_path() + ".changed.json";
    std::ofstream(changed) << config.dump(2);

    // The dry run prints what the new rules mean and stores nothing.
    std::map<std::string, int> by_type;
    std::set<std::string> assigned;
    {
        auto dry = start_source(changed, true);
        const auto deadline = std::chrono::steady_clock::now() + 90s;
        while (std::chrono::steady_clock::now() < deadline) {
            auto line = dry->read_line(8000ms);
            if (!line) break;
            const auto doc = json::parse(*line, nullptr, false);
            if (doc.is_discarded() || !doc.is_object() || !doc.contains("type")) continue;
            ++by_type[doc["type"].get<std::string>()];
            if (doc["type"] != "provisioning.user.unassigned") {
                assigned.insert(doc["data"]["object"]["attributes"].value("mail", ""));
                EXPECT_EQ(doc["data"]["object"]["attributes"].value("jobTitle", ""), "Tester") << *line;
            }
        }
        dry->stop();
    }
    EXPECT_EQ(by_type["provisioning.user.unassigned"], 666) << "the old group's members but user3";
    EXPECT_EQ(by_type["provisioning.user.assigned"], 2) << "user1 and user2";
    EXPECT_EQ(by_type["provisioning.user.updated"], 1) << "user3, in both, with its new jobTitle";
    EXPECT_EQ(assigned, (std::set<std::string>{"user1@example.org", "user2@example.org", "user3@example.org"}));

    source = start_source(changed);
    auto state_of = [&](const std::map<std::string, json>& a, int& disabled, bool& next_ok) {
        disabled = 0;
        next_ok = a.size() == 669;
        for (const auto& [name, account] : a) {
            const bool in_next = name == "user1@example.org" || name == "user2@example.org" || name == "user3@example.org";
            if (!in_next && account["active"] == false) ++disabled;
            if (in_next && (account["active"] != true || account.value("title", "") != "Tester")) next_ok = false;
        }
    };
    // 666 disables at once: the app's deletion threshold (500 within the hour) sends 500 and
    // stages the rest for an operator, as for any mass unassignment.
    auto staged = [&] {
        const auto report = json::parse(bridge_->cli({"deletes", "status", "--json"}).output, nullptr, false);
        return report.is_array() && report.size() == 1 ? report[0].value("staged", -1) : -1;
    };
    ASSERT_TRUE(wait_for_target(*worker, [&](const auto& a) {
        int disabled = 0;
        bool next_ok = false;
        state_of(a, disabled, next_ok);
        return next_ok && disabled == 500 && staged() == 166;
    })) << accounts().size() << " accounts, staged " << staged() << "\n" << bridge_->cli({"status"}).output;
    const auto allowed = bridge_->cli({"deletes", "allow", "--app", kApp});
    EXPECT_EQ(allowed.exit_code, 0) << allowed.output;
    ASSERT_TRUE(wait_for_target(*worker, [&](const auto& a) {
        int disabled = 0;
        bool next_ok = false;
        state_of(a, disabled, next_ok);
        return next_ok && disabled == 666;
    })) << bridge_->cli({"status"}).output;
    source->stop();
    // The new rules are stored with the state they judged: the next start has nothing to redo.
    consumers::RedisOptions redis;
    redis.port = bridge_->redis().port();
    consumers::RedisConnection connection(redis);
    auto keys = connection.call({"KEYS", "*source:*:rules"});
    ASSERT_TRUE(keys.ok()) << keys.error().message;
    ASSERT_EQ(keys->elements.size(), 1U);
    auto rules = connection.call({"GET", keys->elements[0].str});
    ASSERT_TRUE(rules.ok());
    EXPECT_NE(rules->str.find("cn=app-crm-next"), std::string::npos) << rules->str;
    worker->stop(30s);
}

// The source killed after its initial sync; while it is down, users are renamed, get a new
// manager, leave the app group. slapd is configured as production directories are, with and
// without a session log (with one, it answers the resume with the changes and the entries it no
// longer finds in each search, which names the other search's modified entries too). The
// restarted source sends exactly the changes: no account of a living user is deleted.
struct RestartShape {
    const char* name;
    int sessionlog;
    const char* checkpoint;
};
void PrintTo(const RestartShape& shape, std::ostream* out) { *out << shape.name; }

class LdapSourceRestart : public LdapSourceEndToEnd, public ::testing::WithParamInterface<RestartShape> {
protected:
    static constexpr int kPeople = 500;
    static constexpr int kAssigned = 305;
    void SetUp() override {
        ops::LocalSlapd::Options options;
        options.sessionlog = GetParam().sessionlog;
        options.checkpoint = GetParam().checkpoint;
        build(options, kPeople, [](int i) { return i < kAssigned; });
    }
};

TEST_P(LdapSourceRestart, ARestartedSourceSendsTheChangesMadeWhileItWasDownAndDeletesNoLivingUser) {
    auto worker = bridge_->start_worker(false, "error");
    auto source = start_source();
    ASSERT_TRUE(wait_for_target(*worker, [&](const auto& a) { return a.size() == kAssigned; })) << accounts().size();
    source->signal(SIGKILL);
    (void)source->wait(30s);

    std::string changes;
    for (int i = 0; i < 30; ++i) {
        changes += "dn: " + dn_of(uid_of(i)) + "\nchangetype: modify\nreplace: cn\ncn: Renamed " + std::to_string(i) +
                   "\n\n";
    }
    for (int i = 30; i < 40; ++i) {
        changes += "dn: " + dn_of(uid_of(i)) + "\nchangetype: modify\nreplace: manager\nmanager: " +
                   dn_of(uid_of(i + 100)) + "\n\n";
    }
    for (int i = 40; i < 70; ++i) {
        changes += "dn: " + app_group_ + "\nchangetype: modify\ndelete: member\nmember: " + dn_of(uid_of(i)) + "\n\n";
    }
    apply(changes);
    source = start_source();

    const std::string enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    std::string why;
    auto exact = [&](const std::map<std::string, json>& a) {
        if (a.size() != kAssigned) return why = std::to_string(a.size()) + " accounts", false;
        for (int i = 0; i < kAssigned; ++i) {
            const auto name = uid_of(i) + "@example.org";
            if (!a.count(name)) return why = name + " is missing", false;
            const auto& account = a.at(name);
            const bool active = i < 40 || i >= 70;
            if (account["active"] != active) return why = name + " active is " + account["active"].dump(), false;
            if (i < 30 && account.value("displayName", "") != "Renamed " + std::to_string(i)) {
                return why = name + " displayName " + account.value("displayName", ""), false;
            }
            if (i >= 30 && i < 40) {
                const auto boss = uid_of(i + 100) + "@example.org";
                if (!account.contains(enterprise) || !a.count(boss) ||
                    account[enterprise].value("manager", json::object()).value("value", "") != a.at(boss)["id"]) {
                    return why = name + " has no manager " + boss, false;
                }
            }
        }
        return true;
    };
    EXPECT_TRUE(wait_for_target(*worker, exact)) << why;
    EXPECT_EQ(bridge_->users().size(), static_cast<std::size_t>(kAssigned)) << "no account twice, none deleted";
    const auto status = json::parse(bridge_->cli({"status", "--json"}).output, nullptr, false);
    ASSERT_FALSE(status.is_discarded());
    EXPECT_EQ(status["sources"][0].value("deletions_confirmed", -1), 0) << status["sources"].dump();
    source->stop();
    worker->stop(30s);
}

INSTANTIATE_TEST_SUITE_P(Slapd, LdapSourceRestart,
                         ::testing::Values(RestartShape{"session log", 10000, "100 1"},
                                           RestartShape{"no session log", 0, "100 1"}),
                         [](const auto& shape) { return shape.param.sessionlog > 0 ? "SessionLog" : "PresentPhase"; });

}  // namespace
}  // namespace provbridge
