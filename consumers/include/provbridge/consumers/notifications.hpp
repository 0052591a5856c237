#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <spdlog/logger.h>

#include "provbridge/consumers/curl_handles.hpp"
#include "provbridge/consumers/redis.hpp"
#include "provbridge/core/clock.hpp"
#include "provbridge/core/config.hpp"
#include "provbridge/core/keys.hpp"
#include "provbridge/core/notification.hpp"
#include "provbridge/core/quarantine.hpp"
#include "provbridge/core/redact.hpp"

namespace provbridge::consumers {

// The alert ledger in Redis: one string per app, swapped by a script (atomic), so that of the
// workers that see a change at once exactly one is told it is new. Not thread-safe.
class RedisAlertLedger final : public AlertLedger {
public:
    RedisAlertLedger(RedisOptions options, KeyScheme keys);  // connects; throws at start-up
    Result<std::optional<std::string>> exchange(const std::string& app, const std::string& key) override;

private:
    RedisConnection connection_;
    KeyScheme keys_;
};

// Sends a notification by e-mail (SMTP through libcurl) and to a webhook (a JSON POST), each
// when configured. Every channel is tried; the error names those that failed (secrets
// redacted). One request at a time.
class CurlNotifier final : public Notifier {
public:
    CurlNotifier(NotificationsConfig config, NotificationSecrets secrets, const Redactor& redactor,
                 std::chrono::milliseconds timeout = std::chrono::seconds(15));
    Result<bool> send(const Notification& notification) override;

private:
    Result<bool> send_email(const Notification& n);
    Result<bool> send_webhook(const Notification& n);

    NotificationsConfig config_;
    NotificationSecrets secrets_;
    const Redactor& redactor_;
    std::chrono::milliseconds timeout_;
    std::uint64_t sent_ = 0;  // for unique Message-IDs
};

// Watches each app's quarantine and staged deletes, and sends one notification per change of
// their state (not per failure): the ledger finds the one worker that sends it. A send that
// fails is tried again at the next ticks, a few times, then given up (logged). Runs on one thread.
class NotificationWatch {
public:
    using StagedCount = std::function<Result<std::int64_t>(const std::string& app)>;

    NotificationWatch(std::vector<std::string> apps, QuarantineStore& quarantine, StagedCount staged,
                      AlertLedger& ledger, Notifier& notifier, const Clock& clock,
                      std::shared_ptr<spdlog::logger> log, std::string dashboard_url = {});

    // Looks at every app once, and retries what failed to send. Never throws.
    void tick() noexcept;

    static constexpr int kMaxSendAttempts = 5;
    std::uint64_t sent() const { return sent_; }

private:
    struct Pending {
        Notification notification;
        int attempts = 0;
    };
    void deliver(Pending pending);

    std::vector<std::string> apps_;
    QuarantineStore& quarantine_;
    StagedCount staged_;
    AlertLedger& ledger_;
    Notifier& notifier_;
    const Clock& clock_;
    std::shared_ptr<spdlog::logger> log_;
    std::string dashboard_url_;
    std::vector<Pending> retry_;
    std::uint64_t sent_ = 0;
};

}  // namespace provbridge::consumers
