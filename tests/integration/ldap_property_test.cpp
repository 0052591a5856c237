// The LDAP source's promise as a randomized, seeded property, against a real slapd configured the
// ways real directories are (with and without syncprov's session log, checkpointing often and
// seldom): whatever sequence of directory changes (adds, modifies, renames, deletes, app-group and
// group membership, managers set and cleared) is made while the source runs, is killed at any
// point (mid-refresh, between the Kafka acknowledgement and the Redis save, with Redis or Kafka
// failing) and while slapd itself is killed and restarted, the events the source sent take the
// app from nothing to exactly what a fresh sync of the final directory says it should hold: no
// `deleted` for an entry that exists, no lost change, no change sent with an older version than
// one already sent.
//
// The source runs in this process (producers::LdapSource) with its real progress store in a real
// redis-server; a kill is the source object destroyed without another call, which leaves exactly
// what a SIGKILL leaves (what Redis holds). The events are kept by a sink standing in for Kafka
// (an acknowledged send is kept, as Kafka would have it).
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <optional>
#include <random>
#include <set>

#include "fake_event_sink.hpp"
#include "fakes.hpp"
#include "provbridge/consumers/redis_source_progress.hpp"
#include "provbridge/ops/local_services.hpp"
#include "provbridge/producers/ldap_source.hpp"

namespace provbridge {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

constexpr const char* kApp = "crm";
constexpr const char* kSource = "urn:directory:property";

// The real store, with the two crashes a source can meet in it: Redis refusing a save, and the
// process dying right after Kafka acknowledged the events, before the outbox is cleared.
class CrashingProgress final : public producers::SourceProgressStore {
public:
    explicit CrashingProgress(producers::SourceProgressStore& real) : real_(real) {}
    Result<producers::SourceProgress> load() override { return real_.load(); }
    Result<bool> save(const producers::SourceProgressDelta& delta) override {
        const bool clears_outbox = delta.outbox && delta.outbox->empty();
        if (crash_before_outbox_cleared && clears_outbox) {
            crash_before_outbox_cleared = false;
            crashed = true;
            return make_error("killed after the acknowledgement (injected)", ErrorKind::Transient);
        }
        if (failing > 0) {
            --failing;
            return make_error("redis is down (injected)", ErrorKind::Transient);
        }
        return real_.save(delta);
    }
    bool crash_before_outbox_cleared = false;
    bool crashed = false;
    int failing = 0;

private:
    producers::SourceProgressStore& real_;
};

struct SlapdShape {
    const char* name;
    int sessionlog;
    const char* checkpoint;
    std::uint32_t seed;
};
void PrintTo(const SlapdShape& shape, std::ostream* out) { *out << shape.name; }

// What the test made of the directory, so every change it asks for is a valid one.
struct Person {
    std::string uid;
    std::string cn;
    std::string title;
    std::optional<int> manager;
};

class Directory {
public:
    Directory(ops::LocalSlapd& slapd, std::uint32_t seed) : slapd_(slapd), rng_(seed) {}

    std::string people() const { return "ou=people," + slapd_.suffix(); }
    std::string groups() const { return "ou=groups," + slapd_.suffix(); }
    std::string app_group() const { return "cn=app-crm," + groups(); }
    std::string team() const { return "cn=team," + groups(); }
    std::string staff() const { return "cn=staff," + groups(); }
    std::string dn_of(int id) const { return "uid=" + people_.at(id).uid + "," + people(); }

