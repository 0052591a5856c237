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

// A key holding one JSON document of `kind` (an object or a list); nullopt when there is none.
Result<std::optional<json>> get_json(RedisConnection& connection, const std::string& key, const std::string& what,
                                     json::value_t kind) {
    auto got = connection.call({"GET", key});
    if (!got.ok()) return got.error();
    if (got->is_nil()) return std::optional<json>{};
    auto doc = json::parse(got->str, nullptr, false);
    if (doc.is_discarded() || doc.type() != kind) {
        return make_error(what + " " + key + (kind == json::value_t::array ? " is not a JSON list" : " is not a JSON object"),
                          ErrorKind::Permanent);
    }
    return std::optional<json>(std::move(doc));
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
    auto outbox = get_json(connection_, keys_.source_outbox(source_), "the stored outbox", json::value_t::array);
    if (!outbox.ok()) return outbox.error();
    if (*outbox) {
        for (auto& event : **outbox) out.outbox.push_back(std::move(event));
    }
    auto rules = get_json(connection_, keys_.source_rules(source_), "the stored source rules", json::value_t::object);
    if (!rules.ok()) return rules.error();
    out.rules = std::move(*rules);
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
    return get_json(connection_, keys_.source_status(source_), "the source's status", json::value_t::object);
}

}  // namespace provbridge::consumers
