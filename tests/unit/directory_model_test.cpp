// The directory model: which contract events a followed directory's changes mean.
#include <gtest/gtest.h>

#include <algorithm>
#include <stdexcept>

#include "provbridge/transforms/directory.hpp"

namespace provbridge::transforms::directory {
namespace {

constexpr const char* kPeople = "ou=people,dc=example,dc=org";
constexpr std::int64_t kT0 = 1'800'000'000'000'000;  // micros

std::string dn_of(const std::string& uid) { return "uid=" + uid + "," + kPeople; }
const std::string kCrmGroup = "cn=app-crm,ou=apps,dc=example,dc=org";
const std::string kHrGroup = "cn=app-hr,ou=apps,dc=example,dc=org";

SourceRules rules() {
    SourceRules r;
    r.source = "urn:directory:example";
    r.attributes = default_attribute_map();
    r.apps = {{"crm", kCrmGroup, std::string("User"), ""}, {"hr", kHrGroup, std::nullopt, "employeeType"}};
    return r;
}

Attributes person(const std::string& uid, const std::string& title = "Engineer") {
    return {{"uid", {uid}},
            {"sn", {"Surname-" + uid}},
            {"givenname", {"Given-" + uid}},
            {"mail", {uid + "@example.org"}},
            {"title", {title}},
            {"description", {"not mapped"}}};
}

Attributes group(const std::vector<std::string>& member_uids) {
    Attributes a{{"cn", {"app"}}, {"member", {}}};
    for (const auto& uid : member_uids) a["member"].push_back(dn_of(uid));
    return a;
}

std::vector<std::string> summary(const std::vector<Event>& events) {
    std::vector<std::string> out;
    for (const auto& e : events) out.push_back(e.app + " " + std::string(to_string(e.type)) + " " + e.object_id);
    std::sort(out.begin(), out.end());
    return out;
}

// Ends a refresh whose present phase named everything there is: what it left out is removed,
// as the source does once the directory confirmed those entries are gone.
std::vector<Event> swept(DirectoryModel& model) {
    for (const auto& [id, kind] : model.unseen(true, true)) (void)model.remove(id, kind, 0);
    return model.end_refresh();
}

// A model after the initial refresh: ana, ben, cem; crm's group holds ana and ben.
DirectoryModel refreshed() {
    DirectoryModel model(rules());
    model.begin_refresh();
    // The group arrives first: its members are resolved once the refresh is judged.
    EXPECT_TRUE(model.upsert("g-crm", EntryKind::Group, kCrmGroup, group({"ana", "ben"}), kT0).empty());
    EXPECT_TRUE(model.upsert("u-ana", EntryKind::User, dn_of("ana"), person("ana"), kT0 + 1).empty());
    EXPECT_TRUE(model.upsert("u-ben", EntryKind::User, dn_of("ben"), person("ben"), kT0 + 2).empty());
    EXPECT_TRUE(model.upsert("u-cem", EntryKind::User, dn_of("cem"), person("cem"), kT0 + 3).empty());
    (void)model.end_refresh();
    return model;
}

TEST(DirectoryModelTest, TheInitialRefreshAssignsExactlyTheAppGroupsMembersWithTheirMappedSnapshot) {
    DirectoryModel model(rules());
    model.begin_refresh();
    model.upsert("g-crm", EntryKind::Group, kCrmGroup, group({"ana", "ben"}), kT0);
    model.upsert("u-ana", EntryKind::User, dn_of("ana"), person("ana"), kT0 + 1);
    model.upsert("u-ben", EntryKind::User, dn_of("ben"), person("ben"), kT0 + 2);
    model.upsert("u-cem", EntryKind::User, dn_of("cem"), person("cem"), kT0 + 3);
    const auto events = model.end_refresh();
    EXPECT_EQ(summary(events), (std::vector<std::string>{"crm provisioning.user.assigned u-ana",
                                                         "crm provisioning.user.assigned u-ben"}));
    const auto& ana = events[0].object_id == "u-ana" ? events[0] : events[1];
    EXPECT_EQ(ana.source, "urn:directory:example");
    EXPECT_EQ(ana.role, "User");
    EXPECT_EQ(ana.attributes["mailNickname"], "ana");
    EXPECT_EQ(ana.attributes["surname"], "Surname-ana");
    EXPECT_EQ(ana.attributes["jobTitle"], "Engineer");
    EXPECT_EQ(ana.attributes["accountEnabled"], true);
    EXPECT_FALSE(ana.attributes.contains("description")) << "only mapped attributes are sent";
    EXPECT_EQ(ana.version, kT0 + 1) << "the latest change of the user and of its app group";
    EXPECT_EQ(ana.id, "ldap:u-ana:" + std::to_string(kT0 + 1) + ":crm:assigned");
    const auto& ben = events[0].object_id == "u-ben" ? events[0] : events[1];
    EXPECT_EQ(ben.version, kT0 + 2);
    EXPECT_EQ(record_key(ana), "crm/user/u-ana");
}

TEST(DirectoryModelTest, MembershipChangesOfAnAppGroupAssignAndUnassignOnlyThoseConcerned) {
    auto model = refreshed();
    const auto events = model.upsert("g-crm", EntryKind::Group, kCrmGroup, group({"ben", "cem"}), kT0 + 100);
    EXPECT_EQ(summary(events), (std::vector<std::string>{"crm provisioning.user.assigned u-cem",
                                                         "crm provisioning.user.unassigned u-ana"}));
    // The same membership sent again changes nothing.
    EXPECT_TRUE(model.upsert("g-crm", EntryKind::Group, kCrmGroup, group({"ben", "cem"}), kT0 + 101).empty());
}

TEST(DirectoryModelTest, AMappedAttributeChangeIsAnUpdateAndAnUnmappedOneIsNothing) {
    auto model = refreshed();
    auto unmapped = person("ben");
    unmapped["description"] = {"changed"};
    EXPECT_TRUE(model.upsert("u-ben", EntryKind::User, dn_of("ben"), unmapped, kT0 + 200).empty());
    const auto events = model.upsert("u-ben", EntryKind::User, dn_of("ben"), person("ben", "Lead"), kT0 + 201);
    ASSERT_EQ(summary(events), (std::vector<std::string>{"crm provisioning.user.updated u-ben"}));
    EXPECT_EQ(events[0].attributes["jobTitle"], "Lead");
    EXPECT_EQ(events[0].version, kT0 + 201);
    // A change of a user outside every app group is nobody's business.
    EXPECT_TRUE(model.upsert("u-cem", EntryKind::User, dn_of("cem"), person("cem", "Lead"), kT0 + 202).empty());
}

TEST(DirectoryModelTest, ARenamedUserKeepsItsAssignmentAndADeletedOneIsDeleted) {
    auto model = refreshed();
    auto renamed = person("ben-new");
    const auto events = model.upsert("u-ben", EntryKind::User, dn_of("ben-new"), renamed, kT0 + 300);
    ASSERT_EQ(summary(events), (std::vector<std::string>{"crm provisioning.user.updated u-ben"}));
    EXPECT_EQ(events[0].attributes["mailNickname"], "ben-new");
    const auto& members = model.groups().at("g-crm").member_dns;
    EXPECT_EQ(members.count(normalize_dn(dn_of("ben-new"))), 1U);

    const auto deleted = model.remove("u-ben", EntryKind::User, kT0 + 301);
    ASSERT_EQ(summary(deleted), (std::vector<std::string>{"crm provisioning.user.deleted u-ben"}));
    EXPECT_EQ(model.groups().at("g-crm").member_dns.count(normalize_dn(dn_of("ben-new"))), 0U)
        << "the deleted user left the group, as the server's referential integrity does";
    EXPECT_TRUE(model.remove("u-ben", EntryKind::User, kT0 + 302).empty()) << "a second delete is nothing";
}

TEST(DirectoryModelTest, TheManagerIsSentAsTheManagersSourceIdOnceBothAreKnown) {
    DirectoryModel model(rules());
    model.begin_refresh();
    auto report = person("ana");
    report["manager"] = {"UID=boss, OU=People,DC=example,DC=org"};
    model.upsert("u-ana", EntryKind::User, dn_of("ana"), report, kT0);
    model.upsert("g-crm", EntryKind::Group, kCrmGroup, group({"ana", "boss"}), kT0);
    model.upsert("u-boss", EntryKind::User, dn_of("boss"), person("boss"), kT0);
    const auto events = model.end_refresh();
    ASSERT_EQ(events.size(), 2U);
    for (const auto& e : events) {
        if (e.object_id == "u-ana") {
            EXPECT_EQ(e.attributes["manager"], "u-boss");
        }
    }
    // The manager is deleted: the report's snapshot loses its manager.
    const auto after = model.remove("u-boss", EntryKind::User, kT0 + 5);
    EXPECT_EQ(summary(after), (std::vector<std::string>{"crm provisioning.user.deleted u-boss",
                                                        "crm provisioning.user.updated u-ana"}));
}

TEST(DirectoryModelTest, TheRoleComesFromTheRuleOrTheUsersAttribute) {
    DirectoryModel model(rules());
    model.begin_refresh();
    auto ana = person("ana");
    ana["employeetype"] = {"Admin"};
    model.upsert("u-ana", EntryKind::User, dn_of("ana"), ana, kT0);
    model.upsert("g-hr", EntryKind::Group, kHrGroup, group({"ana"}), kT0);
    const auto events = model.end_refresh();
    ASSERT_EQ(events.size(), 1U);
    EXPECT_EQ(events[0].app, "hr");
    EXPECT_EQ(events[0].role, "Admin");
    ana["employeetype"] = {"User"};
    const auto changed = model.upsert("u-ana", EntryKind::User, dn_of("ana"), ana, kT0 + 2);
    ASSERT_EQ(summary(changed), (std::vector<std::string>{"hr provisioning.user.assigned u-ana"}));
    EXPECT_EQ(changed[0].role, "User") << "a role change is a new assignment";
}

TEST(DirectoryModelTest, ARestoredModelResumesWithoutRepeatingAndFindsDeletionsInThePresentPhase) {
    auto model = refreshed();
    DirectoryModel restored(rules());
    for (const auto& [id, user] : model.users()) {
        auto back = user_from_json(to_json(user));
        ASSERT_TRUE(back.ok()) << back.error().message;
        restored.restore_user(id, *back);
    }
    for (const auto& [id, g] : model.groups()) {
        auto back = group_from_json(to_json(g));
        ASSERT_TRUE(back.ok()) << back.error().message;
        restored.restore_group(id, *back);
    }
    // Resumed from a cookie: ben changed, ana was deleted while nobody followed (not named).
    restored.begin_refresh();
    restored.mark_present("g-crm");
    restored.mark_present("u-cem");
    restored.upsert("u-ben", EntryKind::User, dn_of("ben"), person("ben", "Lead"), kT0 + 400);
    const auto events = swept(restored);
    EXPECT_EQ(summary(events), (std::vector<std::string>{"crm provisioning.user.deleted u-ana",
                                                         "crm provisioning.user.updated u-ben"}));
    EXPECT_EQ(restored.take_removed(), (std::set<std::string>{"u-ana"}));
}

TEST(DirectoryModelTest, AnAppGroupRecreatedUnderTheSameDnKeepsItsMembersAssigned) {
    auto model = refreshed();
    // While nobody followed, the group was deleted and created again (a new entryUUID).
    model.begin_refresh();
    for (const char* id : {"u-ana", "u-ben", "u-cem"}) model.mark_present(id);
    model.upsert("g-crm-new", EntryKind::Group, kCrmGroup, group({"ana", "ben"}), kT0 + 700);
    const auto events = swept(model);
    EXPECT_TRUE(events.empty()) << summary(events).front();
    EXPECT_EQ(model.groups().count("g-crm"), 0U);
    EXPECT_EQ(model.groups().at("g-crm-new").member_dns.size(), 2U);
}

TEST(DirectoryModelTest, AUserRecreatedUnderTheSameDnIsANewAccountAndStaysInItsGroups) {
    auto model = refreshed();
    model.begin_refresh();
    for (const char* id : {"g-crm", "u-ana", "u-cem"}) model.mark_present(id);
    model.upsert("u-ben-new", EntryKind::User, dn_of("ben"), person("ben"), kT0 + 800);
    const auto events = swept(model);
    EXPECT_EQ(summary(events), (std::vector<std::string>{"crm provisioning.user.assigned u-ben-new",
                                                         "crm provisioning.user.deleted u-ben"}));
}

TEST(DirectoryModelTest, WhatAnEntryIsComesFromItsSearchNotItsDn) {
    // Groups kept below the users' base (users.base_dn = the whole tree).
    DirectoryModel model(rules());
    model.begin_refresh();
    model.upsert("u-ana", EntryKind::User, dn_of("ana"), person("ana"), kT0);
    model.upsert("g-crm", EntryKind::Group, kCrmGroup, group({"ana"}), kT0);
    EXPECT_EQ(summary(model.end_refresh()), (std::vector<std::string>{"crm provisioning.user.assigned u-ana"}));
    EXPECT_EQ(model.users().count("g-crm"), 0U);
}

TEST(DirectoryModelTest, TheSameChangesFromTheSameStateGiveTheSameEventIds) {
    auto a = refreshed();
    auto b = refreshed();
    const auto from_a = a.upsert("g-crm", EntryKind::Group, kCrmGroup, group({"ana", "ben", "cem"}), kT0 + 500);
    const auto from_b = b.upsert("g-crm", EntryKind::Group, kCrmGroup, group({"ana", "ben", "cem"}), kT0 + 500);
    ASSERT_EQ(from_a.size(), 1U);
    ASSERT_EQ(from_b.size(), 1U);
    EXPECT_EQ(from_a[0].id, from_b[0].id) << "a re-sent event is recognised as a duplicate by the bridge";
}

TEST(DirectoryModelTest, VersionsIncreaseEvenWhenTheChangeTimeDoesNot) {
    auto model = refreshed();
    const auto first = model.upsert("u-ana", EntryKind::User, dn_of("ana"), person("ana", "A"), kT0 + 600);
    const auto second = model.upsert("u-ana", EntryKind::User, dn_of("ana"), person("ana", "B"), kT0 + 600);
    const auto third = model.upsert("u-ana", EntryKind::User, dn_of("ana"), person("ana", "C"), 0);
    ASSERT_EQ(first.size(), 1U);
    ASSERT_EQ(second.size(), 1U);
    ASSERT_EQ(third.size(), 1U);
    EXPECT_LT(first[0].version, second[0].version);
    EXPECT_LT(second[0].version, third[0].version);
}

TEST(DirectoryModelTest, ChangeTimesAndDnsAreReadLikeTheDirectoryWritesThem) {
    EXPECT_EQ(change_time_micros("19700101000000Z"), 0);
    EXPECT_EQ(change_time_micros("19700101000001.5Z"), 1'500'000);
    EXPECT_EQ(change_time_micros("20261202142130.176426Z#000000#000#000000"), 1796221290176426);
    EXPECT_EQ(change_time_micros("20261202142130Z"), 1796221290000000);
    EXPECT_FALSE(change_time_micros("2026-12-02T14:21:30Z").has_value());
    EXPECT_FALSE(change_time_micros("20261302142130Z").has_value());
    EXPECT_FALSE(change_time_micros("").has_value());
    EXPECT_EQ(normalize_dn(" UID=Ana , OU=People,DC=Example "), "uid=ana,ou=people,dc=example");
}


// Groups assigned to an app: a group listed in the app group (as users and groups are assigned in
// Entra) is provisioned as a group, with its members as deltas.
const std::string kTeam = "cn=engineering,ou=groups,dc=example,dc=org";

Attributes team(const std::vector<std::string>& member_uids, const std::string& name = "Engineering") {
    Attributes a{{"cn", {name}}, {"description", {"Builders"}}, {"member", {}}};
    for (const auto& uid : member_uids) a["member"].push_back(dn_of(uid));
    return a;
}

// crm's group holds dan directly and the engineering group, which holds ana and ben; cem is in
// no group.
DirectoryModel with_assigned_team(std::vector<Event>* initial = nullptr) {
    DirectoryModel model(rules());
    model.begin_refresh();
    auto app_group = group({"dan"});
    app_group["member"].push_back(kTeam);
    model.upsert("g-crm", EntryKind::Group, kCrmGroup, app_group, kT0);
    model.upsert("g-team", EntryKind::Group, kTeam, team({"ana", "ben"}), kT0 + 10);
    for (const char* uid : {"ana", "ben", "cem", "dan"}) {
        model.upsert(std::string("u-") + uid, EntryKind::User, dn_of(uid), person(uid), kT0 + 1);
    }
    auto events = model.end_refresh();
    if (initial != nullptr) *initial = std::move(events);
    return model;
}

const Event& only(const std::vector<Event>& events, EventType type) {
    const auto found = std::find_if(events.begin(), events.end(), [&](const Event& e) { return e.type == type; });
    if (found == events.end()) throw std::runtime_error("no " + std::string(to_string(type)));
    return *found;
}

TEST(DirectoryModelTest, AGroupInTheAppGroupIsAssignedWithItsMembersAndTheirSnapshots) {
    std::vector<Event> events;
    (void)with_assigned_team(&events);
    EXPECT_EQ(summary(events), (std::vector<std::string>{"crm provisioning.group.assigned g-team",
                                                         "crm provisioning.group.members.added g-team",
                                                         "crm provisioning.user.assigned u-dan",
                                                         "crm provisioning.user.updated u-ana",
                                                         "crm provisioning.user.updated u-ben"}));
    const auto& assigned = only(events, EventType::GroupAssigned);
    EXPECT_EQ(assigned.object_type, ObjectType::Group);
    EXPECT_EQ(assigned.subject, "group/g-team");
    EXPECT_EQ(assigned.attributes["displayName"], "Engineering");
    EXPECT_EQ(assigned.attributes["description"], "Builders");
    EXPECT_EQ(assigned.role, "User");
    EXPECT_EQ(assigned.version, kT0 + 10);
    EXPECT_EQ(assigned.id, "ldap:g-team:" + std::to_string(kT0 + 10) + ":crm:assigned");
    const auto& added = only(events, EventType::GroupMembersAdded);
    EXPECT_EQ(added.members, (std::vector<std::string>{"u-ana", "u-ben"}));
    EXPECT_EQ(added.id, "ldap:g-team:" + std::to_string(kT0 + 10) + ":crm:added");
    for (const auto& e : events) {
        if (e.type == EventType::UserUpdated) {
            EXPECT_EQ("u-" + e.attributes["mailNickname"].get<std::string>(), e.object_id);
        }
    }
}

TEST(DirectoryModelTest, MembershipChangesOfAnAssignedGroupAreDeltasAndNewMembersGetTheirSnapshot) {
    auto model = with_assigned_team();
    const auto events = model.upsert("g-team", EntryKind::Group, kTeam, team({"ben", "cem"}), kT0 + 100);
    EXPECT_EQ(summary(events), (std::vector<std::string>{"crm provisioning.group.members.added g-team",
                                                         "crm provisioning.group.members.removed g-team",
                                                         "crm provisioning.user.updated u-cem"}))
        << "ana's access is decided by the bridge from the membership it records";
    EXPECT_EQ(only(events, EventType::GroupMembersAdded).members, (std::vector<std::string>{"u-cem"}));
    EXPECT_EQ(only(events, EventType::GroupMembersRemoved).members, (std::vector<std::string>{"u-ana"}));
    EXPECT_EQ(only(events, EventType::GroupMembersAdded).version, kT0 + 100);
    EXPECT_TRUE(model.upsert("g-team", EntryKind::Group, kTeam, team({"ben", "cem"}), kT0 + 101).empty())
        << "the same members sent again are no change";

    // A member's attribute change reaches the app through the group; a non-member's does not.
    const auto title = model.upsert("u-cem", EntryKind::User, dn_of("cem"), person("cem", "Lead"), kT0 + 102);
    ASSERT_EQ(summary(title), (std::vector<std::string>{"crm provisioning.user.updated u-cem"}));
    EXPECT_EQ(title[0].attributes["jobTitle"], "Lead");
    EXPECT_TRUE(model.upsert("u-ana", EntryKind::User, dn_of("ana"), person("ana", "Lead"), kT0 + 103).empty());
}

TEST(DirectoryModelTest, ARenamedGroupIsUpdatedAndStaysAssigned) {
    auto model = with_assigned_team();
    const std::string renamed = "cn=platform,ou=groups,dc=example,dc=org";
    const auto events = model.upsert("g-team", EntryKind::Group, renamed, team({"ana", "ben"}, "Platform"), kT0 + 200);
    ASSERT_EQ(summary(events), (std::vector<std::string>{"crm provisioning.group.updated g-team"}));
    EXPECT_EQ(events[0].attributes["displayName"], "Platform");
    EXPECT_EQ(model.groups().at("g-crm").member_dns.count(normalize_dn(renamed)), 1U)
        << "the app group lists the group under its new DN, as referential integrity rewrites it";
}

TEST(DirectoryModelTest, AGroupLeavingTheAppGroupIsUnassignedAndADeletedOneIsDeleted) {
    auto model = with_assigned_team();
    const auto left = model.upsert("g-crm", EntryKind::Group, kCrmGroup, group({"dan"}), kT0 + 300);
    EXPECT_EQ(summary(left), (std::vector<std::string>{"crm provisioning.group.unassigned g-team"}));
    auto back = group({"dan"});
    back["member"].push_back(kTeam);
    const auto again = model.upsert("g-crm", EntryKind::Group, kCrmGroup, back, kT0 + 301);
    EXPECT_EQ(summary(again), (std::vector<std::string>{"crm provisioning.group.assigned g-team",
                                                        "crm provisioning.group.members.added g-team",
                                                        "crm provisioning.user.updated u-ana",
                                                        "crm provisioning.user.updated u-ben"}));
    const auto deleted = model.remove("g-team", EntryKind::Group, kT0 + 302);
    EXPECT_EQ(summary(deleted), (std::vector<std::string>{"crm provisioning.group.deleted g-team"}));
    EXPECT_EQ(deleted[0].attributes["displayName"], "Engineering");
    EXPECT_GT(deleted[0].version, again[0].version);
}

TEST(DirectoryModelTest, UnassignedButStillInAnAssignedGroupTheNewAttributesGoAsAnUpdate) {
    // ana is in the app group herself and in the team, which is assigned through it. In one
    // refresh she leaves the app group and gets a new title: the unassignment changes nothing of
    // her account (the team keeps her in scope), so the title must still reach the app.
    auto model = with_assigned_team();
    auto app_group = group({"dan", "ana"});
    app_group["member"].push_back(kTeam);
    (void)model.upsert("g-crm", EntryKind::Group, kCrmGroup, app_group, kT0 + 20);
    model.begin_refresh();
    app_group = group({"dan"});
    app_group["member"].push_back(kTeam);
    model.upsert("g-crm", EntryKind::Group, kCrmGroup, app_group, kT0 + 30);
    model.upsert("u-ana", EntryKind::User, dn_of("ana"), person("ana", "Lead"), kT0 + 31);
    for (const char* id : {"g-team", "u-ben", "u-cem", "u-dan"}) model.mark_present(id);
    const auto events = model.end_refresh();
    EXPECT_EQ(summary(events), (std::vector<std::string>{"crm provisioning.user.unassigned u-ana",
                                                         "crm provisioning.user.updated u-ana"}));
    EXPECT_EQ(only(events, EventType::UserUpdated).attributes["jobTitle"], "Lead");
    EXPECT_EQ(only(events, EventType::UserUpdated).version, only(events, EventType::UserUnassigned).version);
    EXPECT_NE(only(events, EventType::UserUpdated).id, only(events, EventType::UserUnassigned).id);
}

TEST(DirectoryModelTest, ASearchSpeaksOnlyForItsOwnEntries) {
    // slapd's session log names, among one search's deletions, the modified entries it does not
    // find in that search: the groups search names modified users, the users search the groups.
    auto model = with_assigned_team();
    EXPECT_TRUE(model.remove("u-ana", EntryKind::Group, kT0 + 400).empty());
    EXPECT_TRUE(model.remove("g-team", EntryKind::User, kT0 + 401).empty());
    EXPECT_TRUE(model.remove("g-crm", EntryKind::User, kT0 + 402).empty());
    EXPECT_EQ(model.users().count("u-ana"), 1U);
    EXPECT_EQ(model.groups().count("g-team"), 1U);
    EXPECT_TRUE(model.take_removed().empty());
}

TEST(DirectoryModelTest, WhatARefreshLeftUnnamedIsListedNotRemoved) {
    auto model = refreshed();
    EXPECT_TRUE(model.unseen(true, true).empty()) << "outside a refresh nothing is unseen";
    model.begin_refresh();
    model.mark_present("u-ana");
    model.upsert("g-crm", EntryKind::Group, kCrmGroup, group({"ana", "ben"}), kT0);
    EXPECT_TRUE(model.named_in_refresh("u-ana"));
    EXPECT_FALSE(model.named_in_refresh("u-ben"));
    using Unseen = std::vector<std::pair<std::string, EntryKind>>;
    EXPECT_EQ(model.unseen(true, true), (Unseen{{"u-ben", EntryKind::User}, {"u-cem", EntryKind::User}}));
    EXPECT_EQ(model.unseen(false, true), Unseen{});
    EXPECT_TRUE(model.end_refresh().empty()) << "nothing left unnamed is deleted by the model itself";
    EXPECT_EQ(model.users().size(), 3U);
}

TEST(DirectoryModelTest, AMemberDeletedInTheDirectoryIsDeletedAndLeavesTheGroup) {
    auto model = with_assigned_team();
    const auto events = model.remove("u-ana", EntryKind::User, kT0 + 400);
    EXPECT_EQ(summary(events), (std::vector<std::string>{"crm provisioning.group.members.removed g-team",
                                                         "crm provisioning.user.deleted u-ana"}));
    EXPECT_EQ(only(events, EventType::GroupMembersRemoved).members, (std::vector<std::string>{"u-ana"}));
}

TEST(DirectoryModelTest, ARestartedRefreshFindsOnlyTheGroupsRealDifferences) {
    auto model = with_assigned_team();
    // A refresh that finds the same tree (a cookie the server no longer accepts) sends nothing.
    model.begin_refresh();
    auto app_group = group({"dan"});
    app_group["member"].push_back(kTeam);
    model.upsert("g-crm", EntryKind::Group, kCrmGroup, app_group, kT0);
    model.upsert("g-team", EntryKind::Group, kTeam, team({"ana", "ben", "cem"}), kT0 + 500);
    for (const char* uid : {"ana", "ben", "cem", "dan"}) model.mark_present(std::string("u-") + uid);
    const auto events = swept(model);
    EXPECT_EQ(summary(events), (std::vector<std::string>{"crm provisioning.group.members.added g-team",
                                                         "crm provisioning.user.updated u-cem"}));
}

TEST(DirectoryModelTest, ALargeGroupsMembersAreSentInEventsOfAtMostFiveThousand) {
    DirectoryModel model(rules());
    model.begin_refresh();
    auto app_group = group({});
    app_group["member"].push_back(kTeam);
    model.upsert("g-crm", EntryKind::Group, kCrmGroup, app_group, kT0);
    std::vector<std::string> uids;
    for (int i = 0; i < 12000; ++i) uids.push_back("user" + std::to_string(i));
    model.upsert("g-team", EntryKind::Group, kTeam, team(uids), kT0);
    for (const auto& uid : uids) model.upsert("u-" + uid, EntryKind::User, dn_of(uid), person(uid), kT0);
    const auto events = model.end_refresh();
    std::vector<const Event*> parts;
    std::set<std::string> ids, members;
    for (const auto& e : events) {
        if (e.type != EventType::GroupMembersAdded) continue;
        parts.push_back(&e);
        ids.insert(e.id);
        members.insert(e.members.begin(), e.members.end());
        EXPECT_LE(e.members.size(), 5000U);
    }
    EXPECT_EQ(parts.size(), 3U);
    EXPECT_EQ(ids.size(), 3U) << "each part has an id of its own";
    EXPECT_EQ(members.size(), 12000U);
}

TEST(DirectoryModelTest, AStoredGroupKeepsWhatItsEventsNeed) {
    auto model = with_assigned_team();
    const auto& stored = model.groups().at("g-team");
    auto back = group_from_json(to_json(stored));
    ASSERT_TRUE(back.ok()) << back.error().message;
    EXPECT_EQ(back->attributes, stored.attributes);
    EXPECT_EQ(back->changed, stored.changed);
    EXPECT_EQ(back->version, stored.version);
    EXPECT_EQ(back->member_dns, stored.member_dns);
}

TEST(DirectoryModelTest, TheDepartmentIsTheDepartmentNumberOrElseTheOuAndTheDisplayNameOrElseTheCn) {
    DirectoryModel model(rules());
    model.begin_refresh();
    model.upsert("g-crm", EntryKind::Group, kCrmGroup, group({"ana", "ben"}), kT0);
    auto ana = person("ana");
    ana["ou"] = {"Sales"};
    ana["cn"] = {"Ana A."};
    auto ben = person("ben");
    ben["ou"] = {"Sales"};
    ben["departmentnumber"] = {"4711"};
    ben["cn"] = {"Ben B."};
    ben["displayname"] = {"Benjamin"};
    model.upsert("u-ana", EntryKind::User, dn_of("ana"), ana, kT0);
    model.upsert("u-ben", EntryKind::User, dn_of("ben"), ben, kT0);
    const auto events = model.end_refresh();
    ASSERT_EQ(events.size(), 2U);
    for (const auto& e : events) {
        EXPECT_EQ(e.attributes["department"], e.object_id == "u-ana" ? "Sales" : "4711") << e.object_id;
        EXPECT_EQ(e.attributes["displayName"], e.object_id == "u-ana" ? "Ana A." : "Benjamin") << e.object_id;
    }
}

TEST(DirectoryModelTest, WithAnIdAttributeTheEventsNameUsersByItAndAChangeOfItIsAnotherObject) {
    auto r = rules();
    r.id_attribute = "employeeNumber";
    DirectoryModel model(r);
    model.begin_refresh();
    model.upsert("g-crm", EntryKind::Group, kCrmGroup, group({"ana", "boss", "nobody"}), kT0);
    auto ana = person("ana");
    ana["employeenumber"] = {"E-1"};
    ana["manager"] = {dn_of("boss")};
    auto boss = person("boss");
    boss["employeenumber"] = {"E-9"};
    model.upsert("u-ana", EntryKind::User, dn_of("ana"), ana, kT0);
    model.upsert("u-boss", EntryKind::User, dn_of("boss"), boss, kT0);
    model.upsert("u-nobody", EntryKind::User, dn_of("nobody"), person("nobody"), kT0);  // no employeeNumber
    const auto events = model.end_refresh();
    EXPECT_EQ(summary(events), (std::vector<std::string>{"crm provisioning.user.assigned E-1",
                                                         "crm provisioning.user.assigned E-9"}))
        << "a user without its id attribute is in no app's scope";
    for (const auto& e : events) {
        EXPECT_EQ(e.subject, "user/" + e.object_id);
        EXPECT_EQ(e.id.rfind("ldap:" + e.object_id + ":", 0), 0U) << e.id;
        if (e.object_id == "E-1") {
            EXPECT_EQ(e.attributes["manager"], "E-9") << "the manager by its id attribute too";
        }
    }
    // Restored from storage, the id is kept.
    DirectoryModel restored(r);
    for (const auto& [key, user] : model.users()) restored.restore_user(key, *user_from_json(to_json(user)));
    for (const auto& [key, g] : model.groups()) restored.restore_group(key, *group_from_json(to_json(g)));
    ana["title"] = {"Lead"};
    EXPECT_EQ(summary(restored.upsert("u-ana", EntryKind::User, dn_of("ana"), ana, kT0 + 5)),
              (std::vector<std::string>{"crm provisioning.user.updated E-1"}));
    // A new value of the id attribute: the old object leaves the app, the new one arrives.
    ana["employeenumber"] = {"E-2"};
    const auto changed = restored.upsert("u-ana", EntryKind::User, dn_of("ana"), ana, kT0 + 6);
    EXPECT_EQ(summary(changed), (std::vector<std::string>{"crm provisioning.user.assigned E-2",
                                                          "crm provisioning.user.unassigned E-1"}));
}

TEST(DirectoryModelTest, ARefreshUnderChangedRulesSendsWhatTheChangeMeans) {
    DirectoryModel model = refreshed();  // crm: ana and ben, as User
    const std::string crm_users = "cn=crm-users,ou=apps,dc=example,dc=org";
    auto changed = rules();
    changed.apps = {{"crm", crm_users, std::string("Admin"), ""}};  // hr is no longer followed
    changed.attributes.emplace_back("jobTitle", "description");
    changed.attributes.erase(std::find_if(changed.attributes.begin(), changed.attributes.end(),
                                          [](const auto& row) { return row.first == "jobTitle"; }));
    // The rules survive being stored.
    const auto back = rules_from_json(to_json(DirectoryModel(changed).rules()));
    ASSERT_TRUE(back.ok()) << back.error().message;
    EXPECT_EQ(to_json(*back), to_json(DirectoryModel(changed).rules()));

    model.begin_refresh();
    model.set_rules(changed);
    model.upsert("g-crm", EntryKind::Group, kCrmGroup, group({"ana", "ben"}), kT0);
    model.upsert("g-crm-users", EntryKind::Group, crm_users, group({"ben", "cem"}), kT0 + 4);
    for (const auto* uid : {"ana", "ben", "cem"}) {
        model.upsert("u-" + std::string(uid), EntryKind::User, dn_of(uid), person(uid), kT0 + 1);
    }
    const auto events = swept(model);
    // A new role is sent as an assignment with it.
    EXPECT_EQ(summary(events), (std::vector<std::string>{"crm provisioning.user.assigned u-ben",
                                                         "crm provisioning.user.assigned u-cem",
                                                         "crm provisioning.user.unassigned u-ana"}));
    for (const auto& e : events) {
        if (e.object_id == "u-ana") continue;
        EXPECT_EQ(e.role, "Admin") << e.object_id;
        EXPECT_EQ(e.attributes["jobTitle"], "not mapped") << e.object_id;
    }
    // Judged again under the same rules, nothing is new.
    model.begin_refresh();
    model.upsert("g-crm-users", EntryKind::Group, crm_users, group({"ben", "cem"}), kT0 + 4);
    for (const auto* uid : {"ana", "ben", "cem"}) {
        model.upsert("u-" + std::string(uid), EntryKind::User, dn_of(uid), person(uid), kT0 + 1);
    }
    EXPECT_TRUE(model.end_refresh().empty());
}

}  // namespace
}  // namespace provbridge::transforms::directory