    // The starting tree: users, the app group (some users and the team group), team and staff.
    std::string seed(int users) {
        std::string ldif = "dn: " + people() + "\nobjectClass: organizationalUnit\nou: people\n\n";
        ldif += "dn: " + groups() + "\nobjectClass: organizationalUnit\nou: groups\n\n";
        for (int i = 0; i < users; ++i) ldif += add_person();
        // groupOfNames needs a member: the admin DN stays in every group (it is no user).
        std::string app = "dn: " + app_group() + "\nobjectClass: groupOfNames\ncn: app-crm\nmember: " +
                          slapd_.admin_dn() + "\nmember: " + team() + "\n";
        std::string team_ldif = "dn: " + team() + "\nobjectClass: groupOfNames\ncn: team\ndescription: Team\nmember: " +
                                slapd_.admin_dn() + "\n";
        std::string staff_ldif = "dn: " + staff() + "\nobjectClass: groupOfNames\ncn: staff\nmember: " +
                                 slapd_.admin_dn() + "\n";
        for (const auto& [id, person] : people_) {
            if (chance(0.4)) app += "member: " + dn_of(id) + "\n", app_.insert(id);
            if (chance(0.2)) team_ldif += "member: " + dn_of(id) + "\n", team_.insert(id);
            if (chance(0.2)) staff_ldif += "member: " + dn_of(id) + "\n", staff_.insert(id);
        }
        return ldif + team_ldif + "\n" + staff_ldif + "\n" + app + "\n";
    }

    // A batch of 1 to `most` random changes, as one LDIF.
    std::string changes(int most) {
        std::string ldif;
        const int n = std::uniform_int_distribution<int>(1, most)(rng_);
        for (int i = 0; i < n; ++i) ldif += change();
        return ldif;
    }

    bool chance(double p) { return std::bernoulli_distribution(p)(rng_); }
    int pick(int below) { return std::uniform_int_distribution<int>(0, below - 1)(rng_); }
    std::mt19937& rng() { return rng_; }

private:
    std::string add_person() {
        const int id = next_++;
        Person p{"p" + std::to_string(id), "Person " + std::to_string(id), "Engineer", std::nullopt};
        people_[id] = p;
        return "dn: " + dn_of(id) + "\nobjectClass: inetOrgPerson\nuid: " + p.uid + "\ncn: " + p.cn +
               "\nsn: Surname\nmail: " + p.uid + "@example.org\ntitle: " + p.title + "\n\n";
    }
    int any_person() {
        auto it = people_.begin();
        std::advance(it, pick(static_cast<int>(people_.size())));
        return it->first;
    }
    std::string member_change(const std::string& group, std::set<int>& members) {
        const int id = any_person();
        const bool in = members.count(id) > 0;
        if (in) members.erase(id); else members.insert(id);
        return "dn: " + group + "\nchangetype: modify\n" + (in ? "delete" : "add") + ": member\nmember: " + dn_of(id) +
               "\n-\n\n";
    }
    std::string change() {
        const int what = people_.size() < 5 ? 0 : pick(12);
        switch (what) {
            case 0: {  // a new person, often straight into the app group
                std::string ldif = add_person();
                const int id = next_ - 1;
                if (chance(0.5)) {
                    app_.insert(id);
                    ldif += "dn: " + app_group() + "\nchangetype: modify\nadd: member\nmember: " + dn_of(id) + "\n-\n\n";
                }
                return ldif;
            }
            case 1:
            case 2: {  // a new display name
                const int id = any_person();
                people_[id].cn = "Person " + std::to_string(id) + " v" + std::to_string(pick(1000));
                return "dn: " + dn_of(id) + "\nchangetype: modify\nreplace: cn\ncn: " + people_[id].cn + "\n-\n\n";
            }
            case 3: {  // a new title
                const int id = any_person();
                people_[id].title = "Title " + std::to_string(pick(1000));
                return "dn: " + dn_of(id) + "\nchangetype: modify\nreplace: title\ntitle: " + people_[id].title +
                       "\n-\n\n";
            }
            case 4: {  // a rename (refint rewrites the groups' and reports' values)
                const int id = any_person();
                const std::string old_dn = dn_of(id);
                people_[id].uid = "p" + std::to_string(id) + "r" + std::to_string(pick(100000));
                return "dn: " + old_dn + "\nchangetype: modrdn\nnewrdn: uid=" + people_[id].uid +
                       "\ndeleteoldrdn: 1\n\n";
            }
            case 5: {  // a deletion (refint drops it from groups and managers)
                const int id = any_person();
                const std::string dn = dn_of(id);
                people_.erase(id);
                app_.erase(id), team_.erase(id), staff_.erase(id);
                for (auto& [other, person] : people_) {
                    if (person.manager == id) person.manager.reset();
                }
                return "dn: " + dn + "\nchangetype: delete\n\n";
            }
            case 6:
            case 7:
                return member_change(app_group(), app_);
            case 8:
                return member_change(team(), team_);
            case 9:
                return member_change(staff(), staff_);
            default: {  // a manager set or cleared
                const int id = any_person();
                auto& person = people_[id];
                if (person.manager && chance(0.5)) {
                    person.manager.reset();
                    return "dn: " + dn_of(id) + "\nchangetype: modify\ndelete: manager\n-\n\n";
                }
                const int boss = any_person();
                if (boss == id) return {};
                person.manager = boss;
                return "dn: " + dn_of(id) + "\nchangetype: modify\nreplace: manager\nmanager: " + dn_of(boss) +
                       "\n-\n\n";
            }
        }
    }

