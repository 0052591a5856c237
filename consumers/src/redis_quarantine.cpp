#include "provbridge/consumers/redis_quarantine.hpp"

#include <algorithm>
#include <charconv>

#include "provbridge/transforms/rolling_window.hpp"

namespace provbridge::consumers {
namespace {

// KEYS: 1 state. ARGV: code, reason, since, next probe. The first reason stands.
constexpr const char* kEnterScript = R"lua(
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'code', ARGV[1], 'reason', ARGV[2], 'since_ms', ARGV[3],
             'next_probe_ms', ARGV[4], 'failed_probes', '0', 'last_probe', '')
end
return redis.call('HGETALL', KEYS[1])
)lua";

// KEYS: 1 state, 2 probe lock. ARGV: now, lease ms. 1 when this caller runs the due probe.
constexpr const char* kClaimProbeScript = R"lua(
local due = redis.call('HGET', KEYS[1], 'next_probe_ms')
if not due or tonumber(due) > tonumber(ARGV[1]) then return 0 end
if redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[2]) then return 1 end
return 0
)lua";

// KEYS: 1 state, 2 probe lock. ARGV: what the probe got, next probe.
constexpr const char* kProbeFailedScript = R"lua(
redis.call('DEL', KEYS[2])
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HINCRBY', KEYS[1], 'failed_probes', 1)
redis.call('HSET', KEYS[1], 'last_probe', ARGV[1], 'next_probe_ms', ARGV[2])
return 1
)lua";

// KEYS: 1 the bucket of now, 2.. the window's buckets. ARGV: field (ok/fail), bucket ttl ms.
// Returns {ok, fail} summed over the window.
constexpr const char* kRecordScript = R"lua(
redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
local ok, fail = 0, 0
for i = 2, #KEYS do
  local v = redis.call('HMGET', KEYS[i], 'ok', 'fail')
  ok = ok + (tonumber(v[1]) or 0)
  fail = fail + (tonumber(v[2]) or 0)
end
return {ok, fail}
)lua";

std::int64_t to_int(const std::string& text) {
    std::int64_t value = 0;
    std::from_chars(text.data(), text.data() + text.size(), value);
    return value;
}

QuarantineState decode_state(const RedisValue& hash) {
    QuarantineState state;
    if (hash.type != RedisValue::Type::Array || hash.elements.empty()) return state;
    state.quarantined = true;
    for (std::size_t i = 0; i + 1 < hash.elements.size(); i += 2) {
        const auto& field = hash.elements[i].str;
        const auto& value = hash.elements[i + 1].str;
        if (field == "code") state.code = value;
        if (field == "reason") state.reason = value;
        if (field == "since_ms") state.since_ms = to_int(value);
        if (field == "next_probe_ms") state.next_probe_ms = to_int(value);
        if (field == "failed_probes") state.failed_probes = static_cast<int>(to_int(value));
        if (field == "last_probe") state.last_probe = value;
    }
    return state;
}

}  // namespace

RedisQuarantineStore::RedisQuarantineStore(RedisOptions options, KeyScheme keys)
    : connection_(std::move(options)), keys_(std::move(keys)) {}

Result<RedisValue> RedisQuarantineStore::run(const std::string& script, std::string& sha, RedisArgv keys,
                                             RedisArgv args) {
    RedisArgv argv;
    argv.reserve(3 + keys.size() + args.size());
    // EVAL on first use: Redis caches the script, and EVALSHA carries only its digest after that.
    const bool first = sha.empty();
    argv.insert(argv.end(), {first ? "EVAL" : "EVALSHA", first ? script : sha, std::to_string(keys.size())});
    argv.insert(argv.end(), keys.begin(), keys.end());
    argv.insert(argv.end(), args.begin(), args.end());
    auto reply = connection_.call(argv);
    if (!reply && !first && reply.error().message.find("NOSCRIPT") != std::string::npos) {
        argv[0] = "EVAL";
        argv[1] = script;
        reply = connection_.call(argv);
    }
    if (reply && first) {
        auto digest = connection_.call({"SCRIPT", "LOAD", script});
        if (digest && digest->type == RedisValue::Type::String) sha = digest->str;
    }
    return reply;
}

Result<QuarantineState> RedisQuarantineStore::load(const std::string& app) {
    auto reply = connection_.call({"HGETALL", keys_.quarantine(app)});
    if (!reply) return reply.error();
    return decode_state(*reply);
}

Result<QuarantineState> RedisQuarantineStore::enter(const std::string& app, const std::string& code,
                                                    const std::string& reason, std::int64_t now_ms,
                                                    std::int64_t next_probe_ms) {
    auto reply = run(kEnterScript, enter_sha_, {keys_.quarantine(app)},
                     {code, reason, std::to_string(now_ms), std::to_string(next_probe_ms)});
    if (!reply) return reply.error();
    return decode_state(*reply);
}

Result<bool> RedisQuarantineStore::claim_probe(const std::string& app, std::int64_t now_ms,
                                               std::chrono::milliseconds lease) {
    auto reply = run(kClaimProbeScript, claim_sha_, {keys_.quarantine(app), keys_.quarantine_probe(app)},
                     {std::to_string(now_ms), std::to_string(std::max<std::int64_t>(1, lease.count()))});
    if (!reply) return reply.error();
    return reply->integer == 1;
}

Result<bool> RedisQuarantineStore::probe_failed(const std::string& app, const std::string& what,
                                                std::int64_t next_probe_ms) {
    auto reply = run(kProbeFailedScript, failed_sha_, {keys_.quarantine(app), keys_.quarantine_probe(app)},
                     {what, std::to_string(next_probe_ms)});
    if (!reply) return reply.error();
    return reply->integer == 1;
}

Result<bool> RedisQuarantineStore::lift(const std::string& app) {
    auto reply = connection_.call({"DEL", keys_.quarantine(app), keys_.quarantine_probe(app)});
    if (!reply) return reply.error();
    return reply->integer > 0;
}

Result<OperationWindow> RedisQuarantineStore::record_operation(const std::string& app, bool failed,
                                                              std::int64_t now_ms, std::chrono::milliseconds window) {
    const auto buckets = transforms::window_buckets(window, now_ms);
    RedisArgv keys{keys_.operations(app, buckets.current)};
    for (std::int64_t b = buckets.first; b <= buckets.current; ++b) keys.push_back(keys_.operations(app, b));
    auto reply =
        run(kRecordScript, record_sha_, std::move(keys), {failed ? "fail" : "ok", std::to_string(buckets.ttl_ms)});
    if (!reply) return reply.error();
    if (reply->type != RedisValue::Type::Array || reply->elements.size() != 2) {
        return make_error("unexpected reply to the operation window script");
    }
    return OperationWindow{reply->elements[0].integer, reply->elements[1].integer};
}

}  // namespace provbridge::consumers
