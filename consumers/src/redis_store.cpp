#include "provbridge/consumers/redis_store.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <exception>
#include <limits>
#include <stdexcept>
#include <tuple>
#include <utility>

#include <hiredis/hiredis.h>
#include <openssl/evp.h>
#include <spdlog/spdlog.h>

#include "provbridge/core/json_util.hpp"
#include "provbridge/core/minute_stats.hpp"
#include "provbridge/transforms/rolling_window.hpp"

namespace provbridge::consumers {
namespace {

using nlohmann::json;

// The provisioning log's fields of one entry (an outcome, or an operation staged).
std::vector<std::string> log_entry(const OutcomeRecord& record, const std::string& app, const std::string& record_json,
                                   std::int64_t now_ms) {
    return {
        "event_id",        record.event_id,
        "source",          record.source,
        "app",             app,
        "object_type",     record.object_type,
        "object_id",       record.object_id,
        "event_type",      record.event_type,
        "action",          std::string(to_string(record.action)),
        "outcome",         std::string(to_string(record.status)),
        "code",            record.code,
        "reason",          record.reason,
        "http_status",     std::to_string(record.http_status),
        "scim_id",         record.scim_id,
        "duration_ms",     std::to_string(record.duration_ms),
        "version",         std::to_string(record.version),
        "topic",           record.topic,
        "partition",       std::to_string(record.partition),
        "offset",          std::to_string(record.offset),
        "committed_at_ms", std::to_string(now_ms),
        "json",            record_json,
    };
}

// KEYS: 1 outcome, 2 link (the outcome key again when no link is written), 3 log, 4 stats,
// 5 dead-letter index, 6 owner of the link's SCIM id (the outcome key again when none); with
// a head 7 its queue, 8 the app's due set, 9 parked hash, 10 leases hash (else the outcome key
// again); 11 the minute's counters (outcomes and a latency histogram, for rates and charts);
// 12 the app's linked set (KeyScheme::linked).
// ARGV: 1 record json, 2 ttl seconds, 3 log stream cap, 4 write link "1"/"0", 5-10 link
// scim_id, version, status, applied, assignment (JSON: its role, or null), snapshot (JSON),
// 11 dead letter "1"/"0", 12 counter, 13 owner (source id, "" for none), 14 head "1"/"0",
// 15 head member, 16 lease token, 17 now ms (when the next event of the queue becomes due),
// 18 the dead-letter index entry this outcome replays (a stream id, "" for none), 19 the
// latency histogram field ("" for none), 20 the latency in ms, 21 the minute counters' TTL
// seconds, 22 the log's oldest id to keep (XTRIM MINID; "" for none), 23 now ms, 24 "1" when
// the outcome is applied (the app's last success), 25 number N of log stream arguments,
// 26..25+N log field/value pairs, the rest dead-letter field/value pairs (with the original
// record, when kept).
// Returns 0: already recorded, nothing written (but a held head is popped); 1: recorded;
// 2: recorded, but the stored link has a higher version, so the link and the owner index were
// left alone; 3: the head's lease is not held, nothing written.
// The lease check comes first: a worker whose claim was taken over must not record an outcome
// the new owner is deciding again. SET NX comes next so a second delivery changes nothing. The
// version check is here, not in the caller, because two workers can race between a load and
// this commit (a revoke that timed out, an old event replayed): only the script sees the link
// as it is now. The dead-letter index is never trimmed (replay needs all of it); the log is.
// A replay's outcome removes the entry it replays together with recording it, so the index
// holds exactly the failures still waiting for an operator (a replay that fails again adds a
// new entry in the same step); the original outcome stays in the log.
constexpr std::string_view kCommitScript = R"lua(
-- Versions are decimal int64 strings; Lua numbers are doubles and would round above 2^53.
local function int_less(a, b)
  local na, nb = a:sub(1, 1) == '-', b:sub(1, 1) == '-'
  if na ~= nb then return na end
  if na then a, b = b:sub(2), a:sub(2) end
  if #a ~= #b then return #a < #b end
  return a < b
end
local head = ARGV[14] == '1'
if head and redis.call('HGET', KEYS[10], ARGV[15]) ~= ARGV[16] then
  return 3
end
-- The head's outcome exists now (recorded here or by an earlier delivery), so the next event
-- of the object may run at once.
local function pop_head()
  redis.call('LPOP', KEYS[7])
  redis.call('HDEL', KEYS[9], KEYS[1])
  redis.call('HDEL', KEYS[10], ARGV[15])
  if redis.call('LLEN', KEYS[7]) > 0 then
    redis.call('ZADD', KEYS[8], ARGV[17], ARGV[15])
  else
    redis.call('ZREM', KEYS[8], ARGV[15])
  end
end
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then
  if head then pop_head() end
  return 0
end
local kept = false
if ARGV[4] == '1' then
  local stored = redis.call('HGET', KEYS[2], 'version')
  kept = stored and string.match(stored, '^-?%d+$') ~= nil and int_less(ARGV[6], stored)
  if not kept then
    redis.call('HSET', KEYS[2], 'scim_id', ARGV[5], 'version', ARGV[6], 'status', ARGV[7],
               'applied', ARGV[8], 'assignment', ARGV[9], 'snapshot', ARGV[10])
    -- The owner index follows the link: an account never points at a source whose link
    -- does not point back.
    if ARGV[13] ~= '' then
      redis.call('SET', KEYS[6], ARGV[13])
    end
    -- So does the app's linked set (the base of deletion_threshold.max_percent): a link with
    -- an account in the target, active or not, is in it, one without (deleted) is not. Written
    -- here, with the link, it never drifts from the links and costs no count per event.
    if ARGV[5] ~= '' and ARGV[7] ~= 'deleted' then
      redis.call('SADD', KEYS[12], KEYS[2])
    else
      redis.call('SREM', KEYS[12], KEYS[2])
    end
  end
end
local nlog = tonumber(ARGV[25])
local entry = {}
for i = 26, 25 + nlog do entry[#entry + 1] = ARGV[i] end
if kept then
  entry[#entry + 1] = 'link'
  entry[#entry + 1] = 'kept_newer'
end
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], '*', unpack(entry))
if ARGV[22] ~= '' then redis.call('XTRIM', KEYS[3], 'MINID', '~', ARGV[22]) end
-- A dry run's decisions are counted apart: they are not the app's traffic.
local events = string.sub(ARGV[12], 1, 8) == 'dry_run_' and 'dry_run_events' or 'events'
redis.call('HINCRBY', KEYS[4], ARGV[12], 1)
redis.call('HINCRBY', KEYS[4], events, 1)
if ARGV[24] == '1' then redis.call('HSET', KEYS[4], 'last_applied_ms', ARGV[23]) end
redis.call('HINCRBY', KEYS[11], ARGV[12], 1)
redis.call('HINCRBY', KEYS[11], events, 1)
if ARGV[19] ~= '' and events == 'events' then
  redis.call('HINCRBY', KEYS[11], ARGV[19], 1)
  redis.call('HINCRBY', KEYS[11], 'latency_sum_ms', ARGV[20])
end
redis.call('EXPIRE', KEYS[11], ARGV[21])
if ARGV[11] == '1' then
  local dlq = {}
  for i = 26 + nlog, #ARGV do dlq[#dlq + 1] = ARGV[i] end
  redis.call('XADD', KEYS[5], '*', unpack(dlq))
end
if ARGV[18] ~= '' then
  redis.call('XDEL', KEYS[5], ARGV[18])
end
if head then pop_head() end
if kept then return 2 end
return 1
)lua";

// KEYS: 1 the object's queue, 2 due set, 3 parked hash, 4 staged set, 5 the log stream.
// ARGV: 1 event key, 2 member, 3 serialised event, 4 mode: "1" only behind queued events
// (ParkMode::Behind), "2" staged (park_staged), "0" anywhere; 5 due ms (staged: the time) of a
// new head; staged only: 6 the log's cap, 7.. the staging's log entry (field/value pairs).
// Returns 0: parked; 1: already parked, nothing changed; 2: not queued, nothing changed.
// The parked hash answers "is this event queued anywhere?" without scanning a list.
constexpr std::string_view kParkScript = R"lua(
if redis.call('HEXISTS', KEYS[3], ARGV[1]) == 1 then return 1 end
local queued = redis.call('LLEN', KEYS[1])
if queued == 0 and ARGV[4] == '1' then return 2 end
redis.call('RPUSH', KEYS[1], ARGV[3])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
if queued == 0 then
  if ARGV[4] == '2' then
    redis.call('ZADD', KEYS[4], ARGV[5], ARGV[2])
  else
    redis.call('ZADD', KEYS[2], ARGV[5], ARGV[2])
  end
end
if ARGV[4] == '2' then
  local entry = {}
  for i = 7, #ARGV do entry[#entry + 1] = ARGV[i] end
  redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[6], '*', unpack(entry))
end
return 0
)lua";

