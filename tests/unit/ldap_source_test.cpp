// The LDAP source's outbox, with fakes behind its sink and progress store: events stored with
// the state that produced them are sent before anything else, after a failed send and after a
// restart, and the outbox is cleared only once they were acknowledged.
#include <gtest/gtest.h>

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
        ++saves;
        return true;
    }
    SourceProgress stored;
    int fail_saves = 0;
    int saves = 0;
};

class FakeSink final : public EventSink {
public:
    Result<bool> send(const std::vector<Event>& events) override {
        if (fail_sends > 0) {
            --fail_sends;
            return make_error("kafka down", ErrorKind::Transient);
        }
        sent.insert(sent.end(), events.begin(), events.end());
        return true;
    }
    std::vector<Event> sent;
    int fail_sends = 0;
};

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

}  // namespace
}  // namespace provbridge::producers
