#include "provbridge/transforms/failure_policy.hpp"

#include <time.h>  // strptime, timegm: POSIX/BSD, not in <ctime>

#include <algorithm>
#include <ctime>
#include <limits>

#include "provbridge/transforms/scim_protocol.hpp"

namespace provbridge::transforms {
namespace {

using std::chrono::milliseconds;

// A target asking for more than a day is broken or hostile; honouring it literally would park
// an event for years (or overflow the arithmetic below).
constexpr std::int64_t kMaxRetryAfterSeconds = 24LL * 3600;

bool is_http_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string_view trim(std::string_view s) {
    while (!s.empty() && is_http_space(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_http_space(s.back())) s.remove_suffix(1);
    return s;
}

std::optional<milliseconds> parse_delay_seconds(std::string_view digits) {
    std::int64_t seconds = 0;
    for (const char c : digits) {
        if (c < '0' || c > '9') return std::nullopt;
        // Saturate rather than overflow: "99999999999999999999999" means "a long time", not garbage.
        seconds = std::min(seconds * 10 + (c - '0'), kMaxRetryAfterSeconds);
    }
    return milliseconds(seconds * 1000);
}

std::optional<milliseconds> parse_http_date(const std::string& text, std::int64_t now_ms) {
    // The three forms RFC 9110 §5.6.7 obliges a recipient to accept. %a/%b are matched in the
    // C locale, which is the process locale: provbridge never calls setlocale.
    static constexpr const char* kFormats[] = {
        "%a, %d %b %Y %H:%M:%S GMT",  // IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
        "%A, %d-%b-%y %H:%M:%S GMT",  // RFC 850:     Sunday, 06-Nov-94 08:49:37 GMT
        "%a %b %e %H:%M:%S %Y",       // asctime:     Sun Nov  6 08:49:37 1994
    };
    for (const char* format : kFormats) {
        std::tm tm{};
        const char* end = ::strptime(text.c_str(), format, &tm);
        if (end == nullptr || *end != '\0') continue;
        const std::time_t when = ::timegm(&tm);
        const std::int64_t delay_s = static_cast<std::int64_t>(when) - now_ms / 1000;
        if (delay_s > kMaxRetryAfterSeconds) return milliseconds(kMaxRetryAfterSeconds * 1000);
        const std::int64_t delay_ms = static_cast<std::int64_t>(when) * 1000 - now_ms;
        return milliseconds(std::max<std::int64_t>(delay_ms, 0));
    }
    return std::nullopt;
}

std::int64_t saturating_add(std::int64_t a, std::int64_t b) {
    if (b > 0 && a > std::numeric_limits<std::int64_t>::max() - b) return std::numeric_limits<std::int64_t>::max();
    return a + b;
}

// "24 h", "1 h 30 min", "45 s", "800 ms": the two largest units an operator cares about.
std::string readable_duration(std::int64_t ms) {
    if (ms < 1000) return std::to_string(std::max<std::int64_t>(ms, 0)) + " ms";
    const std::int64_t s = ms / 1000;
    if (s < 60) return std::to_string(s) + " s";
    const std::int64_t minutes = s / 60;
    if (minutes < 60) {
        return std::to_string(minutes) + " min" + (s % 60 ? " " + std::to_string(s % 60) + " s" : "");
    }
    const std::int64_t hours = minutes / 60;
    return std::to_string(hours) + " h" + (minutes % 60 ? " " + std::to_string(minutes % 60) + " min" : "");
}

// base * 2^exponent, capped at cap, without overflowing for any exponent.
std::int64_t backoff_ceiling(std::int64_t base, int exponent, std::int64_t cap) {
    if (base <= 0 || cap <= 0) return 0;
    std::int64_t ceiling = std::min(base, cap);
    for (int i = 0; i < exponent && ceiling < cap; ++i) {
        ceiling = ceiling > cap / 2 ? cap : ceiling * 2;
    }
    return ceiling;
}

}  // namespace

std::string_view to_string(Disposition disposition) {
    switch (disposition) {
        case Disposition::Retry: return "retry";
        case Disposition::Conflict: return "conflict";
        case Disposition::Gone: return "gone";
        case Disposition::Quarantine: return "quarantine";
        case Disposition::DeadLetter: return "dead_letter";
    }
    return "dead_letter";
}

std::string_view to_string(FailureKind kind) {
    switch (kind) {
        case FailureKind::Transient: return "transient";
        case FailureKind::Permanent: return "permanent";
        case FailureKind::Auth: return "auth";
        case FailureKind::Reference: return "reference";
    }
    return "permanent";
}

FailureVerdict failure_policy(const ScimResponse& response, ScimOperation operation, std::int64_t now_ms) {
    ResponseVerdict classified = classify(response);
    FailureVerdict v;
    v.code = std::move(classified.code);
    v.detail = std::move(classified.detail);
    v.scim_type = std::move(classified.scim_type);

    if (response.transport != TransportStatus::Ok) {
        if (response.transport == TransportStatus::TlsError) {
            // classify() lumps TLS in with connection failures; here it must not be retried, and
            // the log should say why the account stays unprovisioned.
            v.disposition = Disposition::DeadLetter;
            v.kind = FailureKind::Permanent;
            v.code = "TlsError";
        } else {
            v.disposition = Disposition::Retry;
            v.kind = FailureKind::Transient;
        }
        return v;
    }

    v.http_status = response.status;
    // Kept for any status: a target may send it with a 401/403 too, and a probe schedule can use it.
    if (response.retry_after) v.retry_after = parse_retry_after(*response.retry_after, now_ms);

    const long s = response.status;
    if (s >= 200 && s < 300) {
        v.disposition = Disposition::Retry;
        v.kind = FailureKind::Transient;
        return v;
    }
    switch (s) {
        case 408:
        case 429:
        case 500:
        case 502:
        case 503:
        case 504:
            v.disposition = Disposition::Retry;
            v.kind = FailureKind::Transient;
            break;
        case 401:
        case 403:
            v.disposition = Disposition::Quarantine;
            v.kind = FailureKind::Auth;
            break;
        case 409:
            v.disposition = operation == ScimOperation::Create ? Disposition::Conflict : Disposition::DeadLetter;
            v.kind = FailureKind::Permanent;
            break;
        case 404: {
            const bool addressed_by_id = operation == ScimOperation::Update || operation == ScimOperation::Disable ||
                                         operation == ScimOperation::Delete;
            v.disposition = addressed_by_id ? Disposition::Gone : Disposition::DeadLetter;
            v.kind = FailureKind::Permanent;
            break;
        }
        default:
            v.disposition = Disposition::DeadLetter;
            v.kind = FailureKind::Permanent;
            break;
    }
    return v;
}

std::optional<milliseconds> parse_retry_after(std::string_view value, std::int64_t now_ms) {
    const std::string_view trimmed = trim(value);
    if (trimmed.empty()) return std::nullopt;
    if (trimmed.front() >= '0' && trimmed.front() <= '9') {
        if (auto seconds = parse_delay_seconds(trimmed)) return seconds;
    }
    // strptime needs a NUL-terminated string; a header value is short, so the copy is cheap.
    return parse_http_date(std::string(trimmed), now_ms);
}

RetryPlan plan_retry(const RetryConfig& policy, int attempts_made, std::int64_t first_failure_ms,
                     std::int64_t now_ms, std::optional<milliseconds> retry_after, Random& random) {
    RetryPlan plan;
    if (attempts_made >= policy.max_attempts) {
        plan.give_up = true;
        plan.why_given_up =
            "gave up after " + std::to_string(attempts_made) + (attempts_made == 1 ? " attempt" : " attempts");
        return plan;
    }
    const std::int64_t failing_for = now_ms - first_failure_ms;
    if (failing_for >= policy.max_age.count()) {
        plan.give_up = true;
        plan.why_given_up = "gave up after failing for " + readable_duration(failing_for);
        return plan;
    }

    const int exponent = std::max(attempts_made, 1) - 1;
    const std::int64_t ceiling = backoff_ceiling(policy.base_delay.count(), exponent, policy.max_delay.count());
    // Clamped so that a faulty Random cannot schedule into the past or beyond the ceiling.
    std::int64_t delay = std::clamp<std::int64_t>(random.uniform(ceiling), 0, ceiling);
    // The target's own estimate wins even above max_delay: retrying earlier only earns another 429.
    if (retry_after) delay = std::max<std::int64_t>(delay, retry_after->count());
    // A due time past first_failure + max_age is still scheduled: that attempt, if it fails,
    // gives up by the age check above, so no separate "last chance" rule is needed.
    plan.due_ms = saturating_add(now_ms, delay);
    return plan;
}

}  // namespace provbridge::transforms
