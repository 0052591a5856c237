#include "provbridge/consumers/redis_store.hpp"

#include <charconv>
#include <exception>
#include <stdexcept>
#include <utility>

#include <hiredis/hiredis.h>

#include "provbridge/core/json_util.hpp"

namespace provbridge::consumers {
namespace {

using nlohmann::json;

// KEYS: 1 outcome, 2 link (the outcome key again when no link is written), 3 log, 4 stats,
// 5 dead-letter index, 6 owner of the link's SCIM id (the outcome key again when none).
// ARGV: 1 record json, 2 ttl seconds, 3 stream cap, 4 write link "1"/"0", 5-8 link scim_id,
// version, status, applied, 9 dead letter "1"/"0", 10 counter, 11 owner (source id, "" for
// none), 12 number N of log stream arguments, 13..12+N log field/value pairs, the rest
// dead-letter field/value pairs.
// Returns 0: already recorded, nothing written; 1: recorded; 2: recorded, but the stored link
// has a higher version, so the link and the owner index were left alone.
// SET NX comes first so a second delivery changes nothing at all. The version check is here,
// not in the caller, because two workers can race between a load and this commit (a revoke
// that timed out, an old event replayed): only the script sees the link as it is now.
constexpr std::string_view kCommitScript = R"lua(
-- Versions are decimal int64 strings; Lua numbers are doubles and would round above 2^53.
local function int_less(a, b)
  local na, nb = a:sub(1, 1) == '-', b:sub(1, 1) == '-'
  if na ~= nb then return na end
  if na then a, b = b:sub(2), a:sub(2) end
  if #a ~= #b then return #a < #b end
  return a < b
end
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then
  return 0
end
local kept = false
if ARGV[4] == '1' then
  local stored = redis.call('HGET', KEYS[2], 'version')
  kept = stored and string.match(stored, '^-?%d+$') ~= nil and int_less(ARGV[6], stored)
  if not kept then
    redis.call('HSET', KEYS[2], 'scim_id', ARGV[5], 'version', ARGV[6], 'status', ARGV[7],
               'applied', ARGV[8])
    -- The owner index follows the link: an account never points at a source whose link
    -- does not point back.
    if ARGV[11] ~= '' then
      redis.call('SET', KEYS[6], ARGV[11])
    end
  end
end
local nlog = tonumber(ARGV[12])
local entry = {}
for i = 13, 12 + nlog do entry[#entry + 1] = ARGV[i] end
if kept then
  entry[#entry + 1] = 'link'
  entry[#entry + 1] = 'kept_newer'
end
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], '*', unpack(entry))
redis.call('HINCRBY', KEYS[4], ARGV[10], 1)
redis.call('HINCRBY', KEYS[4], 'events', 1)
if ARGV[9] == '1' then
  local dlq = {}
  for i = 13 + nlog, #ARGV do dlq[#dlq + 1] = ARGV[i] end
  redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[3], '*', unpack(dlq))
end
if kept then return 2 end
return 1
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
        }
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

}  // namespace

std::string_view stats_counter(const OutcomeRecord& record) {
    switch (record.status) {
        case OutcomeStatus::Skipped: return "skipped";
        case OutcomeStatus::DeadLettered: return "dead_lettered";
        case OutcomeStatus::Applied: break;
    }
    switch (record.action) {
        case Action::Create: return "created";
        case Action::Update: return "updated";
        case Action::Disable: return "disabled";
        case Action::Delete: return "deleted";
        case Action::Link: return "linked";
        case Action::None: break;
    }
    return "applied_other";
}

std::string outcome_key(const KeyScheme& keys, const OutcomeRecord& record) {
    const auto app = app_or_invalid(record.app);
    if (!record.event_id.empty()) return keys.event(app, record.source, record.event_id);
    return keys.invalid_record(app, record.topic, record.partition, record.offset);
}

// ---------------------------------------------------------------------------------------------

