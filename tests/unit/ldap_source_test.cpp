// The LDAP source's outbox, with fakes behind its sink and progress store: events stored with
// the state that produced them are sent before anything else, after a failed send and after a
// restart, and the outbox is cleared only once they were acknowledged.
#include <gtest/gtest.h>

#include <algorithm>

#include "fake_event_sink.hpp"
#include "fakes.hpp"
#include "provbridge/producers/ldap_source.hpp"

namespace provbridge::producers {
namespace {

class FakeProgress final : public SourceProgressStore {
public:
    Result<SourceProgress> load() override { return stored; }
    Result<bool> save(const SourceProgressDelta& delta) override {
        if (fail_saves > 0) {
            --fail_saves;
            return make_error("redis down", ErrorKind::Transient);
        }
        for (const auto& [name, cookie] : delta.cookies) stored.cookies[name] = cookie;
        for (const auto& [id, doc] : delta.upserted) stored.objects[id] = doc;
        for (const auto& id : delta.removed) stored.objects.erase(id);
        if (delta.outbox) stored.outbox = *delta.outbox;
        if (delta.rules) stored.rules = *delta.rules;
        ++saves;
        return true;
    }
    SourceProgress stored;
    int fail_saves = 0;
    int saves = 0;
};

using FakeSink = test_support::FakeEventSink;

LdapSourceConfig config() {
    LdapSourceConfig c;
    // Nothing listens on port 1: the connection after the outbox is refused at once, locally.
    c.url = "ldap://127.0.0.1:1";
    c.source = "urn:directory:test";
    c.users_base_dn = "ou=people,dc=example,dc=org";
    c.groups_base_dn = "ou=groups,dc=example,dc=org";
    c.assignments = {{"crm", "cn=app-crm,ou=groups,dc=example,dc=org", std::string("User"), ""}};
    return c;
}

nlohmann::json stored_event(const std::string& id) {
    Event e;
    e.id = id;
    e.source = "urn:directory:test";
    e.type = EventType::UserUnassigned;
    e.app = "crm";
    e.object_id = "u-ada";
    e.subject = "user/u-ada";
    e.version = 500;
    return to_json(e);
}

TEST(LdapSourceTest, AStoredOutboxIsSentFirstAndClearedOnlyOnceAcknowledged) {
    FakeProgress progress;
    progress.stored.outbox = {stored_event("ldap:u-ada:500:crm:unassigned")};
    FakeSink sink;
    sink.fail_sends = 1;
    test_support::FakeClock clock;
    LdapSource source(config(), "", sink, progress, clock);
    ASSERT_TRUE(source.load().ok());

    auto first = source.step(std::chrono::milliseconds(10));
    ASSERT_FALSE(first.ok()) << "Kafka was down";
    EXPECT_TRUE(sink.sent.empty());
    EXPECT_EQ(progress.stored.outbox.size(), 1U) << "the outbox outlives a failed send";
    EXPECT_FALSE(source.stats().connected) << "nothing newer is read before the outbox is out";

    // A restart in between changes nothing: the stored outbox is what counts.
    LdapSource restarted(config(), "", sink, progress, clock);
    ASSERT_TRUE(restarted.load().ok());
    auto second = restarted.step(std::chrono::milliseconds(10));
    ASSERT_EQ(sink.sent.size(), 1U);
    EXPECT_EQ(sink.sent[0].id, "ldap:u-ada:500:crm:unassigned");
    EXPECT_EQ(sink.sent[0].version, 500) << "sent as stored, not derived again";
    EXPECT_TRUE(progress.stored.outbox.empty()) << "cleared once acknowledged";
    // Then it goes on to the directory, which cannot be reached here.
    ASSERT_FALSE(second.ok());
    EXPECT_EQ(second.error().kind, ErrorKind::Transient) << second.error().message;
}

TEST(LdapSourceTest, AFailedClearIsTriedAgainWithoutLosingOrRepeatingTheSendInTheRun) {
    FakeProgress progress;
    progress.stored.outbox = {stored_event("e1")};
    progress.fail_saves = 1;  // the clear after the send fails once
    FakeSink sink;
    test_support::FakeClock clock;
    LdapSource source(config(), "", sink, progress, clock);
    ASSERT_TRUE(source.load().ok());
    EXPECT_FALSE(source.step(std::chrono::milliseconds(10)).ok());
    EXPECT_EQ(sink.sent.size(), 1U);
    EXPECT_EQ(progress.stored.outbox.size(), 1U);
    (void)source.step(std::chrono::milliseconds(10));
    EXPECT_EQ(sink.sent.size(), 1U) << "sent once in this run";
    EXPECT_TRUE(progress.stored.outbox.empty());
}

TEST(LdapSourceTest, ItsReportSaysWhatFailedWithoutTheSecretAndRecoversWhenATurnSucceeds) {
    FakeProgress progress;
    FakeSink sink;
    test_support::FakeClock clock;
    auto c = config();
    c.bind_dn = "cn=reader,dc=example,dc=org";
    LdapSource source(c, "pw-9c1f", sink, progress, clock);
    ASSERT_TRUE(source.load().ok());
    auto before = source.status([](std::string s) { return s; });
    EXPECT_EQ(before["state"], "connecting");
    EXPECT_EQ(before["failures"], 0);
    EXPECT_EQ(before["deletions_confirmed"], 0);
    EXPECT_EQ(before["deletions_refuted"], 0);
    EXPECT_FALSE(before.contains("last_error"));

    ASSERT_FALSE(source.step(std::chrono::milliseconds(10)).ok());
    const auto redact = [](std::string s) {
        for (auto at = s.find("127.0.0.1"); at != std::string::npos; at = s.find("127.0.0.1")) s.replace(at, 9, "[host]");
        return s;
    };
    ASSERT_NE(source.status([](std::string s) { return s; })["last_error"].get<std::string>().find("127.0.0.1"),
              std::string::npos)
        << "the error names the server it could not reach";
    auto after = source.status(redact);
    EXPECT_EQ(after["state"], "reconnecting");
    EXPECT_EQ(after["failures"], 1);
    EXPECT_EQ(after["source"], "urn:directory:test");
    ASSERT_TRUE(after.contains("last_error"));
    EXPECT_EQ(after["last_error"].get<std::string>().find("127.0.0.1"), std::string::npos)
        << "the error passes through the redaction: " << after["last_error"];
    EXPECT_EQ(after["last_error_ms"], std::chrono::duration_cast<std::chrono::milliseconds>(
                                          clock.wall_now().time_since_epoch()).count());
    EXPECT_EQ(after.dump().find("pw-9c1f"), std::string::npos);
}

TEST(LdapSourceTest, StoredStateJudgedUnderOtherRulesIsJudgedAgainFromAFullRefresh) {
    const auto rules_of = [](const LdapSourceConfig& c) {
        return transforms::directory::to_json(transforms::directory::DirectoryModel(source_rules(c)).rules());
    };
    FakeSink sink;
    test_support::FakeClock clock;
    {
        FakeProgress same;
        same.stored.rules = rules_of(config());
        same.stored.cookies = {{"users", "c1"}};
        LdapSource source(config(), "", sink, same, clock);
        ASSERT_TRUE(source.load().ok());
        EXPECT_FALSE(source.rejudging()) << "the same rules: resumed from the cookie";
        EXPECT_FALSE(source.status([](std::string s) { return s; })["rules_changed"].get<bool>());
    }
    auto changed = config();
    changed.assignments[0].role = "Admin";
    FakeProgress other;
    other.stored.rules = rules_of(config());
    other.stored.cookies = {{"users", "c1"}};
    LdapSource source(changed, "", sink, other, clock);
    ASSERT_TRUE(source.load().ok());
    EXPECT_TRUE(source.rejudging());
    EXPECT_EQ(source.model().rules().apps.at(0).role, "User") << "the stored state is seen as the old rules made it";
    EXPECT_TRUE(source.status([](std::string s) { return s; })["rules_changed"].get<bool>());
    // Until the refresh under the new rules completed, the old rules stay stored.
    (void)source.step(std::chrono::milliseconds(10));
    EXPECT_EQ(*other.stored.rules, rules_of(config()));

    FakeProgress unreadable;
    unreadable.stored.rules = nlohmann::json{{"source", 1}};
    LdapSource broken(changed, "", sink, unreadable, clock);
    const auto loaded = broken.load();
    ASSERT_FALSE(loaded.ok());
    EXPECT_NE(loaded.error().message.find("stored source rules"), std::string::npos) << loaded.error().message;
}

TEST(LdapSourceTest, StateStoredWithoutItsRulesIsJudgedUnderTheEarlierDefaultsAndReorderingIsNoChange) {
    FakeSink sink;
    test_support::FakeClock clock;
    FakeProgress legacy;  // objects from before the rules were stored with them
    legacy.stored.objects["u-ada"] = {{"kind", "user"}, {"dn", "uid=ada,ou=people,dc=example,dc=org"},
                                     {"attributes", nlohmann::json::object()}, {"version", 1}};
    LdapSource source(config(), "", sink, legacy, clock);
    ASSERT_TRUE(source.load().ok());
    EXPECT_TRUE(source.rejudging()) << "the defaults changed since: displayName from cn, department from ou";
    const auto& attributes = source.model().rules().attributes;
    EXPECT_NE(std::find(attributes.begin(), attributes.end(), std::pair<std::string, std::string>{"displayName", "displayname"}),
              attributes.end());

    auto explicit_rows = config();
    explicit_rows.attributes = {{"displayName", "displayName"}, {"department", "departmentNumber"}};
    FakeProgress same_as_then;
    same_as_then.stored.objects = legacy.stored.objects;
    LdapSource unchanged(explicit_rows, "", sink, same_as_then, clock);
    ASSERT_TRUE(unchanged.load().ok());
    EXPECT_FALSE(unchanged.rejudging()) << "rules that match the earlier defaults need no refresh";

    auto two = config();
    two.assignments.push_back({"hr", "cn=app-hr,ou=groups,dc=example,dc=org", std::string("User"), ""});
    auto reordered = two;
    std::swap(reordered.assignments[0], reordered.assignments[1]);
    EXPECT_EQ(transforms::directory::to_json(transforms::directory::DirectoryModel(source_rules(two)).rules()),
              transforms::directory::to_json(transforms::directory::DirectoryModel(source_rules(reordered)).rules()));
}

}  // namespace
}  // namespace provbridge::producers