// KEYS: 1 due set, 2 leases hash, 3 lease sequence. ARGV: 1 now ms, 2 max, 3 owner, 4 queue key
// prefix, 5 end of the lease (ms).
// Returns a flat array: member, token, head entry, for each claimed head, oldest due first.
// A claimed head's score becomes the end of its lease, so it is due again, for anyone, once the
// lease runs out. Queue keys are derived from the members found here (prefix .. member): they
// cannot be passed as KEYS before the lookup, and they share the due set's {app} slot.
constexpr std::string_view kClaimScript = R"lua(
local members = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
local claimed = {}
for _, member in ipairs(members) do
  local entry = redis.call('LINDEX', ARGV[4] .. member, 0)
  if not entry then
    -- A due member without a queue is left over from an inconsistency: nothing to run.
    redis.call('ZREM', KEYS[1], member)
    redis.call('HDEL', KEYS[2], member)
  else
    local token = ARGV[3] .. ':' .. redis.call('INCR', KEYS[3])
    redis.call('ZADD', KEYS[1], ARGV[5], member)
    redis.call('HSET', KEYS[2], member, token)
    claimed[#claimed + 1] = member
    claimed[#claimed + 1] = token
    claimed[#claimed + 1] = entry
  end
end
return claimed
)lua";

// KEYS: 1 the object's queue, 2 due set, 3 leases hash. ARGV: 1 member, 2 token, 3 updated
// entry, 4 due ms. Returns 1: rescheduled (lease released); 0: lease not held, nothing written.
constexpr std::string_view kRescheduleScript = R"lua(
if redis.call('HGET', KEYS[3], ARGV[1]) ~= ARGV[2] then return 0 end
if redis.call('LLEN', KEYS[1]) == 0 then
  -- Only an inconsistency gets here (the commit that empties a queue ends its lease).
  redis.call('HDEL', KEYS[3], ARGV[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
  return 0
end
redis.call('LSET', KEYS[1], 0, ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
return 1
)lua";

// KEYS: 1 a zset of schedules, 2 the hash of their discard marks. ARGV: 1 member, 2 its score as
// read. Returns 1: dropped; 0: the member is gone or was scheduled again (another score), left
// alone.
constexpr std::string_view kDropScheduledScript = R"lua(
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score or tonumber(score) ~= tonumber(ARGV[2]) then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
)lua";

// KEYS: 1 the offset gaps hash. ARGV: 1 the partition's field, 2 the new gap's JSON document
// without its closing brace, 3 its lost offsets, 4 when it was found (ms).
// Returns the partition's new value: the new gap plus the totals carried forward from the value
// before (gaps, total_lost, first_detected_at_ms); a value that is not one of ours counts as no
// earlier gap. The totals are joined to the document as text so that no number passes through
// cjson's 14-digit encoding.
constexpr std::string_view kOffsetGapScript = R"lua(
local gaps, total, first = 1, tonumber(ARGV[3]), ARGV[4]
local old = redis.call('HGET', KEYS[1], ARGV[1])
if old then
  local ok, prev = pcall(cjson.decode, old)
  if ok and type(prev) == 'table' then
    gaps = (type(prev.gaps) == 'number' and prev.gaps or 1) + 1
    local before = prev.total_lost
    if type(before) ~= 'number' then before = prev.lost end
    if type(before) == 'number' then total = total + before end
    local since = prev.first_detected_at_ms
    if type(since) ~= 'number' then since = prev.detected_at_ms end
    if type(since) == 'number' then first = string.format('%d', since) end
  end
end
local doc = ARGV[2] .. ',"gaps":' .. string.format('%d', gaps) .. ',"total_lost":' ..
            string.format('%d', total) .. ',"first_detected_at_ms":' .. first .. '}'
redis.call('HSET', KEYS[1], ARGV[1], doc)
return doc
)lua";

// KEYS: 1 the object's queue, 2 due set, 3 leases hash, 4 staged set, 5 the log stream. ARGV:
// 1 member, 2 token, 3 updated entry, 4 staged ms, 5 the log's cap, 6.. the staging's log entry
// (field/value pairs). Returns 1: staged (lease released); 0: lease not held, nothing written.
// Like reschedule, but the head leaves the due set: only an operator brings it back.
constexpr std::string_view kStageScript = R"lua(
if redis.call('HGET', KEYS[3], ARGV[1]) ~= ARGV[2] then return 0 end
if redis.call('LLEN', KEYS[1]) == 0 then
  redis.call('HDEL', KEYS[3], ARGV[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
  return 0
end
redis.call('LSET', KEYS[1], 0, ARGV[3])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[4], ARGV[4], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
local entry = {}
for i = 6, #ARGV do entry[#entry + 1] = ARGV[i] end
redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[5], '*', unpack(entry))
return 1
)lua";

// KEYS: 1 the bucket of now, 2 staged set, 3 linked set, 4 its completeness mark, 5.. the
// window's buckets. ARGV: 1 max operations (0: no count limit), 2 bucket ttl ms, 3 "1": allowed
// by an operator, 4 max percent of the linked objects (0: no relative limit).
// Returns {admitted 1/0, counted, staged, linked}; admitted -1 when the relative limit is asked
// for and the linked set is not complete yet (nothing counted): not knowing is no answer.
// transforms::judge_deletion in Lua: the check and the count are one step, so workers racing
// for the last places under the threshold cannot overshoot it.
constexpr std::string_view kAdmitScript = R"lua(
local staged = redis.call('ZCARD', KEYS[2])
local counted = 0
for i = 5, #KEYS do counted = counted + (tonumber(redis.call('GET', KEYS[i])) or 0) end
local max_operations, max_percent = tonumber(ARGV[1]), tonumber(ARGV[4])
local linked = 0
if ARGV[3] ~= '1' then
  if max_percent > 0 then
    if redis.call('EXISTS', KEYS[4]) == 0 then return {-1, counted, staged, 0} end
    linked = redis.call('SCARD', KEYS[3])
  end
  if staged > 0 or (max_operations > 0 and counted >= max_operations) or
     (max_percent > 0 and counted * 100 >= max_percent * linked) then
    return {0, counted, staged, linked}
  end
end
redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return {1, counted + 1, staged, linked}
)lua";

// KEYS: 1 the app's linked set, 2.. link keys (a page of a SCAN). Returns how many were added.
// Each link joins or leaves the set by what it holds now, in one step, so a commit running
// beside it (which keeps the set itself) is never undone by an older reading.
constexpr std::string_view kCountLinkedScript = R"lua(
local added = 0
for i = 2, #KEYS do
  local link = redis.call('HMGET', KEYS[i], 'scim_id', 'status')
  if link[1] and link[1] ~= '' and link[2] ~= 'deleted' then
    added = added + redis.call('SADD', KEYS[1], KEYS[i])
  else
    redis.call('SREM', KEYS[1], KEYS[i])
  end
end
return added
)lua";

