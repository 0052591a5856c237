#include "provbridge/consumers/redis_deletions.hpp"

#include <algorithm>
#include <array>
#include <charconv>

#include <openssl/evp.h>

#include "provbridge/consumers/redis_store.hpp"
#include "provbridge/transforms/rolling_window.hpp"

namespace provbridge::consumers {
namespace {

// KEYS: 1 the object's queue, 2 due set, 3 staged set. ARGV: 1 member, 2 SHA-1 (hex) of the head
// entry as read, 3 the entry with its new mark, 4 now ms.
// Returns 1: released (due now); 0: not staged any more; 2: the head is not the one read.
// A head staged again after it was read (allowed, run, failed, staged anew) must not be
// overwritten with the older copy, hence the digest.
constexpr const char* kReleaseScript = R"lua(
if not redis.call('ZSCORE', KEYS[3], ARGV[1]) then return 0 end
local head = redis.call('LINDEX', KEYS[1], 0)
if not head then
  redis.call('ZREM', KEYS[3], ARGV[1])
  return 0
end
if redis.sha1hex(head) ~= ARGV[2] then return 2 end
redis.call('LSET', KEYS[1], 0, ARGV[3])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
return 1
)lua";

constexpr std::size_t kPage = 200;  // heads read per round trip

std::string sha1_hex(const std::string& text) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int size = 0;
    EVP_Digest(text.data(), text.size(), digest.data(), &size, EVP_sha1(), nullptr);
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    out.reserve(2 * size);
    for (unsigned int i = 0; i < size; ++i) {
        out.push_back(kHex[digest[i] >> 4]);
        out.push_back(kHex[digest[i] & 0x0f]);
    }
    return out;
}

std::int64_t to_int(const std::string& text) {
    // Counters and scores (whole ms) come back as decimal text.
    std::int64_t value = 0;
    std::from_chars(text.data(), text.data() + text.size(), value);
    return value;
}

Error unexpected(const std::string& what, const RedisValue& value) {
    if (value.type == RedisValue::Type::Error) return make_redis_error(RedisErrorKind::Reply, what, value.str);
    return make_redis_error(RedisErrorKind::Protocol, what, "unexpected reply");
}

}  // namespace

RedisDeletionControl::RedisDeletionControl(RedisOptions options, KeyScheme keys)
    : connection_(std::move(options)), keys_(std::move(keys)) {}

Result<std::vector<RedisDeletionControl::Head>> RedisDeletionControl::staged_heads(
    const std::string& app, const std::optional<QueueMember>& object, std::vector<std::string>& unreadable,
    std::vector<std::string>& orphans) {
    const auto staged_key = keys_.staged(app);
    std::vector<std::pair<std::string, std::int64_t>> members;
    if (object) {
        const auto member = KeyScheme::queue_member(object->type, object->source_id);
        auto score = connection_.call({"ZSCORE", staged_key, member});
        if (!score) return score.error();
        if (score->type == RedisValue::Type::String) members.emplace_back(member, to_int(score->str));
    } else {
        auto all = connection_.call({"ZRANGE", staged_key, "0", "-1", "WITHSCORES"});
        if (!all) return all.error();
        if (all->type != RedisValue::Type::Array) return unexpected("ZRANGE " + staged_key, *all);
        for (std::size_t i = 0; i + 1 < all->elements.size(); i += 2) {
            members.emplace_back(all->elements[i].str, to_int(all->elements[i + 1].str));
        }
    }
    std::vector<Head> heads;
    heads.reserve(members.size());
    for (std::size_t at = 0; at < members.size(); at += kPage) {
        const std::size_t end = std::min(members.size(), at + kPage);
        for (std::size_t i = at; i < end; ++i) {
            const auto queue = keys_.queue_prefix(app) + members[i].first;
            connection_.append({"LINDEX", queue, "0"});
            connection_.append({"LLEN", queue});
        }
        auto replies = connection_.get_replies();
        if (!replies) return replies.error();
        for (std::size_t i = at; i < end; ++i) {
            const auto& [member, staged_at] = members[i];
            const auto where = keys_.queue_prefix(app) + member;
            const RedisValue entry = to_value(*(*replies)[2 * (i - at)]);
            const RedisValue length = to_value(*(*replies)[2 * (i - at) + 1]);
            if (entry.type == RedisValue::Type::Nil) {
                unreadable.push_back(where + ": staged, but the queue is empty");
                orphans.push_back(member);
                continue;
            }
            if (entry.type != RedisValue::Type::String) return unexpected("LINDEX " + where, entry);
            auto event = decode_parked(entry.str, where);
            if (!event) {
                unreadable.push_back(event.error().message);
                continue;
            }
            const auto named = KeyScheme::parse_queue_member(member);
            if (!named || event->app != app || event->object_type != named->type ||
                event->object_id != named->source_id) {
                unreadable.push_back(where + ": the head belongs to another object");
                continue;
            }
            Head head;
            head.member = member;
            head.entry = entry.str;
            head.operation.object_type = event->object_type;
            head.operation.object_id = event->object_id;
            head.operation.action = event->deletion.action;
            head.operation.source = event->source;
            head.operation.event_id = event->event_id;
            head.operation.staged_at_ms = event->deletion.staged_at_ms > 0 ? event->deletion.staged_at_ms : staged_at;
            head.operation.waiting_behind = std::max<std::int64_t>(0, length.integer - 1);
            head.event = std::move(event).value();
            heads.push_back(std::move(head));
        }
    }
    return heads;
}

