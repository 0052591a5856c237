#include "provbridge/consumers/notifications.hpp"

#include <cstring>
#include <utility>

#include "provbridge/transforms/alerts.hpp"

namespace provbridge::consumers {
namespace {

// Stores ARGV[1] unless it is stored already; returns {1, previous} on a change, {0} otherwise.
constexpr const char* kExchangeScript = R"lua(
local current = redis.call('GET', KEYS[1])
if current == ARGV[1] then return {0} end
redis.call('SET', KEYS[1], ARGV[1])
if current then return {1, current} end
return {1, ''}
)lua";

// An upload from memory (the SMTP message).
struct Upload {
    const std::string* text = nullptr;
    std::size_t offset = 0;
};

std::size_t read_upload(char* buffer, std::size_t size, std::size_t items, void* user) {
    auto* up = static_cast<Upload*>(user);
    const std::size_t room = size * items;
    const std::size_t left = up->text->size() - up->offset;
    const std::size_t n = std::min(room, left);
    std::memcpy(buffer, up->text->data() + up->offset, n);
    up->offset += n;
    return n;
}

std::size_t discard_body(char*, std::size_t size, std::size_t items, void*) { return size * items; }

Error channel_error(std::string message) { return Error{std::move(message), ErrorKind::Transient}; }

}  // namespace

RedisAlertLedger::RedisAlertLedger(RedisOptions options, KeyScheme keys)
    : connection_(std::move(options)), keys_(std::move(keys)) {}

Result<std::optional<std::string>> RedisAlertLedger::exchange(const std::string& app, const std::string& key) {
    auto reply = connection_.call({"EVAL", kExchangeScript, "1", keys_.alerts(app), key});
    if (!reply) return reply.error();
    const auto& v = *reply;
    if (v.type != RedisValue::Type::Array || v.elements.empty()) {
        return Error{"unexpected reply of the alert ledger script", ErrorKind::Permanent};
    }
    if (v.elements[0].integer == 0) return std::optional<std::string>{};
    return std::optional<std::string>{v.elements.size() > 1 ? v.elements[1].str : std::string()};
}

CurlNotifier::CurlNotifier(NotificationsConfig config, NotificationSecrets secrets, const Redactor& redactor,
                           std::chrono::milliseconds timeout)
    : config_(std::move(config)), secrets_(std::move(secrets)), redactor_(redactor), timeout_(timeout) {
    if (!ensure_curl_global()) throw std::runtime_error("curl_global_init failed");
}

Result<bool> CurlNotifier::send(const Notification& notification) {
    std::string failed;
    if (config_.email) {
        if (auto sent = send_email(notification); !sent) failed += "e-mail: " + sent.error().message;
    }
    if (config_.webhook) {
        if (auto sent = send_webhook(notification); !sent) {
            failed += (failed.empty() ? "" : "; ") + std::string("webhook: ") + sent.error().message;
        }
    }
    if (!failed.empty()) return channel_error(redactor_.redact(failed));
    return true;
}

Result<bool> CurlNotifier::send_email(const Notification& n) {
    const auto& email = *config_.email;
    CurlEasyPtr curl(curl_easy_init());
    if (!curl) return channel_error("curl_easy_init failed");
    const std::string message_id = "provbridge." + std::to_string(n.at_ms) + "." + std::to_string(++sent_) + "." +
                                   std::string(to_string(n.kind)) + "@" + n.app;
    const std::string message = transforms::email_message(n, email.from, email.to, message_id);
    Upload upload{&message, 0};
    CurlSlistPtr recipients;
    for (const auto& to : email.to) {
        curl_slist* grown = curl_slist_append(recipients.get(), ("<" + to + ">").c_str());
        if (grown == nullptr) return channel_error("out of memory");
        (void)recipients.release();
        recipients.reset(grown);
    }
    const std::string from = "<" + email.from + ">";
    CURL* h = curl.get();
    curl_easy_setopt(h, CURLOPT_URL, email.smtp_url.c_str());
    curl_easy_setopt(h, CURLOPT_MAIL_FROM, from.c_str());
    curl_easy_setopt(h, CURLOPT_MAIL_RCPT, recipients.get());
    curl_easy_setopt(h, CURLOPT_READFUNCTION, read_upload);
    curl_easy_setopt(h, CURLOPT_READDATA, &upload);
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    // STARTTLS when the server offers it; smtps:// is TLS from the start.
    curl_easy_setopt(h, CURLOPT_USE_SSL, static_cast<long>(CURLUSESSL_TRY));
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_.count()));
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    if (!email.username.empty()) {
        curl_easy_setopt(h, CURLOPT_USERNAME, email.username.c_str());
        curl_easy_setopt(h, CURLOPT_PASSWORD, secrets_.smtp_password.c_str());
    }
    char error[CURL_ERROR_SIZE] = {0};
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error);
    const CURLcode code = curl_easy_perform(h);
    if (code != CURLE_OK) {
        return channel_error(std::string(curl_easy_strerror(code)) + (error[0] != 0 ? std::string(": ") + error : ""));
    }
    return true;
}