// Invalid UTF-8 in a record (a source id from a Kafka key, say) must not throw on the hot path.
std::string dump(const json& doc) {
    return doc.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string text_of(const redisReply& reply) {
    if (reply.str == nullptr) return {};
    return std::string(reply.str, reply.len);
}

std::optional<std::int64_t> to_int64(std::string_view text) {
    std::int64_t value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
    return value;
}

Error unexpected_reply(std::string_view what, const redisReply& reply) {
    if (reply.type == REDIS_REPLY_ERROR) {
        return make_redis_error(RedisErrorKind::Reply, what, text_of(reply));
    }
    return make_redis_error(RedisErrorKind::Protocol, what,
                            "unexpected reply type " + std::to_string(reply.type));
}

std::string app_or_invalid(const std::string& app) {
    return app.empty() ? std::string(KeyScheme::kInvalidApp) : app;
}

Result<OutcomeRecord> decode_record(std::string_view text, std::string_view where) {
    auto doc = parse_json(text);
    if (!doc) return make_error("corrupt outcome record at " + std::string(where) + ": " +
                                doc.error().message);
    if (!doc->is_object()) {
        return make_error("corrupt outcome record at " + std::string(where) + ": not an object");
    }
    // outcome_from_json reads leniently but nlohmann can still throw on odd shapes (a change
    // that is not an object); stored data must not turn into an exception here.
    try {
        return outcome_from_json(*doc);
    } catch (const std::exception& e) {
        return make_error("corrupt outcome record at " + std::string(where) + ": " + e.what());
    }
}

Result<std::optional<OutcomeRecord>> decode_outcome(const redisReply& reply,
                                                    const std::string& key) {
    if (reply.type == REDIS_REPLY_NIL) return std::optional<OutcomeRecord>();
    if (reply.type != REDIS_REPLY_STRING) return unexpected_reply("GET " + key, reply);
    auto record = decode_record(text_of(reply), key);
    if (!record) return record.error();
    return std::optional<OutcomeRecord>(std::move(record).value());
}

Result<std::optional<LinkState>> decode_link(const redisReply& reply, const std::string& key) {
    if (reply.type != REDIS_REPLY_ARRAY) return unexpected_reply("HGETALL " + key, reply);
    if (reply.elements == 0) return std::optional<LinkState>();
    LinkState link;
    bool assignment_read = false;
    for (std::size_t i = 0; i + 1 < reply.elements; i += 2) {
        const auto field = text_of(*reply.element[i]);
        const auto value = text_of(*reply.element[i + 1]);
        if (field == "scim_id") {
            link.scim_id = value;
        } else if (field == "version") {
            const auto version = to_int64(value);
            if (!version) return make_error("corrupt link at " + key + ": version '" + value + "'");
            link.version = *version;
        } else if (field == "status") {
            const auto status = link_status_from_string(value);
            if (!status) return make_error("corrupt link at " + key + ": status '" + value + "'");
            link.status = *status;
        } else if (field == "applied") {
            auto applied = parse_json(value);
            if (!applied) {
                return make_error("corrupt link at " + key + ": applied: " + applied.error().message);
            }
            link.applied = std::move(applied).value();
        } else if (field == "assignment") {
            auto role = parse_json(value);
            if (!role || !(role->is_null() || role->is_string())) {
                return make_error("corrupt link at " + key + ": assignment '" + value + "'");
            }
            assignment_read = true;
            if (role->is_string()) link.assigned_role = role->get<std::string>();
        } else if (field == "snapshot") {
            auto snapshot = parse_json(value);
            if (!snapshot) return make_error("corrupt link at " + key + ": snapshot: " + snapshot.error().message);
            link.snapshot = std::move(snapshot).value();
        }
    }
    if (!assignment_read) {
        // Written before links recorded the assignment: the status says what it was.
        if (link.status == LinkStatus::Active || link.status == LinkStatus::OutOfScope) link.assigned_role = "";
        if (link.status == LinkStatus::NotEntitled) link.assigned_role = "Default Access";
    }
    return std::optional<LinkState>(std::move(link));
}

// One stream entry as XRANGE/XREAD return it: [id, [field, value, ...]].
Result<StreamEntry> decode_entry(const redisReply& reply, const std::string& key) {
    if (reply.type != REDIS_REPLY_ARRAY || reply.elements != 2 ||
        reply.element[1]->type != REDIS_REPLY_ARRAY) {
        return unexpected_reply("stream entry of " + key, reply);
    }
    StreamEntry entry;
    entry.id = text_of(*reply.element[0]);
    const auto& fields = *reply.element[1];
    for (std::size_t i = 0; i + 1 < fields.elements; i += 2) {
        entry.fields.emplace(text_of(*fields.element[i]), text_of(*fields.element[i + 1]));
    }
    if (const auto it = entry.fields.find("json"); it != entry.fields.end()) {
        auto record = decode_record(it->second, key + " " + entry.id);
        if (!record) return record.error();
        entry.record = std::move(record).value();
    }
    return entry;
}

Result<std::vector<StreamEntry>> decode_entries(const redisReply& reply, const std::string& key) {
    if (reply.type != REDIS_REPLY_ARRAY) return unexpected_reply("stream " + key, reply);
    std::vector<StreamEntry> entries;
    entries.reserve(reply.elements);
    for (std::size_t i = 0; i < reply.elements; ++i) {
        auto entry = decode_entry(*reply.element[i], key);
        if (!entry) return entry.error();
        entries.push_back(std::move(entry).value());
    }
    return entries;
}

bool is_noscript(const Error& error) {
    return redis_error_kind(error) == RedisErrorKind::Reply &&
           error.message.find("NOSCRIPT") != std::string::npos;
}

// EVP_EncodeBlock/EVP_DecodeBlock take int lengths; chunks keep any size safe and the buffers
// small. An encode chunk is a multiple of 3 bytes, so only the last one is padded.
constexpr std::size_t kEncodeChunk = 3 * 4096;
constexpr std::size_t kDecodeChunk = 4 * 4096;

std::string base64_encode(std::string_view bytes) {
    std::string out;
    out.reserve(4 * ((bytes.size() + 2) / 3));
    std::array<unsigned char, 4 * (kEncodeChunk / 3) + 1> buffer{};  // + NUL
    for (std::size_t at = 0; at < bytes.size(); at += kEncodeChunk) {
        const auto n = std::min(kEncodeChunk, bytes.size() - at);
        const auto* in = reinterpret_cast<const unsigned char*>(bytes.data() + at);
        const int written = EVP_EncodeBlock(buffer.data(), in, static_cast<int>(n));
        out.append(reinterpret_cast<const char*>(buffer.data()), static_cast<std::size_t>(written));
    }
    return out;
}

bool is_base64_char(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

// Strict: EVP_DecodeBlock alone skips surrounding whitespace and does not say how much of the
// last block was padding.
std::optional<std::string> base64_decode(std::string_view text) {
    if (text.size() % 4 != 0) return std::nullopt;
    std::size_t padding = 0;
    while (padding < 2 && padding < text.size() && text[text.size() - 1 - padding] == '=') ++padding;
    const auto digits = text.substr(0, text.size() - padding);
    if (!std::all_of(digits.begin(), digits.end(), is_base64_char)) return std::nullopt;
    std::string out;
    out.reserve(text.size() / 4 * 3);
    std::array<unsigned char, 3 * (kDecodeChunk / 4)> buffer{};
    for (std::size_t at = 0; at < text.size(); at += kDecodeChunk) {
        const auto n = std::min(kDecodeChunk, text.size() - at);
        const auto* in = reinterpret_cast<const unsigned char*>(text.data() + at);
        const int written = EVP_DecodeBlock(buffer.data(), in, static_cast<int>(n));
        if (written < 0) return std::nullopt;
        out.append(reinterpret_cast<const char*>(buffer.data()), static_cast<std::size_t>(written));
    }
    out.resize(out.size() - padding);
    return out;
}

// Well-formed UTF-8 (no overlong forms, surrogates or code points above U+10FFFF): what a JSON
// string can carry without the serialiser replacing bytes.
bool is_utf8(std::string_view text) {
    std::size_t i = 0;
    while (i < text.size()) {
        const auto lead = static_cast<unsigned char>(text[i]);
        if (lead < 0x80) {
            ++i;
            continue;
        }
        // The continuation bytes that may follow: the first one's range excludes what is
        // overlong, a surrogate or beyond U+10FFFF.
        std::size_t extra = 0;
        unsigned char low = 0x80;
        unsigned char high = 0xBF;
        if (lead >= 0xC2 && lead <= 0xDF) {
            extra = 1;
        } else if (lead >= 0xE0 && lead <= 0xEF) {
            extra = 2;
            if (lead == 0xE0) low = 0xA0;
            if (lead == 0xED) high = 0x9F;
        } else if (lead >= 0xF0 && lead <= 0xF4) {
            extra = 3;
            if (lead == 0xF0) low = 0x90;
            if (lead == 0xF4) high = 0x8F;
        } else {
            return false;
        }
        if (i + extra >= text.size()) return false;
        for (std::size_t k = 1; k <= extra; ++k) {
            const auto next = static_cast<unsigned char>(text[i + k]);
            if (next < low || next > high) return false;
            low = 0x80;
            high = 0xBF;
        }
        i += extra + 1;
    }
    return true;
}

// Text that is usually readable but may hold any bytes (a source id from a Kafka header, say).
json text_to_json(const std::string& text) {
    if (is_utf8(text)) return text;
    return json{{"base64", base64_encode(text)}};
}

// Throws json::exception on a shape that is not ours; decode_parked turns that into an Error.
std::string text_from_json(const json& value, const char* field) {
    if (value.is_string()) return value.get<std::string>();
    auto bytes = base64_decode(value.at("base64").get<std::string>());
    if (!bytes) throw std::runtime_error(std::string(field) + ": invalid base64");
    return std::move(bytes).value();
}

std::string bytes_from_json(const json& value, const char* field) {
    auto bytes = base64_decode(value.get<std::string>());
    if (!bytes) throw std::runtime_error(std::string(field) + ": invalid base64");
    return std::move(bytes).value();
}

// The version of the parked-event document, so a later change of shape can still read these.
constexpr int kParkedFormat = 1;
// The version of a dead-letter index entry's "record" document.
constexpr int kRecordFormat = 1;

// A Kafka record with every byte kept: key, value and header values base64, the rest as text.
json record_to_json(const InboundRecord& r) {
    json headers = json::array();
    for (const auto& header : r.headers) {
        headers.push_back(
            {{"name", text_to_json(header.name)}, {"value", base64_encode(header.value)}});
    }
    return {
        {"topic", text_to_json(r.topic)},
        {"partition", r.partition},
        {"offset", r.offset},
        {"timestamp_ms", r.timestamp_ms},
        {"key", r.key ? json(base64_encode(*r.key)) : json(nullptr)},
        {"value", base64_encode(r.value)},
        {"headers", std::move(headers)},
    };
}

// Throws json::exception or std::runtime_error on a shape that is not ours; callers turn that
// into an Error.
InboundRecord record_from_json(const json& record) {
    InboundRecord r;
    r.topic = text_from_json(record.at("topic"), "topic");
    r.partition = record.at("partition").get<std::int32_t>();
    r.offset = record.at("offset").get<std::int64_t>();
    r.timestamp_ms = record.at("timestamp_ms").get<std::int64_t>();
    if (const auto& key = record.at("key"); !key.is_null()) r.key = bytes_from_json(key, "key");
    r.value = bytes_from_json(record.at("value"), "value");
    if (!record.at("headers").is_array()) throw std::runtime_error("headers is not an array");
    for (const auto& header : record.at("headers")) {
        r.headers.push_back({text_from_json(header.at("name"), "header name"),
                             bytes_from_json(header.at("value"), "header value")});
    }
    return r;
}

std::size_t record_bytes(const InboundRecord& r) {
    std::size_t n = r.value.size() + (r.key ? r.key->size() : 0);
    for (const auto& header : r.headers) n += header.name.size() + header.value.size();
    return n;
}

// Like decode_entries, but an entry whose "json" cannot be decoded is kept with decode_error:
// one damaged entry must not hide every other dead letter from an operator.
Result<std::vector<StreamEntry>> decode_entries_lenient(const redisReply& reply, const std::string& key) {
    if (reply.type != REDIS_REPLY_ARRAY) return unexpected_reply("stream " + key, reply);
    std::vector<StreamEntry> entries;
    entries.reserve(reply.elements);
    for (std::size_t i = 0; i < reply.elements; ++i) {
        const auto& item = *reply.element[i];
        if (item.type != REDIS_REPLY_ARRAY || item.elements != 2 ||
            item.element[1]->type != REDIS_REPLY_ARRAY) {
            return unexpected_reply("stream entry of " + key, item);
        }
        StreamEntry entry;
        entry.id = text_of(*item.element[0]);
        const auto& fields = *item.element[1];
        for (std::size_t f = 0; f + 1 < fields.elements; f += 2) {
            entry.fields.emplace(text_of(*fields.element[f]), text_of(*fields.element[f + 1]));
        }
        if (const auto it = entry.fields.find("json"); it != entry.fields.end()) {
            auto record = decode_record(it->second, key + " " + entry.id);
            if (record) {
                entry.record = std::move(record).value();
            } else {
                entry.decode_error = record.error().message;
            }
        } else {
            entry.decode_error = "the entry has no json field";
        }
        entries.push_back(std::move(entry));
    }
    return entries;
}

}  // namespace

std::string_view stats_counter(const OutcomeRecord& record) {
    switch (record.status) {
        case OutcomeStatus::Skipped: return "skipped";
        case OutcomeStatus::DeadLettered: return "dead_lettered";
        case OutcomeStatus::Warning: return "warnings";
        case OutcomeStatus::Applied: break;
    }
    switch (record.action) {
        case Action::Create: return "created";
        case Action::Update: return "updated";
        case Action::Disable: return "disabled";
        case Action::Delete: return "deleted";
        case Action::Link: return "linked";
        case Action::ScheduledDelete: return "scheduled_deletes";
        case Action::None: break;
    }
    return "applied_other";
}

std::string outcome_key(const KeyScheme& keys, const OutcomeRecord& record) {
    const auto app = app_or_invalid(record.app);
    if (record.dry_run) {
        if (!record.event_id.empty()) return keys.event(app, record.source, KeyScheme::dry_run_name(record.event_id));
        return keys.invalid_record(app, KeyScheme::dry_run_name(record.topic), record.partition, record.offset);
    }
    if (!record.event_id.empty()) return keys.event(app, record.source, record.event_id);
    return keys.invalid_record(app, record.topic, record.partition, record.offset);
}


std::string encode_parked(const ParkedEvent& event) {
    json trail = json::array();
    for (const auto& failure : event.trail) {
        trail.push_back({{"at_ms", failure.at_ms},
                         {"code", text_to_json(failure.code)},
                         {"http_status", failure.http_status},
                         {"detail", text_to_json(failure.detail)}});
    }
    json doc = {
        {"format", kParkedFormat},
        {"app", text_to_json(event.app)},
        {"object_type", std::string(to_string(event.object_type))},
        {"object_id", text_to_json(event.object_id)},
        {"source", text_to_json(event.source)},
        {"event_id", text_to_json(event.event_id)},
        {"attempts", event.attempts},
        {"parked_at_ms", event.parked_at_ms},
        {"first_failure_ms", event.first_failure_ms},
        {"trail", std::move(trail)},
        {"record", record_to_json(event.record)},
    };
    // Only when set, so that what is parked without the deletion threshold reads as before.
    if (event.deletion.mark != DeletionMark::None) {
        doc["deletion"] = {{"mark", std::string(to_string(event.deletion.mark))},
                           {"action", std::string(to_string(event.deletion.action))},
                           {"staged_at_ms", event.deletion.staged_at_ms}};
    }
    return dump(doc);
}

namespace {

// A stored document of ours: JSON, an object, of the expected format version. `what` names it in
// the error ("parked event", "stored record").
Result<json> parse_stored(std::string_view text, std::string_view what, std::string_view where, int format) {
    const auto corrupt = [&](const std::string& why) {
        return make_error("corrupt " + std::string(what) + " at " + std::string(where) + ": " + why,
                          ErrorKind::Permanent);
    };
    auto parsed = parse_json(text);
    if (!parsed) return corrupt(parsed.error().message);
    if (!parsed->is_object()) return corrupt("not an object");
    const auto found = parsed->find("format");
    if (found == parsed->end() || !found->is_number_integer() || found->get<int>() != format) {
        return corrupt("unknown format " + (found == parsed->end() ? std::string("(none)") : found->dump()));
    }
    return std::move(parsed).value();
}

}  // namespace

Result<ParkedEvent> decode_parked(std::string_view text, std::string_view where) {
    const auto corrupt = [&](const std::string& why) {
        return make_error("corrupt parked event at " + std::string(where) + ": " + why,
                          ErrorKind::Permanent);
    };
    auto parsed = parse_stored(text, "parked event", where, kParkedFormat);
    if (!parsed) return parsed.error();
    const auto& doc = *parsed;
    // Stored data must not turn into an exception on the hot path: every odd shape that
    // nlohmann throws on (a missing field, a string where a number belongs) ends here.
    try {
        ParkedEvent event;
        event.app = text_from_json(doc.at("app"), "app");
        const auto type = object_type_from_string(doc.at("object_type").get<std::string>());
        if (!type) return corrupt("unknown object type " + doc.at("object_type").dump());
        event.object_type = *type;
        event.object_id = text_from_json(doc.at("object_id"), "object_id");
        event.source = text_from_json(doc.at("source"), "source");
        event.event_id = text_from_json(doc.at("event_id"), "event_id");
        event.attempts = doc.at("attempts").get<int>();
        event.parked_at_ms = doc.at("parked_at_ms").get<std::int64_t>();
        event.first_failure_ms = doc.at("first_failure_ms").get<std::int64_t>();
        if (!doc.at("trail").is_array()) return corrupt("trail is not an array");
        for (const auto& failure : doc.at("trail")) {
            AttemptFailure f;
            f.at_ms = failure.at("at_ms").get<std::int64_t>();
            f.code = text_from_json(failure.at("code"), "trail code");
            f.http_status = failure.at("http_status").get<long>();
            f.detail = text_from_json(failure.at("detail"), "trail detail");
            event.trail.push_back(std::move(f));
        }
        event.record = record_from_json(doc.at("record"));
        if (const auto held = doc.find("deletion"); held != doc.end()) {
            const auto mark = deletion_mark_from_string(held->at("mark").get<std::string>());
            const auto action = action_from_string(held->at("action").get<std::string>());
            if (!mark || !action) return corrupt("unknown deletion hold " + held->dump());
            event.deletion = DeletionHold{*mark, *action, held->at("staged_at_ms").get<std::int64_t>()};
        }
        return event;
    } catch (const std::exception& e) {
        return corrupt(e.what());
    }
}

std::string encode_record(const InboundRecord& record) {
    json doc = record_to_json(record);
    doc["format"] = kRecordFormat;
    return dump(doc);
}

Result<InboundRecord> decode_record_bytes(std::string_view text, std::string_view where) {
    auto parsed = parse_stored(text, "stored record", where, kRecordFormat);
    if (!parsed) return parsed.error();
    try {
        return record_from_json(*parsed);
    } catch (const std::exception& e) {
        return make_error("corrupt stored record at " + std::string(where) + ": " + e.what(), ErrorKind::Permanent);
    }
}

bool is_stream_id(std::string_view text) {
    const auto dash = text.find('-');
    if (dash == std::string_view::npos) return false;
    const auto ms = text.substr(0, dash);
    const auto seq = text.substr(dash + 1);
    std::uint64_t value = 0;
    const auto digits = [&](std::string_view part) {
        if (part.empty() || part.size() > 20) return false;
        const auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), value);
        return ec == std::errc() && end == part.data() + part.size();
    };
    return digits(ms) && digits(seq);
}

