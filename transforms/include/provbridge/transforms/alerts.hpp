#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "provbridge/core/notification.hpp"

namespace provbridge::transforms {

// What operators are told about: an app's quarantine and its staged deletes, as read now.
struct AlertState {
    bool quarantined = false;
    std::int64_t since_ms = 0;  // when the quarantine began
    std::string code;
    std::string reason;
    std::int64_t next_probe_ms = 0;
    std::int64_t staged = 0;  // disables and deletes waiting for an operator
};

// The part of a state whose change is news: quarantined (and since when: a new quarantine is a
// new change) and whether deletes are staged. Not the next probe or how many are staged, which
// move without anything new to tell. Kept in Redis to find the one worker that sends.
std::string alert_key(const AlertState& state);

// The messages for the change from the state last told (`told`, an alert_key; empty: nothing
// told yet, as if healthy) to `now`, at now_ms. `dashboard_url` (may be empty) goes in the text.
std::vector<Notification> alert_changes(const std::string& app, const std::string& told, const AlertState& now,
                                        std::int64_t now_ms, const std::string& dashboard_url = {});

// An RFC 5322 message (CRLF lines, UTF-8 text, the subject encoded per RFC 2047) for SMTP.
std::string email_message(const Notification& n, const std::string& from, const std::vector<std::string>& to,
                          const std::string& message_id);
// The webhook's JSON document.
nlohmann::json webhook_document(const Notification& n);

}  // namespace provbridge::transforms
