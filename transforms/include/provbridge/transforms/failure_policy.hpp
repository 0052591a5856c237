#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "provbridge/core/config.hpp"
#include "provbridge/core/random.hpp"
#include "provbridge/core/scim.hpp"

namespace provbridge::transforms {

// What a SCIM request was for: the same status means different things for different operations
// (a 404 on a PATCH says the account is gone; on a POST, that the endpoint is wrong).
enum class ScimOperation { Find, Create, Update, Disable, Delete, Probe };

// What to do about a failed SCIM call. The one place that decides it: every failure site in the
// worker asks this and acts on the answer.
enum class Disposition {
    Retry,       // transient: park the event and try it again later
    Conflict,    // 409 on create: find the existing account by the matching attribute and link it
    Gone,        // 404 on PATCH/DELETE: the account is gone (re-match or re-create; a delete is done)
    Quarantine,  // the app refused our credentials: stop sending to it until a probe succeeds
    DeadLetter,  // permanent: repeating the request gives the same answer
};

enum class FailureKind {
    Transient,  // throttled, unavailable, timed out, connection lost
    Permanent,  // the request or the data is wrong
    Auth,       // 401/403
    Reference,  // a referenced object is not (yet) in the target; never counts towards quarantine
};

std::string_view to_string(Disposition disposition);
std::string_view to_string(FailureKind kind);

struct FailureVerdict {
    Disposition disposition = Disposition::DeadLetter;
    FailureKind kind = FailureKind::Permanent;
    std::string code;       // Entra-style: TooManyRequests, ServiceUnavailable, Unauthorized, ...
    std::string detail;     // human text: status, scimType and detail of the error body
    long http_status = 0;   // 0 when no HTTP response arrived
    std::string scim_type;  // scimType of a SCIM error body
    // The delay the target asked for (Retry-After, seconds or an HTTP date), when it did and the
    // value parsed. Set for any HTTP status that carried the header; never for transport failures.
    std::optional<std::chrono::milliseconds> retry_after;
};

// Classifies a SCIM response that is not a 2xx (a 2xx gives Disposition::Retry with an empty
// code: callers check success first). now_ms is the wall clock, to turn an HTTP-date
// Retry-After into a delay.
//   retry: connect failure, timeout, reset (transport), 408, 429, 500, 502, 503, 504
//   conflict: 409 on Create; gone: 404 on Update/Disable/Delete
//   quarantine: 401, 403
//   dead letter: 400, 404 elsewhere, 409 elsewhere, 413, 422, other 4xx, 501, other 5xx,
//                1xx/3xx, TLS errors (a bad certificate does not heal by retrying)
// code, detail and scim_type come from classify(), so there is one source of codes; the only
// override is code "TlsError" for TransportStatus::TlsError, which classify() cannot tell apart.
FailureVerdict failure_policy(const ScimResponse& response, ScimOperation operation, std::int64_t now_ms);

// Retry-After (RFC 9110 §10.2.3): delay-seconds or an HTTP-date (IMF-fixdate, also the obsolete
// RFC 850 and asctime forms), surrounding whitespace ignored. A date in the past gives zero;
// garbage, an empty or a negative value gives nullopt. Capped at 24 h: a target asking for more
// is broken, and a literal reading would park the event for years.
std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value, std::int64_t now_ms);

// When the next attempt is due, or that there is none.
struct RetryPlan {
    bool give_up = false;
    std::int64_t due_ms = 0;   // wall clock, when !give_up
    std::string why_given_up;  // "gave up after 12 attempts", "gave up after failing for 24 h"
};

// attempts_made counts the attempt that just failed (1 after the first failure; less counts as
// 1). The delay is full jitter: uniform in [0, min(max_delay, base_delay * 2^(attempts_made-1))],
// but never shorter than the target's Retry-After (which may exceed max_delay). Gives up once
// attempts_made >= max_attempts or the first failure is max_age old. A due time that lands past
// first_failure + max_age is still scheduled: if that attempt fails, the age check gives up then.
RetryPlan plan_retry(const RetryConfig& policy, int attempts_made, std::int64_t first_failure_ms,
                     std::int64_t now_ms, std::optional<std::chrono::milliseconds> retry_after,
                     Random& random);

}  // namespace provbridge::transforms