std::optional<std::int64_t> stream_id_ms(std::string_view id) {
    if (!is_stream_id(id)) return std::nullopt;
    return to_int64(id.substr(0, id.find('-')));
}

Result<std::optional<InboundRecord>> original_record(const StreamEntry& entry) {
    const auto it = entry.fields.find("record");
    if (it == entry.fields.end()) return std::optional<InboundRecord>();
    auto record = decode_record_bytes(it->second, "dead-letter entry " + entry.id);
    if (!record) return record.error();
    return std::optional<InboundRecord>(std::move(record).value());
}

// ---------------------------------------------------------------------------------------------

RedisStateStore::RedisStateStore(RedisOptions options, KeyScheme keys,
                                 std::chrono::seconds dedupe_ttl, std::int64_t log_max_entries,
                                 const Clock& clock)
    : connection_(std::move(options)),
      keys_(std::move(keys)),
      dedupe_ttl_(dedupe_ttl),
      log_max_entries_(log_max_entries),
      clock_(clock),
      commit_script_{"commit", kCommitScript, {}},
      park_script_{"park", kParkScript, {}},
      claim_script_{"claim", kClaimScript, {}},
      reschedule_script_{"reschedule", kRescheduleScript, {}},
      stage_script_{"stage", kStageScript, {}},
      admit_script_{"admit deletion", kAdmitScript, {}},
      drop_scheduled_script_{"drop scheduled", kDropScheduledScript, {}} {
    if (dedupe_ttl_.count() <= 0) throw std::invalid_argument("redis dedupe TTL must be positive");
    if (log_max_entries_ <= 0) throw std::invalid_argument("redis log cap must be positive");
    for (auto* script :
         {&commit_script_, &park_script_, &claim_script_, &reschedule_script_, &stage_script_, &admit_script_,
          &drop_scheduled_script_}) {
        auto sha = connection_.command({"SCRIPT", "LOAD", std::string(script->source)});
        if (!sha) {
            throw std::runtime_error("cannot load the " + std::string(script->name) +
                                     " script into Redis at " + connection_.endpoint() + ": " +
                                     sha.error().message);
        }
        if ((*sha)->type != REDIS_REPLY_STRING) {
            throw std::runtime_error("unexpected reply to SCRIPT LOAD from Redis at " +
                                     connection_.endpoint());
        }
        script->sha = text_of(**sha);
    }
}

Result<RedisReplyPtr> RedisStateStore::run(const Script& script, RedisArgv& argv) {
    argv[0] = "EVALSHA";
    argv[1] = script.sha;
    auto reply = connection_.command(argv);
    if (!reply && is_noscript(reply.error())) {
        // The server lost its script cache (restart, failover, SCRIPT FLUSH). EVAL runs the
        // script and caches it again under the same sha, so later calls go back to EVALSHA.
        argv[0] = "EVAL";
        argv[1] = std::string(script.source);
        reply = connection_.command(argv);
    }
    return reply;
}

Result<PriorState> RedisStateStore::load(const Event& event) {
    const auto event_key = keys_.event(event.app, event.source, event.id);
    const auto link_key = keys_.link(event.app, event.object_type, event.object_id);
    const auto queue_key = keys_.queue(event.app, event.object_type, event.object_id);
    const auto parked_key = keys_.parked(event.app);
    // One round trip: whether the object is parked is always asked with the rest, so nothing
    // decides on a state that a waiting head is about to change.
    connection_.append({"GET", event_key});
    connection_.append({"HGETALL", link_key});
    connection_.append({"EXISTS", queue_key});
    connection_.append({"HEXISTS", parked_key, event_key});
    auto replies = connection_.get_replies();
    if (!replies) return replies.error();

    PriorState prior;
    auto recorded = decode_outcome(*(*replies)[0], event_key);
    if (!recorded) return recorded.error();
    prior.recorded = std::move(recorded).value();
    auto link = decode_link(*(*replies)[1], link_key);
    if (!link) return link.error();
    prior.link = std::move(link).value();
    const auto& queued = *(*replies)[2];
    if (queued.type != REDIS_REPLY_INTEGER) return unexpected_reply("EXISTS " + queue_key, queued);
    prior.object_queued = queued.integer > 0;
    const auto& parked = *(*replies)[3];
    if (parked.type != REDIS_REPLY_INTEGER) return unexpected_reply("HEXISTS " + parked_key, parked);
    prior.event_parked = parked.integer > 0;
    return prior;
}

Result<std::optional<OutcomeRecord>> RedisStateStore::load_invalid(const std::string& app,
                                                                   const std::string& topic,
                                                                   std::int32_t partition,
                                                                   std::int64_t offset) {
    const auto key = keys_.invalid_record(app_or_invalid(app), topic, partition, offset);
    connection_.append({"GET", key});
    auto replies = connection_.get_replies();
    if (!replies) return replies.error();
    return decode_outcome(*replies->front(), key);
}

Result<std::optional<LinkState>> RedisStateStore::load_link(const std::string& app, ObjectType type,
                                                            const std::string& source_id) {
    const auto key = keys_.link(app_or_invalid(app), type, source_id);
    auto reply = connection_.command({"HGETALL", key});
    if (!reply) return reply.error();
    return decode_link(**reply, key);
}

Result<std::optional<std::string>> RedisStateStore::load_owner(const std::string& app, ObjectType type,
                                                              const std::string& scim_id) {
    auto reply = connection_.command({"GET", keys_.owner(app_or_invalid(app), type, scim_id)});
    if (!reply) return reply.error();
    const auto& r = **reply;
    if (r.type == REDIS_REPLY_NIL) return std::optional<std::string>{};
    if (r.type != REDIS_REPLY_STRING) return unexpected_reply("GET owner", r);
    return std::optional<std::string>(text_of(r));
}

Result<CommitStatus> RedisStateStore::commit(const Commit& commit) {
    const auto& record = commit.record;
    const auto app = app_or_invalid(record.app);
    const auto record_key = outcome_key(keys_, record);
    if (record.dry_run && (commit.link || commit.dead_letter || commit.head || !commit.replay_of.empty())) {
        // A dry run records what it decided and nothing else: a link or queue change would be real.
        return make_error("a dry-run commit of event '" + record.event_id + "' carries a link, queue or dead-letter change",
                          ErrorKind::Permanent);
    }
    if (commit.head) {
        // The script pops the head by its event key (the outcome key); a commit of some other
        // event would leave the head's parked entry behind.
        const auto& head = *commit.head;
        if (record.event_id.empty() || head.app != record.app ||
            record.object_type != to_string(head.object_type) ||
            record.object_id != head.object_id) {
            return make_error("commit of event '" + record.event_id +
                                  "' names the head of another object (" + head.app + "/" +
                                  KeyScheme::queue_member(head.object_type, head.object_id) + ")",
                              ErrorKind::Permanent);
        }
    }

    std::string link_key = record_key;
    std::string owner_key = record_key;
    std::string owner;
    if (commit.link) {
        const auto type = object_type_from_string(record.object_type);
        if (!type) {
            return make_error("cannot write the link of event '" + record.event_id +
                              "': unknown object type '" + record.object_type + "'");
        }
        link_key = keys_.link(app, *type, record.object_id);
        if (!commit.link->scim_id.empty()) {
            owner_key = keys_.owner(app, *type, commit.link->scim_id);
            owner = record.object_id;
        }
    }

    const auto record_json = dump(to_json(record));
    const auto cap = std::to_string(log_max_entries_);

    RedisArgv argv;
    argv.reserve(72);
    const auto now_ms = clock_.wall_ms();
    argv.insert(argv.end(), {"", "", "12", record_key, link_key, keys_.log(app), keys_.stats(app),
                             keys_.dead_letters(app), owner_key});
    if (commit.head) {
        const auto& head = *commit.head;
        argv.insert(argv.end(), {keys_.queue(app, head.object_type, head.object_id), keys_.due(app),
                                 keys_.parked(app), keys_.leases(app)});
    } else {
        argv.insert(argv.end(), {record_key, record_key, record_key, record_key});
    }
    argv.push_back(keys_.minute(app, now_ms / 60000));
    argv.push_back(keys_.linked(app));
    argv.insert(argv.end(), {record_json, std::to_string(dedupe_ttl_.count()), cap});
    if (commit.link) {
        argv.insert(argv.end(), {"1", commit.link->scim_id, std::to_string(commit.link->version),
                                 std::string(to_string(commit.link->status)),
                                 dump(commit.link->applied),
                                 commit.link->assigned_role ? dump(json(*commit.link->assigned_role)) : "null",
                                 dump(commit.link->snapshot)});
    } else {
        argv.insert(argv.end(), {"0", "", "", "", "", "", ""});
    }
    argv.push_back(commit.dead_letter ? "1" : "0");
    // The app's totals count what was done to it; a dry run's decisions are counted beside them.
    argv.emplace_back(record.dry_run ? "dry_run_" + std::string(stats_counter(record)) : std::string(stats_counter(record)));
    argv.push_back(owner);
    if (commit.head) {
        const auto& head = *commit.head;
        argv.insert(argv.end(), {"1", KeyScheme::queue_member(head.object_type, head.object_id),
                                 head.token, std::to_string(clock_.wall_ms())});
    } else {
        argv.insert(argv.end(), {"0", "", "", ""});
    }
    // Only a well-formed id reaches XDEL: the header is any text a producer put there, and an
    // id Redis refuses would fail the whole commit (and stop the worker) on every redelivery.
    argv.push_back(is_stream_id(commit.replay_of) ? commit.replay_of : std::string());
    // From the directory's change (the record's time) to its outcome: what an operator waits.
    const std::int64_t latency =
        record.produced_at_ms > 0 ? std::max<std::int64_t>(0, now_ms - record.produced_at_ms) : record.duration_ms;
    argv.push_back(std::string(latency_bucket_field(latency)));
    argv.push_back(std::to_string(latency));
    argv.push_back(std::to_string(kMinuteCountersTtl.count()));
    argv.push_back(log_max_age_.count() > 0
                       ? std::to_string(std::max<std::int64_t>(0, now_ms - log_max_age_.count())) + "-0"
                       : std::string());
    argv.push_back(std::to_string(now_ms));
    // A dry run's success says nothing about the app's last real success.
    argv.push_back(record.status == OutcomeStatus::Applied && !record.dry_run ? "1" : "0");

    const auto log_fields = log_entry(record, app, record_json, now_ms);
    argv.push_back(std::to_string(log_fields.size()));
    argv.insert(argv.end(), log_fields.begin(), log_fields.end());
    if (commit.dead_letter) {
        argv.insert(argv.end(), {"event_id", record.event_id, "app", app, "reason", record.reason,
                                 "code", record.code, "topic", record.topic, "partition",
                                 std::to_string(record.partition), "offset",
                                 std::to_string(record.offset), "json", record_json});
        if (commit.original) {
            // Kept whole for replay, within a bound: the index is never trimmed.
            const auto size = record_bytes(*commit.original);
            if (size <= kMaxIndexedRecordBytes) {
                argv.insert(argv.end(), {"record", encode_record(*commit.original)});
            } else {
                argv.insert(argv.end(), {"record_omitted", std::to_string(size)});
            }
        }
    }

    auto reply = run(commit_script_, argv);
    if (!reply) return reply.error();
    const auto& result = **reply;
    if (result.type != REDIS_REPLY_INTEGER) return unexpected_reply("commit script", result);
    switch (result.integer) {
        case 0: return CommitStatus::AlreadyRecorded;
        case 1: return CommitStatus::Recorded;
        case 2: return CommitStatus::RecordedLinkKept;
        case 3: return CommitStatus::LeaseLost;
        default: return unexpected_reply("commit script", result);
    }
}

