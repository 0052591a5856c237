#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "provbridge/core/result.hpp"

namespace provbridge {

// A change of an app's state that operators are told of, once per change.
enum class NotificationKind { QuarantineEntered, QuarantineLifted, DeletesStaged, DeletesReleased };
std::string_view to_string(NotificationKind kind);  // quarantine_entered, quarantine_lifted, ...

struct Notification {
    std::string app;
    NotificationKind kind = NotificationKind::QuarantineEntered;
    std::string subject;   // one line
    std::string text;      // what happened, why, and what to do: plain text
    nlohmann::json detail = nlohmann::json::object();  // the state behind it (code, reason, since, ...)
    std::int64_t at_ms = 0;
};

// Sends notifications to the configured channels (e-mail, webhook). Ok(true) once every
// channel took it; an Error (typed) when one did not.
class Notifier {
public:
    virtual ~Notifier() = default;
    virtual Result<bool> send(const Notification& notification) = 0;
};

// What operators were last told of each app (transforms::alert_key), shared by every worker so
// that exactly one of them sends a change: exchange() stores `key` and returns the key it replaced
// ("" when none was stored), or nullopt when `key` was already stored (nothing new to tell).
class AlertLedger {
public:
    virtual ~AlertLedger() = default;
    virtual Result<std::optional<std::string>> exchange(const std::string& app, const std::string& key) = 0;
};

}  // namespace provbridge