Result<bool> CurlNotifier::send_webhook(const Notification& n) {
    const auto& hook = *config_.webhook;
    CurlEasyPtr curl(curl_easy_init());
    if (!curl) return channel_error("curl_easy_init failed");
    const std::string body = transforms::webhook_document(n).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    CurlSlistPtr headers(curl_slist_append(nullptr, "Content-Type: application/json"));
    if (!secrets_.webhook_token.empty()) {
        curl_slist* grown = curl_slist_append(headers.get(), ("Authorization: Bearer " + secrets_.webhook_token).c_str());
        if (grown == nullptr) return channel_error("out of memory");
        (void)headers.release();
        headers.reset(grown);
    }
    CURL* h = curl.get();
    curl_easy_setopt(h, CURLOPT_URL, hook.url.c_str());
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard_body);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_.count()));
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    char error[CURL_ERROR_SIZE] = {0};
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error);
    const CURLcode code = curl_easy_perform(h);
    if (code != CURLE_OK) {
        return channel_error(std::string(curl_easy_strerror(code)) + (error[0] != 0 ? std::string(": ") + error : ""));
    }
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (status / 100 != 2) return channel_error("HTTP " + std::to_string(status));
    return true;
}

NotificationWatch::NotificationWatch(std::vector<std::string> apps, QuarantineStore& quarantine, StagedCount staged,
                                     AlertLedger& ledger, Notifier& notifier, const Clock& clock,
                                     std::shared_ptr<spdlog::logger> log, std::string dashboard_url)
    : apps_(std::move(apps)),
      quarantine_(quarantine),
      staged_(std::move(staged)),
      ledger_(ledger),
      notifier_(notifier),
      clock_(clock),
      log_(std::move(log)),
      dashboard_url_(std::move(dashboard_url)) {}

void NotificationWatch::deliver(Pending pending) {
    ++pending.attempts;
    auto sent = notifier_.send(pending.notification);
    if (sent) {
        ++sent_;
        if (log_) log_->info("notified: {}", pending.notification.subject);
        return;
    }
    if (pending.attempts >= kMaxSendAttempts) {
        if (log_) {
            log_->error("could not notify \"{}\" after {} attempts, giving up: {}", pending.notification.subject,
                        pending.attempts, sent.error().message);
        }
        return;
    }
    if (log_) log_->warn("could not notify \"{}\" (will try again): {}", pending.notification.subject, sent.error().message);
    retry_.push_back(std::move(pending));
}

void NotificationWatch::tick() noexcept {
    try {
        auto again = std::exchange(retry_, {});
        for (auto& p : again) deliver(std::move(p));
        for (const auto& app : apps_) {
            auto q = quarantine_.load(app);
            auto staged = staged_(app);
            if (!q || !staged) {
                // Read again at the next tick: a change is never decided on a state not read.
                if (log_) log_->warn("notifications: cannot read the state of app {}: {}", app,
                                     !q ? q.error().message : staged.error().message);
                continue;
            }
            transforms::AlertState now;
            now.quarantined = q->quarantined;
            now.since_ms = q->since_ms;
            now.code = q->code;
            now.reason = q->reason;
            now.next_probe_ms = q->next_probe_ms;
            now.staged = *staged;
            auto told = ledger_.exchange(app, transforms::alert_key(now));
            if (!told) {
                if (log_) log_->warn("notifications: cannot update what was told of app {}: {}", app, told.error().message);
                continue;
            }
            if (!*told) continue;  // nothing new, or another worker tells it
            for (auto& n : transforms::alert_changes(app, **told, now, clock_.wall_ms(), dashboard_url_)) {
                deliver(Pending{std::move(n), 0});
            }
        }
    } catch (const std::exception& e) {
        if (log_) log_->error("notifications: {}", e.what());
    } catch (...) {
        if (log_) log_->error("notifications: unknown failure");
    }
}

}  // namespace provbridge::consumers