Result<bool> RedisStateStore::count_duplicate(const std::string& app) {
    auto reply = connection_.command({"HINCRBY", keys_.stats(app_or_invalid(app)), "duplicates", "1"});
    if (!reply) return reply.error();
    return true;
}

namespace {

// Every reply of a pipeline must be of the expected type; an error reply is the store failing.
std::optional<Error> check_replies(const std::vector<RedisReplyPtr>& replies, const std::string& what) {
    for (const auto& reply : replies) {
        if (reply->type == REDIS_REPLY_ERROR) return make_error(what + ": " + text_of(*reply));
    }
    return std::nullopt;
}

std::vector<std::string> strings_of(const redisReply& reply) {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < reply.elements; ++i) out.push_back(text_of(*reply.element[i]));
    return out;
}

}  // namespace

Result<bool> RedisStateStore::change_members(const std::string& app, const std::string& group,
                                             const std::vector<std::string>& added,
                                             const std::vector<std::string>& removed) {
    if (added.empty() && removed.empty()) return true;
    const auto members = keys_.members(app, group);
    // MULTI/EXEC: the set and the reverse index change together or not at all.
    connection_.append({"MULTI"});
    if (!added.empty()) {
        RedisArgv add{"SADD", members};
        add.insert(add.end(), added.begin(), added.end());
        connection_.append(std::move(add));
        for (const auto& user : added) connection_.append({"SADD", keys_.member_of(app, user), group});
    }
    if (!removed.empty()) {
        RedisArgv remove{"SREM", members};
        remove.insert(remove.end(), removed.begin(), removed.end());
        connection_.append(std::move(remove));
        for (const auto& user : removed) connection_.append({"SREM", keys_.member_of(app, user), group});
    }
    connection_.append({"EXEC"});
    auto replies = connection_.get_replies();
    if (!replies) return replies.error();
    if (auto error = check_replies(*replies, "changing the members of " + members)) return *error;
    if (replies->back()->type != REDIS_REPLY_ARRAY) return unexpected_reply("EXEC " + members, *replies->back());
    return true;
}

Result<GroupMembership> RedisStateStore::load_membership(const std::string& app, const std::string& group) {
    const auto members = keys_.members(app, group);
    const auto applied = keys_.applied_members(app, group);
    connection_.append({"SMEMBERS", members});
    connection_.append({"HGETALL", applied});
    auto replies = connection_.get_replies();
    if (!replies) return replies.error();
    const auto& listed = *(*replies)[0];
    const auto& sent = *(*replies)[1];
    if (listed.type != REDIS_REPLY_ARRAY) return unexpected_reply("SMEMBERS " + members, listed);
    if (sent.type != REDIS_REPLY_ARRAY) return unexpected_reply("HGETALL " + applied, sent);
    GroupMembership out;
    out.members = strings_of(listed);
    std::sort(out.members.begin(), out.members.end());
    for (std::size_t i = 0; i + 1 < sent.elements; i += 2) {
        out.applied[text_of(*sent.element[i])] = text_of(*sent.element[i + 1]);
    }
    return out;
}

Result<bool> RedisStateStore::record_applied(const std::string& app, const std::string& group,
                                             const std::vector<std::pair<std::string, std::string>>& added,
                                             const std::vector<std::string>& removed) {
    if (added.empty() && removed.empty()) return true;
    const auto applied = keys_.applied_members(app, group);
    if (!added.empty()) {
        RedisArgv set{"HSET", applied};
        for (const auto& [user, target_id] : added) {
            set.push_back(user);
            set.push_back(target_id);
        }
        connection_.append(std::move(set));
    }
    if (!removed.empty()) {
        RedisArgv del{"HDEL", applied};
        del.insert(del.end(), removed.begin(), removed.end());
        connection_.append(std::move(del));
    }
    auto replies = connection_.get_replies();
    if (!replies) return replies.error();
    if (auto error = check_replies(*replies, "recording the members of " + applied)) return *error;
    return true;
}

Result<bool> RedisStateStore::forget_applied(const std::string& app, const std::string& group) {
    auto reply = connection_.command({"DEL", keys_.applied_members(app, group)});
    if (!reply) return reply.error();
    return true;
}

Result<std::vector<std::string>> RedisStateStore::groups_of(const std::string& app, const std::string& user) {
    const auto key = keys_.member_of(app, user);
    auto reply = connection_.command({"SMEMBERS", key});
    if (!reply) return reply.error();
    if ((*reply)->type != REDIS_REPLY_ARRAY) return unexpected_reply("SMEMBERS " + key, **reply);
    auto groups = strings_of(**reply);
    std::sort(groups.begin(), groups.end());
    return groups;
}

Result<bool> RedisStateStore::set_group_assignment(const std::string& app, const std::string& group,
                                                  const std::optional<std::string>& role) {
    const auto key = keys_.assigned_groups(app);
    auto reply = role ? connection_.command({"HSET", key, group, *role}) : connection_.command({"HDEL", key, group});
    if (!reply) return reply.error();
    if ((*reply)->type != REDIS_REPLY_INTEGER) return unexpected_reply((role ? "HSET " : "HDEL ") + key, **reply);
    return true;
}

Result<std::optional<std::string>> RedisStateStore::group_assignment(const std::string& app, const std::string& group) {
    const auto key = keys_.assigned_groups(app);
    auto reply = connection_.command({"HGET", key, group});
    if (!reply) return reply.error();
    if ((*reply)->type == REDIS_REPLY_NIL) return std::optional<std::string>();
    if ((*reply)->type != REDIS_REPLY_STRING) return unexpected_reply("HGET " + key, **reply);
    return std::optional<std::string>(text_of(**reply));
}

Result<std::vector<GroupGrant>> RedisStateStore::group_grants(const std::string& app, const std::string& user) {
    auto groups = groups_of(app, user);
    if (!groups) return groups.error();
    std::vector<GroupGrant> out;
    if (groups->empty()) return out;
    const auto key = keys_.assigned_groups(app);
    RedisArgv argv{"HMGET", key};
    argv.insert(argv.end(), groups->begin(), groups->end());
    auto reply = connection_.command(argv);
    if (!reply) return reply.error();
    const auto& roles = **reply;
    if (roles.type != REDIS_REPLY_ARRAY || roles.elements != groups->size()) return unexpected_reply("HMGET " + key, roles);
    for (std::size_t i = 0; i < roles.elements; ++i) {
        if (roles.element[i]->type == REDIS_REPLY_STRING) out.push_back({(*groups)[i], text_of(*roles.element[i])});
    }
    return out;
}

Result<bool> RedisStateStore::add_pending_reference(const std::string& app, const std::string& referenced,
                                                   const std::string& referrer, std::int64_t since_ms) {
    const auto key = keys_.pending_references(app, referenced);
    auto reply = connection_.command({"HSETNX", key, referrer, std::to_string(since_ms)});
    if (!reply) return reply.error();
    if ((*reply)->type != REDIS_REPLY_INTEGER) return unexpected_reply("HSETNX " + key, **reply);
    return true;
}

Result<std::map<std::string, std::int64_t>> RedisStateStore::pending_references(const std::string& app,
                                                                                const std::string& referenced) {
    const auto key = keys_.pending_references(app, referenced);
    auto reply = connection_.command({"HGETALL", key});
    if (!reply) return reply.error();
    const auto& r = **reply;
    if (r.type != REDIS_REPLY_ARRAY) return unexpected_reply("HGETALL " + key, r);
    std::map<std::string, std::int64_t> out;
    for (std::size_t i = 0; i + 1 < r.elements; i += 2) {
        const auto since = to_int64(text_of(*r.element[i + 1]));
        out[text_of(*r.element[i])] = since.value_or(0);
    }
    return out;
}

Result<bool> RedisStateStore::drop_pending_references(const std::string& app, const std::string& referenced,
                                                     const std::vector<std::string>& referrers) {
    if (referrers.empty()) return true;
    const auto key = keys_.pending_references(app, referenced);
    RedisArgv argv{"HDEL", key};
    argv.insert(argv.end(), referrers.begin(), referrers.end());
    auto reply = connection_.command(argv);
    if (!reply) return reply.error();
    if ((*reply)->type != REDIS_REPLY_INTEGER) return unexpected_reply("HDEL " + key, **reply);
    return true;
}

namespace {

std::string deadline_member(ObjectType type, const std::string& id) { return std::string(to_string(type)) + ":" + id; }

}  // namespace

Result<bool> RedisStateStore::arm_reference_deadline(const std::string& app, ObjectType type, const std::string& id,
                                                    std::int64_t due_ms) {
    const auto key = keys_.reference_deadlines(app);
    auto reply = connection_.command({"ZADD", key, "NX", std::to_string(due_ms), deadline_member(type, id)});
    if (!reply) return reply.error();
    if ((*reply)->type != REDIS_REPLY_INTEGER) return unexpected_reply("ZADD " + key, **reply);
    return (*reply)->integer == 1;
}