Result<DeletionStatus> RedisDeletionControl::status(const std::string& app, const DeletionThresholdConfig& threshold,
                                                    std::int64_t now_ms) {
    DeletionStatus status;
    const auto buckets = transforms::window_buckets(threshold.window, now_ms);
    const std::size_t window = static_cast<std::size_t>(buckets.current - buckets.first + 1);
    for (std::int64_t b = buckets.first; b <= buckets.current; ++b) connection_.append({"GET", keys_.deletions(app, b)});
    connection_.append({"ZCARD", keys_.staged(app)});
    connection_.append({"EXISTS", keys_.linked_complete(app)});
    connection_.append({"SCARD", keys_.linked(app)});
    auto replies = connection_.get_replies();
    if (!replies) return replies.error();
    for (std::size_t i = 0; i < window; ++i) {
        const RedisValue value = to_value(*(*replies)[i]);
        if (value.type == RedisValue::Type::String) status.counted += to_int(value.str);
    }
    const RedisValue staged = to_value(*(*replies)[window]);
    if (staged.type != RedisValue::Type::Integer) return unexpected("ZCARD " + keys_.staged(app), staged);
    status.staged = staged.integer;
    const RedisValue complete = to_value(*(*replies)[window + 1]);
    const RedisValue linked = to_value(*(*replies)[window + 2]);
    if (complete.type != RedisValue::Type::Integer) return unexpected("EXISTS " + keys_.linked_complete(app), complete);
    if (linked.type != RedisValue::Type::Integer) return unexpected("SCARD " + keys_.linked(app), linked);
    // An incomplete set is no count: shown as not known rather than as a number too small.
    if (complete.integer > 0) status.linked = linked.integer;
    std::vector<std::string> orphans;
    auto heads = staged_heads(app, std::nullopt, status.unreadable, orphans);
    if (!heads) return heads.error();
    for (auto& head : *heads) status.operations.push_back(std::move(head.operation));
    if (!status.operations.empty()) status.oldest_staged_ms = status.operations.front().staged_at_ms;
    auto scheduled = scheduled_hard_deletes(app, std::nullopt);
    if (!scheduled) return scheduled.error();
    status.scheduled = std::move(scheduled).value();
    return status;
}

Result<std::vector<ScheduledHardDelete>> RedisDeletionControl::scheduled_hard_deletes(
    const std::string& app, const std::optional<std::string>& user) {
    const auto key = keys_.hard_deletes(app);
    std::vector<ScheduledHardDelete> out;
    if (user) {
        auto score = connection_.call({"ZSCORE", key, *user});
        if (!score) return score.error();
        if (score->type == RedisValue::Type::String) out.push_back({*user, to_int(score->str)});
    } else {
        auto all = connection_.call({"ZRANGE", key, "0", "-1", "WITHSCORES"});
        if (!all) return all.error();
        if (all->type != RedisValue::Type::Array) return unexpected("ZRANGE " + key, *all);
        for (std::size_t i = 0; i + 1 < all->elements.size(); i += 2) {
            out.push_back({all->elements[i].str, to_int(all->elements[i + 1].str)});
        }
    }
    if (out.empty()) return out;
    RedisArgv marks{"HMGET", keys_.hard_deletes_discarded(app)};
    for (const auto& s : out) marks.push_back(s.user_id);
    auto discarded = connection_.call(marks);
    if (!discarded) return discarded.error();
    if (discarded->type != RedisValue::Type::Array || discarded->elements.size() != out.size()) {
        return unexpected("HMGET " + keys_.hard_deletes_discarded(app), *discarded);
    }
    for (std::size_t i = 0; i < out.size(); ++i) out[i].discarded = discarded->elements[i].type == RedisValue::Type::String;
    return out;
}