RedisStateStore::RedisStateStore(RedisOptions options, KeyScheme keys,
                                 std::chrono::seconds dedupe_ttl, std::int64_t log_max_entries,
                                 const Clock& clock)
    : connection_(std::move(options)),
      keys_(std::move(keys)),
      dedupe_ttl_(dedupe_ttl),
      log_max_entries_(log_max_entries),
      clock_(clock) {
    if (dedupe_ttl_.count() <= 0) throw std::invalid_argument("redis dedupe TTL must be positive");
    if (log_max_entries_ <= 0) throw std::invalid_argument("redis log cap must be positive");
    auto sha = connection_.command({"SCRIPT", "LOAD", std::string(kCommitScript)});
    if (!sha) {
        throw std::runtime_error("cannot load the commit script into Redis at " +
                                 connection_.endpoint() + ": " + sha.error().message);
    }
    if ((*sha)->type != REDIS_REPLY_STRING) {
        throw std::runtime_error("unexpected reply to SCRIPT LOAD from Redis at " +
                                 connection_.endpoint());
    }
    script_sha_ = text_of(**sha);
}

Result<PriorState> RedisStateStore::load(const Event& event) {
    const auto event_key = keys_.event(event.app, event.source, event.id);
    const auto link_key = keys_.link(event.app, event.object_type, event.object_id);
    connection_.append({"GET", event_key});
    connection_.append({"HGETALL", link_key});
    auto replies = connection_.get_replies();
    if (!replies) return replies.error();

    PriorState prior;
    auto recorded = decode_outcome(*(*replies)[0], event_key);
    if (!recorded) return recorded.error();
    prior.recorded = std::move(recorded).value();
    auto link = decode_link(*(*replies)[1], link_key);
    if (!link) return link.error();
    prior.link = std::move(link).value();
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
    argv.reserve(64);
    argv.insert(argv.end(), {"EVALSHA", script_sha_, "6", record_key, link_key, keys_.log(app),
                             keys_.stats(app), keys_.dead_letters(app), owner_key});
    argv.insert(argv.end(), {record_json, std::to_string(dedupe_ttl_.count()), cap});
    if (commit.link) {
        argv.insert(argv.end(), {"1", commit.link->scim_id, std::to_string(commit.link->version),
                                 std::string(to_string(commit.link->status)),
                                 dump(commit.link->applied)});
    } else {
        argv.insert(argv.end(), {"0", "", "", "", ""});
    }
    argv.push_back(commit.dead_letter ? "1" : "0");
    argv.emplace_back(stats_counter(record));
    argv.push_back(owner);

    const std::vector<std::string> log_fields = {
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
        "committed_at_ms", std::to_string(clock_.wall_ms()),
        "json",            record_json,
    };
    argv.push_back(std::to_string(log_fields.size()));
    argv.insert(argv.end(), log_fields.begin(), log_fields.end());
    if (commit.dead_letter) {
        argv.insert(argv.end(), {"event_id", record.event_id, "app", app, "reason", record.reason,
                                 "code", record.code, "topic", record.topic, "partition",
                                 std::to_string(record.partition), "offset",
                                 std::to_string(record.offset), "json", record_json});
    }

    auto reply = connection_.command(argv);
    if (!reply && is_noscript(reply.error())) {
        // The server lost its script cache (restart, failover, SCRIPT FLUSH). EVAL runs the
        // script and caches it again under the same sha, so later calls go back to EVALSHA.
        argv[0] = "EVAL";
        argv[1] = std::string(kCommitScript);
        reply = connection_.command(argv);
    }
    if (!reply) return reply.error();
    const auto& result = **reply;
    if (result.type != REDIS_REPLY_INTEGER) return unexpected_reply("commit script", result);
    switch (result.integer) {
        case 0: return CommitStatus::AlreadyRecorded;
        case 1: return CommitStatus::Recorded;
        case 2: return CommitStatus::RecordedLinkKept;
        default: return unexpected_reply("commit script", result);
    }
}

Result<bool> RedisStateStore::count_duplicate(const std::string& app) {
    auto reply = connection_.command({"HINCRBY", keys_.stats(app_or_invalid(app)), "duplicates", "1"});
    if (!reply) return reply.error();
    return true;
}

// ---------------------------------------------------------------------------------------------

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

}  // namespace provbridge::consumers