Result<std::vector<ReferenceDeadline>> RedisStateStore::due_reference_deadlines(const std::string& app,
                                                                                std::int64_t now_ms, std::size_t max) {
    const auto key = keys_.reference_deadlines(app);
    auto reply = connection_.command(
        {"ZRANGEBYSCORE", key, "-inf", std::to_string(now_ms), "WITHSCORES", "LIMIT", "0", std::to_string(max)});
    if (!reply) return reply.error();
    const auto& r = **reply;
    if (r.type != REDIS_REPLY_ARRAY) return unexpected_reply("ZRANGEBYSCORE " + key, r);
    std::vector<ReferenceDeadline> out;
    RedisArgv corrupt{"ZREM", key};
    for (std::size_t i = 0; i + 1 < r.elements; i += 2) {
        const auto member = text_of(*r.element[i]);
        const auto colon = member.find(':');
        const auto type = colon == std::string::npos ? std::nullopt : object_type_from_string(member.substr(0, colon));
        const auto due = to_int64(text_of(*r.element[i + 1]));
        if (!type || !due) {
            // Names no object: nothing can be checked for it, and it must not stop the sweep.
            corrupt.push_back(member);
            continue;
        }
        out.push_back({*type, member.substr(colon + 1), *due});
    }
    if (corrupt.size() > 2) {
        spdlog::warn("dropping {} unreadable reference deadline(s) from {}", corrupt.size() - 2, key);
        auto dropped = connection_.command(corrupt);
        if (!dropped) return dropped.error();
    }
    return out;
}

Result<bool> RedisStateStore::drop_reference_deadline(const std::string& app, const ReferenceDeadline& deadline) {
    const auto key = keys_.reference_deadlines(app);
    auto reply = connection_.command({"ZREM", key, deadline_member(deadline.type, deadline.id)});
    if (!reply) return reply.error();
    if ((*reply)->type != REDIS_REPLY_INTEGER) return unexpected_reply("ZREM " + key, **reply);
    return true;
}

Result<bool> RedisStateStore::schedule_hard_delete(const std::string& app, const std::string& user_id,
                                                  std::int64_t due_ms) {
    const auto key = keys_.hard_deletes(app);
    // A new deletion is a new schedule: an operator's discard of an earlier one does not carry over.
    auto cleared = connection_.command({"HDEL", keys_.hard_deletes_discarded(app), user_id});
    if (!cleared) return cleared.error();
    auto reply = connection_.command({"ZADD", key, std::to_string(due_ms), user_id});
    if (!reply) return reply.error();
    if ((*reply)->type != REDIS_REPLY_INTEGER) return unexpected_reply("ZADD " + key, **reply);
    return true;
}

Result<std::vector<ScheduledHardDelete>> RedisStateStore::due_hard_deletes(const std::string& app, std::int64_t now_ms,
                                                                           std::size_t max) {
    const auto key = keys_.hard_deletes(app);
    auto reply = connection_.command(
        {"ZRANGEBYSCORE", key, "-inf", std::to_string(now_ms), "WITHSCORES", "LIMIT", "0", std::to_string(max)});
    if (!reply) return reply.error();
    const auto& r = **reply;
    if (r.type != REDIS_REPLY_ARRAY) return unexpected_reply("ZRANGEBYSCORE " + key, r);
    std::vector<ScheduledHardDelete> out;
    for (std::size_t i = 0; i + 1 < r.elements; i += 2) {
        const auto due = to_int64(text_of(*r.element[i + 1]));
        if (!due) return unexpected_reply("ZRANGEBYSCORE " + key + " (a score that is not a time)", r);
        out.push_back({text_of(*r.element[i]), *due});
    }
    if (out.empty()) return out;
    RedisArgv marks{"HMGET", keys_.hard_deletes_discarded(app)};
    for (const auto& s : out) marks.push_back(s.user_id);
    auto discarded = connection_.command(marks);
    if (!discarded) return discarded.error();
    const auto& d = **discarded;
    if (d.type != REDIS_REPLY_ARRAY || d.elements != out.size()) return unexpected_reply("HMGET discarded", d);
    for (std::size_t i = 0; i < out.size(); ++i) out[i].discarded = d.element[i]->type == REDIS_REPLY_STRING;
    return out;
}

Result<bool> RedisStateStore::cancel_hard_delete(const std::string& app, const std::string& user_id) {
    auto reply = connection_.command({"ZREM", keys_.hard_deletes(app), user_id});
    if (!reply) return reply.error();
    if ((*reply)->type != REDIS_REPLY_INTEGER) return unexpected_reply("ZREM " + keys_.hard_deletes(app), **reply);
    auto cleared = connection_.command({"HDEL", keys_.hard_deletes_discarded(app), user_id});
    if (!cleared) return cleared.error();
    return (*reply)->integer == 1;
}

Result<bool> RedisStateStore::drop_hard_delete(const std::string& app, const ScheduledHardDelete& scheduled) {
    RedisArgv argv = {"", "", "2", keys_.hard_deletes(app), keys_.hard_deletes_discarded(app), scheduled.user_id,
                      std::to_string(scheduled.due_ms)};
    auto reply = run(drop_scheduled_script_, argv);
    if (!reply) return reply.error();
    if ((**reply).type != REDIS_REPLY_INTEGER) return unexpected_reply("drop scheduled script", **reply);
    return (**reply).integer == 1;
}

Result<std::vector<std::optional<LinkState>>> RedisStateStore::load_user_links(const std::string& app,
                                                                               const std::vector<std::string>& users) {
    std::vector<std::optional<LinkState>> out;
    // In slices, so that one group of many thousands does not become one enormous reply.
    constexpr std::size_t kSlice = 500;
    for (std::size_t first = 0; first < users.size(); first += kSlice) {
        const std::size_t last = std::min(users.size(), first + kSlice);
        for (std::size_t i = first; i < last; ++i) connection_.append({"HGETALL", keys_.link(app, ObjectType::User, users[i])});
        auto replies = connection_.get_replies();
        if (!replies) return replies.error();
        for (std::size_t i = first; i < last; ++i) {
            auto link = decode_link(*(*replies)[i - first], keys_.link(app, ObjectType::User, users[i]));
            if (!link) return link.error();
            out.push_back(std::move(link).value());
        }
    }
    return out;
}

Result<ParkStatus> RedisStateStore::park(const ParkedEvent& event, ParkMode mode,
                                         std::int64_t due_ms) {
    return park_with(event, mode == ParkMode::Behind ? "1" : "0", due_ms, nullptr);
}

Result<ParkStatus> RedisStateStore::park_staged(const ParkedEvent& event, std::int64_t staged_ms,
                                                const OutcomeRecord& logged) {
    return park_with(event, "2", staged_ms, &logged);
}

Result<ParkStatus> RedisStateStore::park_with(const ParkedEvent& event, const char* mode_arg, std::int64_t due_ms,
                                              const OutcomeRecord* logged) {
    if (event.app.empty() || event.event_id.empty()) {
        return make_error("cannot park an event without an app and an id (event '" +
                              event.event_id + "')",
                          ErrorKind::Permanent);
    }
    const auto& app = event.app;
    RedisArgv argv = {"",
                      "",
                      "5",
                      keys_.queue(app, event.object_type, event.object_id),
                      keys_.due(app),
                      keys_.parked(app),
                      keys_.staged(app),
                      keys_.log(app),
                      keys_.event(app, event.source, event.event_id),
                      KeyScheme::queue_member(event.object_type, event.object_id),
                      encode_parked(event),
                      mode_arg,
                      std::to_string(due_ms)};
    if (logged != nullptr) {
        argv.push_back(std::to_string(log_max_entries_));
        const auto fields = log_entry(*logged, app, dump(to_json(*logged)), clock_.wall_ms());
        argv.insert(argv.end(), fields.begin(), fields.end());
    }
    auto reply = run(park_script_, argv);
    if (!reply) return reply.error();
    const auto& result = **reply;
    if (result.type != REDIS_REPLY_INTEGER) return unexpected_reply("park script", result);
    switch (result.integer) {
        case 0: return ParkStatus::Parked;
        case 1: return ParkStatus::AlreadyParked;
        case 2: return ParkStatus::NotQueued;
        default: return unexpected_reply("park script", result);
    }
}

Result<std::vector<ParkedEvent>> RedisStateStore::queued_behind(const std::string& app, ObjectType type,
                                                                const std::string& id) {
    const auto key = keys_.queue(app, type, id);
    auto reply = connection_.command({"LRANGE", key, "1", "-1"});
    if (!reply) return reply.error();
    const auto& r = **reply;
    if (r.type != REDIS_REPLY_ARRAY) return unexpected_reply("LRANGE queue", r);
    std::vector<ParkedEvent> out;
    for (std::size_t i = 0; i < r.elements; ++i) {
        // An entry that cannot be read offers no attributes; it is dealt with in its own turn.
        auto parked = decode_parked(text_of(*r.element[i]), key);
        if (parked) out.push_back(std::move(*parked));
    }
    return out;
}

Result<std::vector<ClaimedHead>> RedisStateStore::claim_due(const std::string& app,
                                                            std::int64_t now_ms,
                                                            std::chrono::milliseconds lease,
                                                            std::size_t max,
                                                            const std::string& owner) {
    if (max == 0) return std::vector<ClaimedHead>{};
    const auto until = now_ms + lease.count();
    RedisArgv argv = {"",
                      "",
                      "3",
                      keys_.due(app),
                      keys_.leases(app),
                      keys_.lease_sequence(app),
                      std::to_string(now_ms),
                      // Redis reads LIMIT as a signed 64-bit count.
                      std::to_string(std::min<std::uint64_t>(
                          max, static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))),
                      owner,
                      keys_.queue_prefix(app),
                      std::to_string(until)};
    auto reply = run(claim_script_, argv);
    if (!reply) return reply.error();
    const auto& result = **reply;
    if (result.type != REDIS_REPLY_ARRAY || result.elements % 3 != 0) {
        return unexpected_reply("claim script", result);
    }
    std::vector<ClaimedHead> claimed;
    claimed.reserve(result.elements / 3);
    for (std::size_t i = 0; i < result.elements; i += 3) {
        const auto member = text_of(*result.element[i]);
        const auto where = keys_.queue_prefix(app) + member;
        // Skipped, not fatal: one unreadable head must not stop every other object of the app.
        // It stays claimed, so it comes back when the lease runs out (see the header).
        const auto skip = [&](const std::string& why) {
            ++corrupt_heads_;
            last_corrupt_head_ =
                make_error("corrupt queue head at " + where + ": " + why, ErrorKind::Permanent);
        };
        const auto object = KeyScheme::parse_queue_member(member);
        if (!object) {
            skip("the member names no object");
            continue;
        }
        auto event = decode_parked(text_of(*result.element[i + 2]), where);
        if (!event) {
            skip(event.error().message);
            continue;
        }
        if (event->app != app || event->object_type != object->type ||
            event->object_id != object->source_id) {
            skip("the entry belongs to " + event->app + "/" +
                 KeyScheme::queue_member(event->object_type, event->object_id));
            continue;
        }
        ClaimedHead head;
        head.lease =
            HeadLease{app, object->type, object->source_id, text_of(*result.element[i + 1])};
        head.event = std::move(event).value();
        head.lease_until_ms = until;
        claimed.push_back(std::move(head));
    }
    return claimed;
}