Result<std::vector<ScheduledHardDelete>> RedisDeletionControl::release_scheduled(const std::string& app,
                                                                                 const std::optional<std::string>& user,
                                                                                 DeletionMark mark, std::int64_t now_ms) {
    if (mark != DeletionMark::Allowed && mark != DeletionMark::Discarded) {
        return make_error("a scheduled hard delete is released as allowed or discarded", ErrorKind::Permanent);
    }
    auto scheduled = scheduled_hard_deletes(app, user);
    if (!scheduled) return scheduled.error();
    std::vector<ScheduledHardDelete> released;
    for (const auto& s : *scheduled) {
        if (mark == DeletionMark::Discarded) {
            auto marked = connection_.call({"HSET", keys_.hard_deletes_discarded(app), s.user_id, "1"});
            if (!marked) return marked.error();
        }
        // XX: one swept (parked) in between is not scheduled again.
        auto moved = connection_.call({"ZADD", keys_.hard_deletes(app), "XX", "CH", std::to_string(now_ms), s.user_id});
        if (!moved) return moved.error();
        if (moved->type != RedisValue::Type::Integer) return unexpected("ZADD " + keys_.hard_deletes(app), *moved);
        released.push_back(s);
    }
    return released;
}

Result<std::vector<StagedOperation>> RedisDeletionControl::release(const std::string& app,
                                                                   const std::optional<QueueMember>& object,
                                                                   DeletionMark mark, std::int64_t now_ms) {
    if (mark != DeletionMark::Allowed && mark != DeletionMark::Discarded) {
        return make_error("a staged operation is released as allowed or discarded", ErrorKind::Permanent);
    }
    std::vector<std::string> unreadable;
    std::vector<std::string> orphans;
    auto heads = staged_heads(app, object, unreadable, orphans);
    if (!heads) return heads.error();
    // A staged member without a queue is left over from an inconsistency: the script, finding
    // no head, drops it.
    for (const auto& member : orphans) {
        auto dropped = run_release(app, member, "", "", now_ms);
        if (!dropped) return dropped.error();
    }
    std::vector<StagedOperation> released;
    for (auto& head : *heads) {
        head.event.deletion.mark = mark;
        auto status = run_release(app, head.member, sha1_hex(head.entry), encode_parked(head.event), now_ms);
        if (!status) return status.error();
        if (*status == 1) released.push_back(std::move(head.operation));
    }
    return released;
}

Result<std::int64_t> RedisDeletionControl::run_release(const std::string& app, const std::string& member,
                                                       const std::string& digest, const std::string& entry,
                                                       std::int64_t now_ms) {
    RedisArgv argv{release_sha_.empty() ? "EVAL" : "EVALSHA",
                   release_sha_.empty() ? kReleaseScript : release_sha_,
                   "3",
                   keys_.queue_prefix(app) + member,
                   keys_.due(app),
                   keys_.staged(app),
                   member,
                   digest,
                   entry,
                   std::to_string(now_ms)};
    auto reply = connection_.call(argv);
    if (!reply && !release_sha_.empty() && reply.error().message.find("NOSCRIPT") != std::string::npos) {
        argv[0] = "EVAL";
        argv[1] = kReleaseScript;
        reply = connection_.call(argv);
    }
    if (!reply) return reply.error();
    if (reply->type != RedisValue::Type::Integer) return unexpected("release script", *reply);
    // EVAL cached the script under its SHA-1: from now on only the digest is sent.
    if (release_sha_.empty()) release_sha_ = sha1_hex(kReleaseScript);
    return reply->integer;
}

}  // namespace provbridge::consumers