    ops::LocalSlapd& slapd_;
    std::mt19937 rng_;
    int next_ = 0;
    std::map<int, Person> people_;
    std::set<int> app_, team_, staff_;
};

// What the app is told, folded the way the worker applies it: an event id seen before is a
// duplicate, an object's event (membership deltas included) older than one already applied
// changes nothing.
struct AppView {
    struct User {
        std::int64_t version = 0;
        bool assigned = false;
        bool deleted = false;
        std::optional<std::string> role;
        json attributes;
    };
    struct Group {
        std::int64_t version = 0;
        bool assigned = false;
        json attributes;
        std::set<std::string> members;
    };
    std::map<std::string, User> users;
    std::map<std::string, Group> groups;
    std::vector<std::string> regressions;  // objects sent a newer state under an older version
    std::map<std::string, std::string> seen;  // event id → what it said
    std::vector<std::string> conflicts;       // ids sent again with other content

    void apply(const Event& e) {
        if (e.app != kApp) return;
        // A resent event (the outbox after a crash) is a duplicate the worker records once; an id
        // sent again with other content would be a change the worker never applies.
        const auto payload = to_json(e).dump();
        if (const auto [at, fresh] = seen.emplace(e.id, payload); !fresh) {
            if (at->second != payload) conflicts.push_back(e.id);
            return;
        }
        if (e.object_type == ObjectType::User) {
            auto& u = users[e.object_id];
            if (e.version < u.version) {
                regressions.push_back(std::string(to_string(e.type)) + " " + e.object_id);
                return;
            }
            u.version = e.version;
            switch (e.type) {
                case EventType::UserAssigned:
                    u.assigned = true, u.deleted = false, u.role = e.role, u.attributes = e.attributes;
                    break;
                case EventType::UserUpdated:
                    u.attributes = e.attributes;
                    break;
                case EventType::UserUnassigned:
                    u.assigned = false;
                    break;
                case EventType::UserDeleted:
                    u.assigned = false, u.deleted = true;
                    break;
                default:
                    break;
            }
            return;
        }
        auto& g = groups[e.object_id];
        if (e.version < g.version) {
            regressions.push_back(std::string(to_string(e.type)) + " " + e.object_id);
            return;
        }
        g.version = e.version;
        switch (e.type) {
            case EventType::GroupMembersAdded:
            case EventType::GroupMembersRemoved:
                // Versioned like the group's other events: the worker skips an older delta.
                for (const auto& m : e.members) {
                    if (e.type == EventType::GroupMembersAdded) g.members.insert(m); else g.members.erase(m);
                }
                break;
            case EventType::GroupAssigned:
                g.assigned = true, g.attributes = e.attributes;
                break;
            case EventType::GroupUpdated:
                g.attributes = e.attributes;
                break;
            case EventType::GroupUnassigned:
            case EventType::GroupDeleted:
                g.assigned = false, g.members.clear();
                break;
            default:
                break;
        }
    }