Result<LeaseStatus> RedisStateStore::reschedule(const HeadLease& lease, const ParkedEvent& updated,
                                                std::int64_t due_ms) {
    if (updated.app != lease.app || updated.object_type != lease.object_type ||
        updated.object_id != lease.object_id) {
        return make_error("cannot reschedule event '" + updated.event_id + "' as the head of " +
                              lease.app + "/" +
                              KeyScheme::queue_member(lease.object_type, lease.object_id),
                          ErrorKind::Permanent);
    }
    RedisArgv argv = {"",
                      "",
                      "3",
                      keys_.queue(lease.app, lease.object_type, lease.object_id),
                      keys_.due(lease.app),
                      keys_.leases(lease.app),
                      KeyScheme::queue_member(lease.object_type, lease.object_id),
                      lease.token,
                      encode_parked(updated),
                      std::to_string(due_ms)};
    auto reply = run(reschedule_script_, argv);
    if (!reply) return reply.error();
    const auto& result = **reply;
    if (result.type != REDIS_REPLY_INTEGER) return unexpected_reply("reschedule script", result);
    switch (result.integer) {
        case 0: return LeaseStatus::Lost;
        case 1: return LeaseStatus::Held;
        default: return unexpected_reply("reschedule script", result);
    }
}

Result<LeaseStatus> RedisStateStore::stage(const HeadLease& lease, const ParkedEvent& updated,
                                           std::int64_t staged_ms, const OutcomeRecord& logged) {
    if (updated.app != lease.app || updated.object_type != lease.object_type ||
        updated.object_id != lease.object_id) {
        return make_error("cannot stage event '" + updated.event_id + "' as the head of " + lease.app + "/" +
                              KeyScheme::queue_member(lease.object_type, lease.object_id),
                          ErrorKind::Permanent);
    }
    RedisArgv argv = {"",
                      "",
                      "5",
                      keys_.queue(lease.app, lease.object_type, lease.object_id),
                      keys_.due(lease.app),
                      keys_.leases(lease.app),
                      keys_.staged(lease.app),
                      keys_.log(lease.app),
                      KeyScheme::queue_member(lease.object_type, lease.object_id),
                      lease.token,
                      encode_parked(updated),
                      std::to_string(staged_ms),
                      std::to_string(log_max_entries_)};
    const auto fields = log_entry(logged, lease.app, dump(to_json(logged)), clock_.wall_ms());
    argv.insert(argv.end(), fields.begin(), fields.end());
    auto reply = run(stage_script_, argv);
    if (!reply) return reply.error();
    const auto& result = **reply;
    if (result.type != REDIS_REPLY_INTEGER) return unexpected_reply("stage script", result);
    switch (result.integer) {
        case 0: return LeaseStatus::Lost;
        case 1: return LeaseStatus::Held;
        default: return unexpected_reply("stage script", result);
    }
}

Result<DeletionWindow> RedisStateStore::admit_deletion(const std::string& app, std::int64_t now_ms,
                                                       const DeletionThresholdConfig& threshold, bool allowed) {
    const auto buckets = transforms::window_buckets(threshold.window, now_ms);
    RedisArgv argv = {"",
                      "",
                      "",
                      keys_.deletions(app, buckets.current),
                      keys_.staged(app),
                      keys_.linked(app),
                      keys_.linked_complete(app)};
    for (std::int64_t b = buckets.first; b <= buckets.current; ++b) argv.push_back(keys_.deletions(app, b));
    argv[2] = std::to_string(argv.size() - 3);
    argv.insert(argv.end(), {std::to_string(threshold.max_operations), std::to_string(buckets.ttl_ms),
                             allowed ? "1" : "0", std::to_string(threshold.max_percent)});
    auto reply = run(admit_script_, argv);
    if (!reply) return reply.error();
    const auto& result = **reply;
    if (result.type != REDIS_REPLY_ARRAY || result.elements != 4) return unexpected_reply("admit script", result);
    for (std::size_t i = 0; i < 4; ++i) {
        if (result.element[i]->type != REDIS_REPLY_INTEGER) return unexpected_reply("admit script", result);
    }
    if (result.element[0]->integer == -1) {
        return make_error("the linked accounts of app " + app +
                              " are not counted yet (deletion_threshold.max_percent): a worker counts them once "
                              "when it starts",
                          ErrorKind::Transient);
    }
    DeletionWindow window;
    window.admission = result.element[0]->integer == 1 ? DeletionAdmission::Admitted : DeletionAdmission::Staged;
    window.counted = static_cast<std::int64_t>(result.element[1]->integer);
    window.staged = static_cast<std::int64_t>(result.element[2]->integer);
    window.linked = static_cast<std::int64_t>(result.element[3]->integer);
    return window;
}

Result<std::int64_t> RedisStateStore::count_linked(const std::string& app) {
    const auto linked = keys_.linked(app);
    const auto complete = keys_.linked_complete(app);
    auto done = connection_.command({"EXISTS", complete});
    if (!done) return done.error();
    if ((*done)->type != REDIS_REPLY_INTEGER) return unexpected_reply("EXISTS " + complete, **done);
    if ((*done)->integer == 0) {
        // Once per app and Redis: links written before the set was kept are found here. A link
        // present throughout the SCAN is returned by it; one written meanwhile is kept by the
        // commit script. Other workers may do the same at once: a page changes nothing twice.
        const auto pattern = keys_.link_pattern(app);
        std::string cursor = "0";
        do {
            auto page = connection_.command({"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"});
            if (!page) return page.error();
            const auto& r = **page;
            if (r.type != REDIS_REPLY_ARRAY || r.elements != 2 || r.element[0]->type != REDIS_REPLY_STRING ||
                r.element[1]->type != REDIS_REPLY_ARRAY) {
                return unexpected_reply("SCAN " + pattern, r);
            }
            cursor = text_of(*r.element[0]);
            const auto& found = *r.element[1];
            if (found.elements == 0) continue;
            RedisArgv argv = {"EVAL", std::string(kCountLinkedScript), std::to_string(found.elements + 1), linked};
            for (std::size_t i = 0; i < found.elements; ++i) argv.push_back(text_of(*found.element[i]));
            auto counted = connection_.command(argv);
            if (!counted) return counted.error();
            if ((*counted)->type != REDIS_REPLY_INTEGER) return unexpected_reply("count linked script", **counted);
        } while (cursor != "0");
        auto marked = connection_.command({"SET", complete, "1"});
        if (!marked) return marked.error();
    }
    auto size = connection_.command({"SCARD", linked});
    if (!size) return size.error();
    if ((*size)->type != REDIS_REPLY_INTEGER) return unexpected_reply("SCARD " + linked, **size);
    return static_cast<std::int64_t>((*size)->integer);
}

// ---------------------------------------------------------------------------------------------

RedisOffsetGapStore::RedisOffsetGapStore(RedisOptions options, KeyScheme keys, const Clock& clock,
                                         std::shared_ptr<spdlog::logger> log)
    : connection_(std::move(options)), keys_(std::move(keys)), clock_(clock), log_(std::move(log)) {
    if (!log_) throw std::invalid_argument("RedisOffsetGapStore needs a logger");
}

Result<OffsetGapRecord> RedisOffsetGapStore::record(const std::string& group, const TopicPartition& partition,
                                                    const OffsetGap& gap, std::int64_t detected_at_ms) {
    std::string doc = encode_new_offset_gap(group, partition, gap, detected_at_ms);
    doc.pop_back();  // the script adds the totals and closes the object
    const auto field = offset_gap_field(partition);
    // A gap is rare: EVAL each time rather than keeping a script loaded.
    auto reply = connection_.command({"EVAL", std::string(kOffsetGapScript), "1", keys_.offset_gaps(), field, doc,
                                      std::to_string(gap.lost), std::to_string(detected_at_ms)});
    if (!reply) return reply.error();
    const auto& result = **reply;
    if (result.type != REDIS_REPLY_STRING) return unexpected_reply("offset gap script", result);
    return decode_offset_gap(field, text_of(result));
}

void RedisOffsetGapStore::on_offset_gap(const std::string& group, const TopicPartition& partition,
                                        const OffsetGap& gap) {
    if (observer_) observer_(gap);
    auto recorded = record(group, partition, gap, clock_.wall_ms());
    if (!recorded) {
        log_->error("cannot record the offset gap of {}[{}] in Redis ({}): {}", partition.topic, partition.partition,
                    keys_.offset_gaps(), recorded.error().message);
        return;
    }
    if (recorded->gaps > 1) {
        log_->error("{}[{}] has had {} offset gaps: {} event(s) lost to retention in all", partition.topic,
                    partition.partition, recorded->gaps, recorded->total_lost);
    }
}

ProvisioningLogReader::ProvisioningLogReader(RedisOptions options, KeyScheme keys)
    : connection_(std::move(options)), keys_(std::move(keys)) {}

ProvisioningLogReader::ProvisioningLogReader(RedisConnection connection, KeyScheme keys)
    : connection_(std::move(connection)), keys_(std::move(keys)) {}

Result<std::map<std::string, std::int64_t>> ProvisioningLogReader::stats(const std::string& app) {
    const auto key = keys_.stats(app);
    auto reply = connection_.command({"HGETALL", key});
    if (!reply) return reply.error();
    const auto& array = **reply;
    if (array.type != REDIS_REPLY_ARRAY) return unexpected_reply("HGETALL " + key, array);
    std::map<std::string, std::int64_t> counters;
    for (std::size_t i = 0; i + 1 < array.elements; i += 2) {
        const auto value = text_of(*array.element[i + 1]);
        const auto number = to_int64(value);
        if (!number) return make_error("corrupt counter in " + key + ": '" + value + "'");
        counters.emplace(text_of(*array.element[i]), *number);
    }
    return counters;
}

Result<std::vector<MinuteStats>> ProvisioningLogReader::minutes(const std::string& app, std::int64_t first,
                                                                std::int64_t last) {
    std::vector<MinuteStats> out;
    for (std::int64_t minute = first; minute <= last; ++minute) {
        const auto key = keys_.minute(app, minute);
        auto reply = connection_.command({"HGETALL", key});
        if (!reply) return reply.error();
        const auto& array = **reply;
        if (array.type != REDIS_REPLY_ARRAY) return unexpected_reply("HGETALL " + key, array);
        std::map<std::string, std::int64_t> fields;
        for (std::size_t i = 0; i + 1 < array.elements; i += 2) {
            fields[text_of(*array.element[i])] = to_int64(text_of(*array.element[i + 1])).value_or(0);
        }
        out.push_back(minute_stats_from(minute, fields));
    }
    return out;
}

