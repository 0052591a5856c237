// Notifications: which state changes are news (pure), the messages, and the watch that sends one
// per change whichever worker sees it (fakes behind the project's interfaces).
#include <gtest/gtest.h>

#include <map>

#include "fake_quarantine.hpp"
#include "fakes.hpp"
#include "provbridge/consumers/notifications.hpp"
#include "provbridge/transforms/alerts.hpp"

namespace provbridge {
namespace {

using transforms::alert_changes;
using transforms::alert_key;
using transforms::AlertState;

AlertState quarantined(std::int64_t since) {
    AlertState s;
    s.quarantined = true;
    s.since_ms = since;
    s.code = "Unauthorized";
    s.reason = "GET /Users failed: HTTP 401";
    s.next_probe_ms = since + 60000;
    return s;
}

constexpr std::int64_t kNow = 1796170000000;

TEST(Alerts, EnteringAndLeavingQuarantineAreOneMessageEach) {
    const auto entered = alert_changes("crm", "", quarantined(kNow), kNow, "http://127.0.0.1:9740/");
    ASSERT_EQ(entered.size(), 1u);
    EXPECT_EQ(entered[0].kind, NotificationKind::QuarantineEntered);
    EXPECT_EQ(entered[0].subject, "provbridge: app crm is quarantined (Unauthorized)");
    EXPECT_NE(entered[0].text.find("Reason: GET /Users failed: HTTP 401"), std::string::npos);
    EXPECT_NE(entered[0].text.find("http://127.0.0.1:9740/#/apps/crm"), std::string::npos);
    EXPECT_EQ(entered[0].detail["code"], "Unauthorized");

    // Another failure, a later probe: the same quarantine, nothing new.
    auto later = quarantined(kNow);
    later.next_probe_ms += 120000;
    later.reason = "another 401";
    EXPECT_EQ(alert_key(later), alert_key(quarantined(kNow)));
    EXPECT_TRUE(alert_changes("crm", alert_key(quarantined(kNow)), later, kNow + 1000).empty());

    const auto lifted = alert_changes("crm", alert_key(quarantined(kNow)), AlertState{}, kNow + 5000);
    ASSERT_EQ(lifted.size(), 1u);
    EXPECT_EQ(lifted[0].kind, NotificationKind::QuarantineLifted);
    // A new quarantine since the last one told: the first ended, another began.
    const auto again = alert_changes("crm", alert_key(quarantined(kNow)), quarantined(kNow + 9000), kNow + 9000);
    ASSERT_EQ(again.size(), 2u);
    EXPECT_EQ(again[0].kind, NotificationKind::QuarantineLifted);
    EXPECT_EQ(again[1].kind, NotificationKind::QuarantineEntered);
    EXPECT_TRUE(alert_changes("crm", "", AlertState{}, kNow).empty()) << "healthy from the start is no news";
}

TEST(Alerts, StagedDeletesAreNewsWhenTheyAppearAndWhenTheyAreGone) {
    AlertState staged;
    staged.staged = 3;
    const auto held = alert_changes("hr", "", staged, kNow);
    ASSERT_EQ(held.size(), 1u);
    EXPECT_EQ(held[0].kind, NotificationKind::DeletesStaged);
    EXPECT_NE(held[0].text.find("provbridge deletes status --app hr"), std::string::npos);
    AlertState more = staged;
    more.staged = 40;
    EXPECT_TRUE(alert_changes("hr", alert_key(staged), more, kNow).empty()) << "more staged is the same state";
    const auto released = alert_changes("hr", alert_key(more), AlertState{}, kNow);
    ASSERT_EQ(released.size(), 1u);
    EXPECT_EQ(released[0].kind, NotificationKind::DeletesReleased);
}

TEST(Alerts, TheEmailIsAValidMessageWhateverTheReasonHolds) {
    auto state = quarantined(kNow);
    state.reason = "bad\r\nBcc: victim@example.com\r\n.\r\nZoë";
    state.code = "Code\r\nX-Injected: 1";
    const auto n = alert_changes("crm", "", state, kNow)[0];
    const auto message = transforms::email_message(n, "pb@contoso.example", {"ops@contoso.example", "b@x.example"},
                                                   "id-1@crm");
    EXPECT_EQ(message.rfind("Date: ", 0), 0u);
    EXPECT_NE(message.find("\r\nFrom: pb@contoso.example\r\n"), std::string::npos);
    EXPECT_NE(message.find("\r\nTo: ops@contoso.example, b@x.example\r\n"), std::string::npos);
    EXPECT_NE(message.find("\r\nContent-Type: text/plain; charset=utf-8\r\n"), std::string::npos);
    // Every header line is one of ours: nothing was injected through the code or the reason.
    const auto headers = message.substr(0, message.find("\r\n\r\n"));
    std::size_t start = 0;
    int lines = 0;
    while (start < headers.size()) {
        const auto end = std::min(headers.find("\r\n", start), headers.size());
        const auto line = headers.substr(start, end - start);
        const auto name = line.substr(0, line.find(':'));
        EXPECT_TRUE(name == "Date" || name == "From" || name == "To" || name == "Message-ID" || name == "Subject" ||
                    name == "MIME-Version" || name == "Content-Type" || name == "Content-Transfer-Encoding" ||
                    name == "X-Provbridge-Event")
            << "an injected header line: " << line;
        ++lines;
        start = end + 2;
    }
    EXPECT_EQ(lines, 9);
    const auto body = message.substr(message.find("\r\n\r\n") + 4);
    EXPECT_NE(body.find("Zoë"), std::string::npos) << "UTF-8 text is kept in the body";
    for (std::size_t i = 0; i < message.size(); ++i) {
        if (message[i] == '\n') {
            ASSERT_TRUE(i > 0 && message[i - 1] == '\r') << "a bare LF at " << i;
        }
    }
    const auto doc = transforms::webhook_document(n);
    EXPECT_EQ(doc["event"], "quarantine_entered");
    EXPECT_EQ(doc["app"], "crm");
    EXPECT_EQ(doc["at"], "2026-12-02T00:06:40Z");
}

// The ledger shared by every worker (Redis in the product): one string per app.
class FakeLedger final : public AlertLedger {
public:
    Result<std::optional<std::string>> exchange(const std::string& app, const std::string& key) override {
        if (fail) return Error{"redis down", ErrorKind::Transient};
        auto& stored = told[app];
        if (stored == key) return std::optional<std::string>{};
        return std::optional<std::string>{std::exchange(stored, key)};
    }
    std::map<std::string, std::string> told;
    bool fail = false;
};

class FakeNotifier final : public Notifier {
public:
    Result<bool> send(const Notification& n) override {
        if (failures > 0) {
            --failures;
            return Error{"smtp: connection refused", ErrorKind::Transient};
        }
        sent.push_back(n);
        return true;
    }
    std::vector<Notification> sent;
    int failures = 0;
};

class Watch : public ::testing::Test {
protected:
    consumers::NotificationWatch make() {
        return consumers::NotificationWatch(
            {"crm"}, quarantine_, [this](const std::string&) -> Result<std::int64_t> { return staged_; }, ledger_,
            notifier_, clock_, nullptr);
    }
    test_support::FakeQuarantineStore quarantine_;
    std::int64_t staged_ = 0;
    FakeLedger ledger_;
    FakeNotifier notifier_;
    test_support::FakeClock clock_;
};

TEST_F(Watch, TwoWorkersWatchingTheSameAppSendEachChangeOnce) {
    auto first = make();
    auto second = make();
    first.tick();
    second.tick();
    EXPECT_TRUE(notifier_.sent.empty());
    ASSERT_TRUE(quarantine_.enter("crm", "Unauthorized", "HTTP 401", clock_.wall_ms(), clock_.wall_ms() + 60000).ok());
    for (int i = 0; i < 3; ++i) {
        first.tick();
        second.tick();
    }
    ASSERT_EQ(notifier_.sent.size(), 1u);
    EXPECT_EQ(notifier_.sent[0].kind, NotificationKind::QuarantineEntered);
    ASSERT_TRUE(quarantine_.lift("crm").ok());
    second.tick();
    first.tick();
    ASSERT_EQ(notifier_.sent.size(), 2u);
    EXPECT_EQ(notifier_.sent[1].kind, NotificationKind::QuarantineLifted);
}

TEST_F(Watch, AFailedSendIsTriedAgainAFewTimesAndAnUnreadableStateDecidesNothing) {
    auto watch = make();
    staged_ = 2;
    notifier_.failures = 2;
    watch.tick();  // fails
    watch.tick();  // the retry fails
    EXPECT_TRUE(notifier_.sent.empty());
    watch.tick();  // the retry goes through
    ASSERT_EQ(notifier_.sent.size(), 1u);
    EXPECT_EQ(notifier_.sent[0].kind, NotificationKind::DeletesStaged);
    watch.tick();
    EXPECT_EQ(notifier_.sent.size(), 1u) << "sent twice";

    notifier_.failures = 100;
    staged_ = 0;
    for (int i = 0; i < consumers::NotificationWatch::kMaxSendAttempts + 3; ++i) watch.tick();
    EXPECT_EQ(notifier_.sent.size(), 1u);

    ledger_.fail = true;
    notifier_.failures = 0;
    staged_ = 5;
    watch.tick();
    EXPECT_EQ(notifier_.sent.size(), 1u) << "sent without the ledger saying it was new";
    ledger_.fail = false;
    watch.tick();
    ASSERT_EQ(notifier_.sent.size(), 2u);
    EXPECT_EQ(notifier_.sent[1].kind, NotificationKind::DeletesStaged);
}

}  // namespace
}  // namespace provbridge