    // What the app holds: the assigned users with their role and attributes, the users in an
    // assigned group with their attributes, and the assigned groups with their members.
    json holds() const {
        json out = {{"assigned", json::object()}, {"members", json::object()}, {"groups", json::object()}};
        std::set<std::string> in_groups;
        for (const auto& [id, g] : groups) {
            if (!g.assigned) continue;
            out["groups"][id] = {{"attributes", g.attributes}, {"members", g.members}};
            in_groups.insert(g.members.begin(), g.members.end());
        }
        for (const auto& [id, u] : users) {
            if (u.assigned) out["assigned"][id] = {{"role", u.role.value_or("")}, {"attributes", u.attributes}};
            if (in_groups.count(id)) out["members"][id] = u.attributes;
        }
        return out;
    }
};

class LdapSourceProperty : public ::testing::TestWithParam<SlapdShape> {
protected:
    void SetUp() override {
        ops::LocalSlapd::Options options;
        options.sessionlog = GetParam().sessionlog;
        options.checkpoint = GetParam().checkpoint;
        slapd_ = std::make_unique<ops::LocalSlapd>(options);
        redis_ = std::make_unique<ops::LocalRedis>();
    }

    LdapSourceConfig config(const Directory& d) const {
        LdapSourceConfig c;
        c.url = slapd_->url();
        c.bind_dn = slapd_->admin_dn();
        c.source = kSource;
        c.users_base_dn = d.people();
        c.groups_base_dn = d.groups();
        c.assignments = {{kApp, d.app_group(), std::string("User"), ""}};
        return c;
    }

    consumers::RedisOptions redis_options() const {
        consumers::RedisOptions o;
        o.port = redis_->port();
        return o;
    }