Result<ProvisioningLogReader::Depths> ProvisioningLogReader::depths(const std::string& app) {
    Depths out;
    const std::vector<std::pair<RedisArgv, std::int64_t*>> reads = {
        {{"HLEN", keys_.parked(app)}, &out.waiting_events},
        {{"ZCARD", keys_.due(app)}, &out.due_heads},
        {{"ZCARD", keys_.staged(app)}, &out.staged},
        {{"XLEN", keys_.dead_letters(app)}, &out.dead_letters},
        {{"ZCARD", keys_.reference_deadlines(app)}, &out.reference_waits},
        {{"ZCARD", keys_.hard_deletes(app)}, &out.scheduled_hard_deletes},
    };
    for (const auto& [argv, target] : reads) {
        auto reply = connection_.command(argv);
        if (!reply) return reply.error();
        if ((*reply)->type != REDIS_REPLY_INTEGER) return unexpected_reply(argv[0] + " " + argv[1], **reply);
        *target = (*reply)->integer;
    }
    return out;
}

Result<std::vector<OutcomeRecord>> ProvisioningLogReader::recent_log(const std::string& app,
                                                                     std::int64_t count) {
    const auto key = keys_.log(app);
    auto reply = connection_.command({"XREVRANGE", key, "+", "-", "COUNT", std::to_string(count)});
    if (!reply) return reply.error();
    auto entries = decode_entries(**reply, key);
    if (!entries) return entries.error();
    std::vector<OutcomeRecord> records;
    records.reserve(entries->size());
    for (auto& entry : *entries) records.push_back(std::move(entry.record));
    return records;
}

Result<std::vector<StreamEntry>> ProvisioningLogReader::log_since(const std::string& app,
                                                                  const std::string& last_id,
                                                                  std::int64_t count,
                                                                  std::chrono::milliseconds block) {
    const auto key = keys_.log(app);
    RedisArgv argv = {"XREAD", "COUNT", std::to_string(count)};
    if (block.count() > 0) argv.insert(argv.end(), {"BLOCK", std::to_string(block.count())});
    argv.insert(argv.end(), {"STREAMS", key, last_id});
    // The socket must outlast the server-side wait, or a quiet stream would look like a timeout.
    auto reply = connection_.command(argv, block);
    if (!reply) return reply.error();
    const auto& streams = **reply;
    if (streams.type == REDIS_REPLY_NIL) return std::vector<StreamEntry>{};
    if (streams.type != REDIS_REPLY_ARRAY) return unexpected_reply("XREAD " + key, streams);
    for (std::size_t i = 0; i < streams.elements; ++i) {
        const auto& stream = *streams.element[i];
        if (stream.type == REDIS_REPLY_ARRAY && stream.elements == 2 &&
            text_of(*stream.element[0]) == key) {
            return decode_entries(*stream.element[1], key);
        }
    }
    return std::vector<StreamEntry>{};
}

Result<std::string> ProvisioningLogReader::last_log_id(const std::string& app) {
    const auto key = keys_.log(app);
    auto reply = connection_.command({"XREVRANGE", key, "+", "-", "COUNT", "1"});
    if (!reply) return reply.error();
    const auto& array = **reply;
    if (array.type != REDIS_REPLY_ARRAY) return unexpected_reply("XREVRANGE " + key, array);
    if (array.elements == 0) return std::string("0-0");
    const auto& entry = *array.element[0];
    if (entry.type != REDIS_REPLY_ARRAY || entry.elements < 1) {
        return unexpected_reply("XREVRANGE " + key, entry);
    }
    return text_of(*entry.element[0]);
}

Result<std::int64_t> ProvisioningLogReader::count_log(const std::string& app) {
    const auto key = keys_.log(app);
    auto reply = connection_.command({"XLEN", key});
    if (!reply) return reply.error();
    if ((*reply)->type != REDIS_REPLY_INTEGER) return unexpected_reply("XLEN " + key, **reply);
    return static_cast<std::int64_t>((*reply)->integer);
}

Result<std::vector<StreamEntry>> ProvisioningLogReader::dead_letters(const std::string& app,
                                                                     std::int64_t count) {
    const auto key = keys_.dead_letters(app);
    auto reply = connection_.command({"XRANGE", key, "-", "+", "COUNT", std::to_string(count)});
    if (!reply) return reply.error();
    return decode_entries(**reply, key);
}

Result<std::vector<StreamEntry>> ProvisioningLogReader::dead_letter_page(const std::string& app,
                                                                         const std::string& start,
                                                                         std::int64_t count) {
    const auto key = keys_.dead_letters(app);
    auto reply = connection_.command({"XRANGE", key, start, "+", "COUNT", std::to_string(count)});
    if (!reply) return reply.error();
    return decode_entries_lenient(**reply, key);
}

Result<std::vector<StreamEntry>> ProvisioningLogReader::log_before(const std::string& app, const std::string& end,
                                                                   const std::string& start, std::int64_t count) {
    const auto key = keys_.log(app);
    auto reply = connection_.command({"XREVRANGE", key, end, start, "COUNT", std::to_string(count)});
    if (!reply) return reply.error();
    return decode_entries(**reply, key);
}

std::string ProvisioningLogReader::previous_id(const std::string& id) {
    const auto dash = id.find('-');
    if (dash == std::string::npos) return id;
    std::uint64_t ms = 0;
    std::uint64_t seq = 0;
    std::from_chars(id.data(), id.data() + dash, ms);
    std::from_chars(id.data() + dash + 1, id.data() + id.size(), seq);
    if (seq > 0) return std::to_string(ms) + "-" + std::to_string(seq - 1);
    if (ms == 0) return "0-0";
    return std::to_string(ms - 1) + "-" + std::to_string(std::numeric_limits<std::uint64_t>::max());
}

std::string ProvisioningLogReader::next_start(const std::string& id) {
    const auto dash = id.find('-');
    if (dash == std::string::npos) return id;
    std::uint64_t ms = 0;
    std::uint64_t seq = 0;
    std::from_chars(id.data(), id.data() + dash, ms);
    std::from_chars(id.data() + dash + 1, id.data() + id.size(), seq);
    if (seq == std::numeric_limits<std::uint64_t>::max()) return std::to_string(ms + 1) + "-0";
    return std::to_string(ms) + "-" + std::to_string(seq + 1);
}

Result<std::vector<StreamEntry>> ProvisioningLogReader::all_dead_letters(const std::string& app,
                                                                         const DeadLetterFilter& filter,
                                                                         std::int64_t page) {
    if (page <= 0) page = 500;
    // The stream id is the time the entry was added, so `since` is where the range starts.
    std::string start = filter.since_ms > 0 ? std::to_string(filter.since_ms) + "-0" : std::string("-");
    std::vector<StreamEntry> selected;
    for (;;) {
        auto entries = dead_letter_page(app, start, page);
        if (!entries) return entries.error();
        if (entries->empty()) break;
        const std::string last = entries->back().id;  // before the entries are moved out
        for (auto& entry : *entries) {
            if (!filter.code.empty()) {
                const auto code = entry.fields.find("code");
                if (code == entry.fields.end() || code->second != filter.code) continue;
            }
            if (!filter.keep_records) {
                if (const auto it = entry.fields.find("record"); it != entry.fields.end()) {
                    std::string().swap(it->second);
                }
            }
            selected.push_back(std::move(entry));
        }
        if (static_cast<std::int64_t>(entries->size()) < page) break;
        start = next_start(last);
    }
    return selected;
}

Result<std::optional<StreamEntry>> ProvisioningLogReader::dead_letter(const std::string& app,
                                                                      const std::string& id) {
    if (!is_stream_id(id)) {
        return make_error("'" + id + "' is not a stream id (like 1712345678901-0)", ErrorKind::Permanent);
    }
    auto entries = dead_letter_page(app, id, 1);
    if (!entries) return entries.error();
    if (entries->empty() || entries->front().id != id) return std::optional<StreamEntry>();
    return std::optional<StreamEntry>(std::move(entries->front()));
}

Result<std::int64_t> ProvisioningLogReader::count_dead_letters(const std::string& app) {
    const auto key = keys_.dead_letters(app);
    auto reply = connection_.command({"XLEN", key});
    if (!reply) return reply.error();
    if ((*reply)->type != REDIS_REPLY_INTEGER) return unexpected_reply("XLEN " + key, **reply);
    return static_cast<std::int64_t>((*reply)->integer);
}

Result<std::int64_t> ProvisioningLogReader::delete_dead_letters(const std::string& app,
                                                                const std::vector<std::string>& ids) {
    const auto key = keys_.dead_letters(app);
    constexpr std::size_t kBatch = 500;  // bounded commands, even for a purge of everything
    std::int64_t removed = 0;
    for (std::size_t at = 0; at < ids.size(); at += kBatch) {
        RedisArgv argv = {"XDEL", key};
        for (std::size_t i = at; i < std::min(ids.size(), at + kBatch); ++i) {
            if (!is_stream_id(ids[i])) {
                return make_error("'" + ids[i] + "' is not a stream id (like 1712345678901-0)",
                                  ErrorKind::Permanent);
            }
            argv.push_back(ids[i]);
        }
        auto reply = connection_.command(argv);
        if (!reply) return reply.error();
        if ((*reply)->type != REDIS_REPLY_INTEGER) return unexpected_reply("XDEL " + key, **reply);
        removed += static_cast<std::int64_t>((*reply)->integer);
    }
    return removed;
}

Result<std::optional<OutcomeRecord>> ProvisioningLogReader::invalid_outcome(const std::string& app,
                                                                            const std::string& topic,
                                                                            std::int32_t partition,
                                                                            std::int64_t offset) {
    const auto key = keys_.invalid_record(app_or_invalid(app), topic, partition, offset);
    auto reply = connection_.command({"GET", key});
    if (!reply) return reply.error();
    return decode_outcome(**reply, key);
}

Result<std::optional<OutcomeRecord>> ProvisioningLogReader::outcome(const std::string& app,
                                                                    const std::string& source,
                                                                    const std::string& event_id) {
    const auto key = keys_.event(app, source, event_id);
    connection_.append({"GET", key});
    auto replies = connection_.get_replies();
    if (!replies) return replies.error();
    return decode_outcome(*replies->front(), key);
}

Result<std::optional<LinkState>> ProvisioningLogReader::link(const std::string& app,
                                                             ObjectType type,
                                                             const std::string& source_id) {
    const auto key = keys_.link(app, type, source_id);
    auto reply = connection_.command({"HGETALL", key});
    if (!reply) return reply.error();
    return decode_link(**reply, key);
}

Result<std::vector<OffsetGapRecord>> ProvisioningLogReader::offset_gaps() {
    const auto key = keys_.offset_gaps();
    auto reply = connection_.command({"HGETALL", key});
    if (!reply) return reply.error();
    const auto& array = **reply;
    if (array.type != REDIS_REPLY_ARRAY) return unexpected_reply("HGETALL " + key, array);
    std::vector<OffsetGapRecord> records;
    for (std::size_t i = 0; i + 1 < array.elements; i += 2) {
        const auto field = text_of(*array.element[i]);
        auto decoded = decode_offset_gap(field, text_of(*array.element[i + 1]));
        records.push_back(decoded ? std::move(decoded).value() : undecodable_offset_gap(field, decoded.error()));
    }
    std::sort(records.begin(), records.end(), [](const OffsetGapRecord& a, const OffsetGapRecord& b) {
        return std::tie(a.topic, a.partition) < std::tie(b.topic, b.partition);
    });
    return records;
}

}  // namespace provbridge::consumers
