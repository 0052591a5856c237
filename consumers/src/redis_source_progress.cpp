#include "provbridge/consumers/redis_source_progress.hpp"

#include <hiredis/hiredis.h>

namespace provbridge::consumers {
namespace {

using nlohmann::json;

Result<std::vector<std::pair<std::string, std::string>>> pairs_of(const RedisValue& value, std::string_view what) {
    if (value.type != RedisValue::Type::Array || value.elements.size() % 2 != 0) {
        return make_redis_error(RedisErrorKind::Protocol, what, "HGETALL did not answer with field/value pairs");
    }
    std::vector<std::pair<std::string, std::string>> out;
    for (std::size_t i = 0; i + 1 < value.elements.size(); i += 2) {
        out.emplace_back(value.elements[i].str, value.elements[i + 1].str);
    }
    return out;
}

}  // namespace

RedisSourceProgress::RedisSourceProgress(RedisOptions options, KeyScheme keys, std::string source)
    : connection_(std::move(options)), keys_(std::move(keys)), source_(std::move(source)) {}

Result<producers::SourceProgress> RedisSourceProgress::load() {
    producers::SourceProgress out;
    auto cookies = connection_.call({"HGETALL", keys_.source_cookies(source_)});
    if (!cookies.ok()) return cookies.error();
    auto cookie_pairs = pairs_of(*cookies, "loading the source's cookies");
    if (!cookie_pairs.ok()) return cookie_pairs.error();
    for (auto& [name, cookie] : *cookie_pairs) out.cookies[name] = std::move(cookie);
    auto objects = connection_.call({"HGETALL", keys_.source_objects(source_)});
    if (!objects.ok()) return objects.error();
    auto object_pairs = pairs_of(*objects, "loading the source's objects");
    if (!object_pairs.ok()) return object_pairs.error();
    for (auto& [id, text] : *object_pairs) {
        auto doc = json::parse(text, nullptr, false);
        if (doc.is_discarded() || !doc.is_object()) {
            return make_error("the stored directory object " + id + " in " + keys_.source_objects(source_) +
                                  " is not JSON",
                              ErrorKind::Permanent);
        }
        out.objects[id] = std::move(doc);
    }
    auto outbox = connection_.call({"GET", keys_.source_outbox(source_)});
    if (!outbox.ok()) return outbox.error();
    if (!outbox->is_nil()) {
        auto doc = json::parse(outbox->str, nullptr, false);
        if (doc.is_discarded() || !doc.is_array()) {
            return make_error("the stored outbox " + keys_.source_outbox(source_) + " is not a JSON list",
                              ErrorKind::Permanent);
        }
        for (auto& event : doc) out.outbox.push_back(std::move(event));
    }
    auto rules = connection_.call({"GET", keys_.source_rules(source_)});
    if (!rules.ok()) return rules.error();
    if (!rules->is_nil()) {
        auto doc = json::parse(rules->str, nullptr, false);
        if (doc.is_discarded() || !doc.is_object()) {
            return make_error("the stored source rules " + keys_.source_rules(source_) + " are not a JSON object",
                              ErrorKind::Permanent);
        }
        out.rules = std::move(doc);
    }
    return out;
}

Result<bool> RedisSourceProgress::save(const producers::SourceProgressDelta& delta) {
    if (delta.empty()) return true;
    connection_.append({"MULTI"});
    if (!delta.cookies.empty()) {
        RedisArgv hset{"HSET", keys_.source_cookies(source_)};
        for (const auto& [name, cookie] : delta.cookies) {
            hset.push_back(name);
            hset.push_back(cookie);
        }
        connection_.append(std::move(hset));
    }
    if (!delta.upserted.empty()) {
        RedisArgv hset{"HSET", keys_.source_objects(source_)};
        for (const auto& [id, doc] : delta.upserted) {
            hset.push_back(id);
            hset.push_back(doc.dump());
        }
        connection_.append(std::move(hset));
    }
    if (!delta.removed.empty()) {
        RedisArgv hdel{"HDEL", keys_.source_objects(source_)};
        hdel.insert(hdel.end(), delta.removed.begin(), delta.removed.end());
        connection_.append(std::move(hdel));
    }
    if (delta.outbox) {
        if (delta.outbox->empty()) {
            connection_.append({"DEL", keys_.source_outbox(source_)});
        } else {
            connection_.append({"SET", keys_.source_outbox(source_), json(*delta.outbox).dump()});
        }
    }
    if (delta.rules) connection_.append({"SET", keys_.source_rules(source_), delta.rules->dump()});
    connection_.append({"EXEC"});
    auto replies = connection_.get_replies();
    if (!replies.ok()) return replies.error();
    const auto& exec = replies->back();
    if (!exec || exec->type != REDIS_REPLY_ARRAY) {
        const std::string detail = exec && exec->type == REDIS_REPLY_ERROR ? std::string(exec->str, exec->len) : "";
        return make_redis_error(RedisErrorKind::Reply, "storing the source's progress", "EXEC failed " + detail);
    }
    for (std::size_t i = 0; i < exec->elements; ++i) {
        if (exec->element[i]->type == REDIS_REPLY_ERROR) {
            return make_redis_error(RedisErrorKind::Reply, "storing the source's progress",
                                    std::string(exec->element[i]->str, exec->element[i]->len));
        }
    }
    return true;
}

Result<bool> RedisSourceProgress::save_status(const json& status) {
    auto set = connection_.call({"SET", keys_.source_status(source_), status.dump()});
    if (!set.ok()) return set.error();
    return true;
}

Result<std::optional<json>> RedisSourceProgress::load_status() {
    auto got = connection_.call({"GET", keys_.source_status(source_)});
    if (!got.ok()) return got.error();
    if (got->is_nil()) return std::optional<json>{};
    auto doc = json::parse(got->str, nullptr, false);
    if (doc.is_discarded() || !doc.is_object()) {
        return make_error("the source's status " + keys_.source_status(source_) + " is not a JSON object",
                          ErrorKind::Permanent);
    }
    return std::optional<json>(std::move(doc));
}

}  // namespace provbridge::consumers