    std::unique_ptr<ops::LocalSlapd> slapd_;
    std::unique_ptr<ops::LocalRedis> redis_;
};

// Steps until the source follows and has nothing left to send, reading for `quiet` in a row.
void settle(producers::LdapSource& source, test_support::FakeEventSink& sink) {
    int quiet = 0;
    for (int i = 0; i < 400 && quiet < 3; ++i) {
        const auto before = sink.sent.size();
        const auto stepped = source.step(150ms);
        const bool idle = stepped.ok() && source.stats().connected && !source.stats().refreshing &&
                          source.status([](std::string s) { return s; })["unsent"] == 0 && sink.sent.size() == before;
        quiet = idle ? quiet + 1 : 0;
    }
    ASSERT_GE(quiet, 3) << "the source did not settle: " << source.stats().last_error;
}

TEST_P(LdapSourceProperty, TheEventsSentTakeTheAppExactlyToTheDirectoryThroughKillsAndRestarts) {
    const std::uint32_t seed = GetParam().seed;
    SCOPED_TRACE("seed " + std::to_string(seed) + ", slapd " + GetParam().name);
    Directory directory(*slapd_, seed);
    ASSERT_TRUE(slapd_->apply(directory.seed(120)).ok());

    consumers::RedisSourceProgress stored(redis_options(), KeyScheme("pb"), kSource);
    CrashingProgress progress(stored);
    test_support::FakeEventSink sink;
    test_support::FakeClock clock;
    const auto cfg = config(directory);
    std::unique_ptr<producers::LdapSource> source;
    auto start = [&] {
        source = std::make_unique<producers::LdapSource>(cfg, slapd_->admin_password(), sink, progress, clock);
        auto loaded = source->load();
        ASSERT_TRUE(loaded.ok()) << loaded.error().message;
    };
    int kills = 0, mid_refresh_kills = 0, after_ack_kills = 0, slapd_restarts = 0, rounds_down = 0;
    start();
    for (int round = 0; round < 100; ++round) {
        const int action = directory.pick(12);
        if (action == 0 && source) {
            // SIGKILL: whatever the source is doing, it stops here; Redis keeps what it stored.
            if (source->stats().refreshing) ++mid_refresh_kills;
            source.reset();
            ++kills;
        } else if (action == 1 && source) {
            progress.crash_before_outbox_cleared = true;  // the next acknowledged send dies after the ack
        } else if (action == 2) {
            slapd_->restart();  // SIGKILL and start again (the session log is lost with it)
            ++slapd_restarts;
        } else if (action == 3) {
            sink.fail_sends = directory.pick(3);
            progress.failing = directory.pick(3);
        } else if (action == 4) {
            // Killed in its first turn after a start: most often in the middle of its refresh.
            source.reset();
            start();
            (void)source->step(std::chrono::milliseconds(1 + directory.pick(20)));
            if (source->stats().refreshing) ++mid_refresh_kills;
            source.reset();
            ++kills;
        }
        if (!source && directory.chance(0.7)) start();
        ASSERT_TRUE(slapd_->apply(directory.changes(6)).ok()) << "round " << round;
        if (!source) {
            ++rounds_down;
            continue;
        }
        // A few turns: sometimes a refresh is left half read, sometimes the changes are followed.
        const int turns = directory.pick(4);
        for (int t = 0; t < turns && source; ++t) {
            (void)source->step(std::chrono::milliseconds(20 + directory.pick(80)));
            if (progress.crashed) {
                progress.crashed = false;
                source.reset();
                ++after_ack_kills;
            }
        }
    }
    progress.crash_before_outbox_cleared = false;
    sink.fail_sends = 0;
    progress.failing = 0;
    start();
    settle(*source, sink);

    // What a fresh sync of the final directory sends is what the app should hold.
    consumers::RedisSourceProgress fresh_store(redis_options(), KeyScheme("fresh"), kSource);
    test_support::FakeEventSink fresh_sink;
    producers::LdapSource fresh(cfg, slapd_->admin_password(), fresh_sink, fresh_store, clock);
    ASSERT_TRUE(fresh.load().ok());
    settle(fresh, fresh_sink);

    AppView expected, actual;
    for (const auto& e : fresh_sink.sent) expected.apply(e);
    for (const auto& e : sink.sent) actual.apply(e);
    std::vector<std::string> deleted_but_alive;
    for (const auto& e : sink.sent) {
        const bool deletion = e.type == EventType::UserDeleted || e.type == EventType::GroupDeleted;
        if (deletion && (fresh.model().users().count(e.object_id) || fresh.model().groups().count(e.object_id))) {
            deleted_but_alive.push_back(std::string(to_string(e.type)) + " " + e.object_id);
        }
    }
    EXPECT_TRUE(deleted_but_alive.empty()) << deleted_but_alive.size() << " deletions of entries that exist, first "
                                           << deleted_but_alive.front();
    std::string history;
    if (!actual.regressions.empty()) {
        const auto id = actual.regressions.front().substr(actual.regressions.front().rfind(' ') + 1);
        for (const auto& e : sink.sent) {
            if (e.object_id == id) history += "\n  " + std::string(to_string(e.type)) + " v" + std::to_string(e.version) + " " + e.id;
        }
    }
    EXPECT_TRUE(actual.regressions.empty()) << actual.regressions.size() << " events older than one already sent, first "
                                            << actual.regressions.front() << "; its events:" << history;
    EXPECT_TRUE(actual.conflicts.empty()) << actual.conflicts.size() << " event ids sent again with other content, first "
                                          << actual.conflicts.front();
    const auto held = actual.holds(), wanted = expected.holds();
    std::string differences;
    for (const char* part : {"assigned", "members", "groups"}) {
        for (const auto& [id, value] : wanted[part].items()) {
            if (held[part].contains(id) && held[part][id] == value) continue;
            differences += std::string("\n") + part + " " + id + ": held " +
                           (held[part].contains(id) ? held[part][id].dump() : "nothing") + ", wanted " + value.dump();
            for (const auto& e : sink.sent) {
                if (e.object_id == id) {
                    differences += "\n  " + std::string(to_string(e.type)) + " v" + std::to_string(e.version) + " " +
                                   e.attributes.dump();
                }
            }
        }
        for (const auto& [id, value] : held[part].items()) {
            if (wanted[part].contains(id)) continue;
            differences += std::string("\n") + part + " " + id + ": held but not wanted" +
                           (fresh.model().users().count(id) ? " (in the directory)" : " (not in the directory)");
            // The membership deltas that named it, to see which one the source missed.
            for (const auto& e : sink.sent) {
                if (e.object_id != id && std::find(e.members.begin(), e.members.end(), id) == e.members.end()) continue;
                differences += "\n  " + std::string(to_string(e.type)) + " of " + e.object_id + " v" +
                               std::to_string(e.version) + " " + e.id + " " + e.attributes.dump();
            }
        }
    }
    EXPECT_TRUE(differences.empty()) << differences;
    EXPECT_FALSE(expected.holds()["assigned"].empty()) << "the property says nothing of an empty app";
    RecordProperty("kills", kills);
    RecordProperty("mid_refresh_kills", mid_refresh_kills);
    RecordProperty("after_ack_kills", after_ack_kills);
    RecordProperty("slapd_restarts", slapd_restarts);
    std::cout << "[ property ] " << GetParam().name << ": " << sink.sent.size() << " events, " << kills << " kills ("
              << mid_refresh_kills << " mid-refresh, " << after_ack_kills << " after the ack), " << slapd_restarts
              << " slapd restarts, " << rounds_down << " rounds of changes while the source was down; deletions "
              << source->stats().deletions_confirmed << " confirmed, " << source->stats().deletions_refuted
              << " refuted in the last run" << std::endl;
    EXPECT_GT(kills + after_ack_kills, 0) << "the seed killed nothing: the property was not exercised";
}

// The case the property found: a user deleted while the source was down, then slapd killed and
// started again. slapd keeps no trace of a deleted entry but in its session log, which lives in
// memory: the restarted server answers the source's resume from a new log that does not name the
// deletion. The source lists the entries there are when a resume is answered from the log: the
// deletion is found and sent, and the group the server dropped the user from loses it as a member.
TEST(LdapSourceResume, AUserDeletedBeforeSlapdRestartedIsFoundWhenTheSourceResumes) {
    ops::LocalSlapd::Options options;
    options.sessionlog = 8;
    options.checkpoint = "100 1";
    ops::LocalSlapd slapd(options);
    ops::LocalRedis redis;
    Directory directory(slapd, 7);
    const auto dn = [&](int i) { return "uid=p" + std::to_string(i) + "," + directory.people(); };
    std::string ldif = "dn: " + directory.people() + "\nobjectClass: organizationalUnit\nou: people\n\n";
    ldif += "dn: " + directory.groups() + "\nobjectClass: organizationalUnit\nou: groups\n\n";
    for (int i = 0; i < 10; ++i) {
        ldif += "dn: " + dn(i) + "\nobjectClass: inetOrgPerson\nuid: p" + std::to_string(i) + "\ncn: Person " +
                std::to_string(i) + "\nsn: Surname\nmail: p" + std::to_string(i) + "@example.org\ntitle: Engineer\n\n";
    }
    ldif += "dn: " + directory.team() + "\nobjectClass: groupOfNames\ncn: team\ndescription: Team\nmember: " +
            slapd.admin_dn() + "\nmember: " + dn(1) + "\nmember: " + dn(2) + "\n\n";
    ldif += "dn: " + directory.staff() + "\nobjectClass: groupOfNames\ncn: staff\nmember: " + slapd.admin_dn() + "\n\n";
    ldif += "dn: " + directory.app_group() + "\nobjectClass: groupOfNames\ncn: app-crm\nmember: " + slapd.admin_dn() +
            "\nmember: " + directory.team() + "\nmember: " + dn(3) + "\nmember: " + dn(4) + "\n\n";
    ASSERT_TRUE(slapd.apply(ldif).ok());

    LdapSourceConfig cfg;
    cfg.url = slapd.url();
    cfg.bind_dn = slapd.admin_dn();
    cfg.source = kSource;
    cfg.users_base_dn = directory.people();
    cfg.groups_base_dn = directory.groups();
    cfg.assignments = {{kApp, directory.app_group(), std::string("User"), ""}};
    consumers::RedisOptions redis_options;
    redis_options.port = redis.port();
    consumers::RedisSourceProgress progress(redis_options, KeyScheme("pb"), kSource);
    test_support::FakeEventSink sink;
    test_support::FakeClock clock;
    auto source = std::make_unique<producers::LdapSource>(cfg, slapd.admin_password(), sink, progress, clock);
    ASSERT_TRUE(source->load().ok());
    settle(*source, sink);
    source.reset();  // killed

    const auto staff_add = [&](int i) {
        return "dn: " + directory.staff() + "\nchangetype: modify\nadd: member\nmember: " + dn(i) + "\n-\n\n";
    };
    ASSERT_TRUE(slapd.apply(staff_add(5) + "dn: " + dn(1) + "\nchangetype: delete\n\n" + "dn: " + dn(3) +
                            "\nchangetype: modify\nreplace: cn\ncn: Person 3 v2\n-\n\n" + "dn: " + dn(4) +
                            "\nchangetype: modify\nreplace: title\ntitle: Lead\n-\n\n" + staff_add(6) + staff_add(7))
                    .ok());
    const auto before = sink.sent.size();
    // slapd killed and started again before the source resumes: its session log (in memory) is
    // lost with the deletion it held, and the changes after the restart start a new one.
    slapd.restart();
    ASSERT_TRUE(slapd.apply("dn: " + dn(5) + "\nchangetype: modify\nreplace: title\ntitle: Boss\n-\n\n" + staff_add(8)).ok());
    source = std::make_unique<producers::LdapSource>(cfg, slapd.admin_password(), sink, progress, clock);
    ASSERT_TRUE(source->load().ok());
    settle(*source, sink);

    AppView view;
    for (const auto& e : sink.sent) view.apply(e);
    const auto held = view.holds();
    std::string sent;
    for (std::size_t i = before; i < sink.sent.size(); ++i) sent += " " + std::string(to_string(sink.sent[i].type));
    std::string p1;
    for (const auto& [id, user] : view.users) {
        if (user.attributes.value("mailNickname", "") == "p1") p1 = id;
    }
    ASSERT_FALSE(p1.empty());
    EXPECT_FALSE(held["members"].contains(p1)) << "p1 is gone from the directory; sent after the resume:" << sent;
    EXPECT_TRUE(view.users[p1].deleted) << sent;
    EXPECT_EQ(source->stats().deletions_confirmed, 1);
    EXPECT_EQ(source->stats().listings, 2) << "one listing for each search resumed from the session log";
}

INSTANTIATE_TEST_SUITE_P(SlapdShapes, LdapSourceProperty,
                         ::testing::Values(SlapdShape{"no session log, checkpoint often", 0, "1 1", 101},
                                           SlapdShape{"no session log, checkpoint seldom", 0, "1000 60", 102},
                                           SlapdShape{"session log, checkpoint often", 10000, "1 1", 103},
                                           SlapdShape{"session log, checkpoint seldom", 10000, "1000 60", 104},
                                           SlapdShape{"a session log shorter than the changes", 8, "100 1", 105}),
                         [](const auto& shape) { return "Shape" + std::to_string(shape.index); });

}  // namespace
}  // namespace provbridge
