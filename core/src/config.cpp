#include "provbridge/core/config.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "provbridge/core/json_util.hpp"

extern char** environ;  // NOLINT(readability-redundant-declaration)

namespace provbridge {
namespace {

using nlohmann::json;

constexpr std::string_view kEnvPrefix = "PROVBRIDGE__";

std::string upper_token(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (char c : s) {
        const auto u = static_cast<unsigned char>(c);
        out.push_back(std::isalnum(u) != 0 ? static_cast<char>(std::toupper(u)) : '_');
    }
    return out;
}

std::string display_path(const std::vector<std::string>& path) {
    std::string out;
    for (const auto& p : path) {
        if (!p.empty() && p.front() == '[') {
            out += p;
        } else {
            if (!out.empty()) out += '.';
            out += p;
        }
    }
    return out;
}

// Walks the document one object at a time, with a path for messages, applying environment
// overrides field by field and rejecting unknown fields (a typo must not be silently ignored).
class Reader {
public:
    Reader(const std::string& source, const Environment& env) : source_(source), env_(env) {}

    [[noreturn]] void fail(const std::vector<std::string>& path, const std::string& why) const {
        throw ConfigError(source_, display_path(path), why);
    }

    struct Scope {
        const json* node;                 // may be null: the section is absent from the file
        std::vector<std::string> path;    // display path (with [i] for array items)
        std::vector<std::string> env_path;  // path used for environment variable names
    };

    void expect_object(const Scope& scope) const {
        if (scope.node != nullptr && !scope.node->is_object()) {
            fail(scope.path, "must be a JSON object");
        }
    }

    void check_known(const Scope& scope, std::initializer_list<std::string_view> known) const {
        if (scope.node == nullptr) return;
        for (const auto& [key, value] : scope.node->items()) {
            if (std::find(known.begin(), known.end(), key) == known.end()) {
                std::string list;
                for (auto k : known) {
                    if (!list.empty()) list += ", ";
                    list += k;
                }
                auto p = scope.path;
                p.push_back(key);
                fail(p, "unknown field (known fields here: " + list + ")");
            }
        }
    }

    Scope child(const Scope& scope, const std::string& key) const {
        Scope s{nullptr, scope.path, scope.env_path};
        s.path.push_back(key);
        s.env_path.push_back(key);
        if (scope.node != nullptr) {
            const auto it = scope.node->find(key);
            if (it != scope.node->end() && !it->is_null()) {
                s.node = &*it;
            }
        }
        expect_object(s);
        return s;
    }

    // Returns the raw value of a leaf: from the environment when overridden, else the file.
    struct Leaf {
        const json* node = nullptr;
        std::optional<std::string> env_value;
        std::string env_name;
        std::vector<std::string> path;
        bool present() const { return node != nullptr || env_value.has_value(); }
    };

    Leaf leaf(const Scope& scope, const std::string& key) {
        Leaf l;
        l.path = scope.path;
        l.path.push_back(key);
        auto env_path = scope.env_path;
        env_path.push_back(key);
        l.env_name = env_name_for(env_path);
        if (const auto it = env_.find(l.env_name); it != env_.end()) {
            l.env_value = it->second;
            used_env_.insert(l.env_name);
        }
        if (scope.node != nullptr) {
            const auto it = scope.node->find(key);
            if (it != scope.node->end() && !it->is_null()) {
                l.node = &*it;
            }
        }
        return l;
    }

    [[noreturn]] void fail_leaf(const Leaf& l, const std::string& why) const {
        if (l.env_value) {
            fail(l.path, why + " (value from environment variable " + l.env_name + ")");
        }
        fail(l.path, why);
    }

    std::optional<std::string> get_string(const Scope& scope, const std::string& key) {
        const Leaf l = leaf(scope, key);
        if (l.env_value) return l.env_value;
        if (l.node == nullptr) return std::nullopt;
        if (!l.node->is_string()) fail_leaf(l, "must be a string");
        return l.node->get<std::string>();
    }

    std::optional<std::int64_t> get_int(const Scope& scope, const std::string& key,
                                        std::int64_t min, std::int64_t max) {
        const Leaf l = leaf(scope, key);
        std::int64_t value = 0;
        if (l.env_value) {
            std::size_t used = 0;
            try {
                value = std::stoll(*l.env_value, &used);
            } catch (const std::exception&) {
                used = 0;
            }
            if (used == 0 || used != l.env_value->size()) fail_leaf(l, "must be an integer");
        } else if (l.node != nullptr) {
            if (!l.node->is_number_integer()) fail_leaf(l, "must be an integer");
            value = l.node->get<std::int64_t>();
        } else {
            return std::nullopt;
        }
        if (value < min || value > max) {
            fail_leaf(l, "must be between " + std::to_string(min) + " and " + std::to_string(max) +
                             ", got " + std::to_string(value));
        }
        return value;
    }

    std::optional<bool> get_bool(const Scope& scope, const std::string& key) {
        const Leaf l = leaf(scope, key);
        if (l.env_value) {
            if (*l.env_value == "true" || *l.env_value == "1") return true;
            if (*l.env_value == "false" || *l.env_value == "0") return false;
            fail_leaf(l, "must be true or false");
        }
        if (l.node == nullptr) return std::nullopt;
        if (!l.node->is_boolean()) fail_leaf(l, "must be true or false");
        return l.node->get<bool>();
    }

    void check_unused_env() const {
        for (const auto& [name, value] : env_) {
            if (name.rfind(kEnvPrefix, 0) == 0 && used_env_.count(name) == 0) {
                throw ConfigError(source_, name,
                                  "environment variable does not name a configuration field");
            }
        }
    }

    const std::string& source() const { return source_; }

private:
    const std::string& source_;
    const Environment& env_;
    std::set<std::string> used_env_;
};

bool valid_topic(const std::string& t) {
    static const std::regex re("^[A-Za-z0-9._-]{1,249}$");
    return std::regex_match(t, re);
}

bool valid_app_id(const std::string& id) {
    static const std::regex re("^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$");
    return std::regex_match(id, re);
}

std::string trim_trailing_slashes(std::string s) {
    while (!s.empty() && s.back() == '/') s.pop_back();
    return s;
}

void read_kafka(Reader& r, const Reader::Scope& root, KafkaConfig& kafka) {
    const auto scope = r.child(root, "kafka");
    r.check_known(scope, {"bootstrap_servers", "group_id", "group_instance_id", "topics", "embedded_broker",
                          "properties", "consumer_properties", "producer_properties", "secret_properties",
                          "connect_timeout_ms", "lost_timeout_ms"});
    if (auto v = r.get_string(scope, "bootstrap_servers")) kafka.bootstrap_servers = *v;
    if (auto v = r.get_string(scope, "group_id")) kafka.group_id = *v;
    if (kafka.group_id.empty()) r.fail({"kafka", "group_id"}, "must not be empty");
    if (auto v = r.get_string(scope, "group_instance_id")) kafka.group_instance_id = *v;
    static const std::regex instance_re("^[A-Za-z0-9._-]{1,249}$");
    if (!kafka.group_instance_id.empty() && !std::regex_match(kafka.group_instance_id, instance_re)) {
        r.fail({"kafka", "group_instance_id"}, "must be 1-249 characters of A-Z a-z 0-9 . _ - (one per worker)");
    }
    if (auto v = r.get_int(scope, "connect_timeout_ms", 100, 600000)) kafka.connect_timeout = std::chrono::milliseconds(*v);
    if (auto v = r.get_int(scope, "lost_timeout_ms", 1000, 600000)) kafka.lost_timeout = std::chrono::milliseconds(*v);

    const auto topics = r.child(scope, "topics");
    r.check_known(topics, {"events", "dead_letter"});
    if (auto v = r.get_string(topics, "events")) kafka.events_topic = *v;
    if (auto v = r.get_string(topics, "dead_letter")) kafka.dead_letter_topic = *v;
    if (!valid_topic(kafka.events_topic)) {
        r.fail({"kafka", "topics", "events"}, "must be 1-249 characters of A-Z a-z 0-9 . _ -");
    }
    if (!valid_topic(kafka.dead_letter_topic)) {
        r.fail({"kafka", "topics", "dead_letter"}, "must be 1-249 characters of A-Z a-z 0-9 . _ -");
    }
    if (kafka.events_topic == kafka.dead_letter_topic) {
        r.fail({"kafka", "topics", "dead_letter"}, "must differ from the events topic");
    }

    const auto embedded = r.child(scope, "embedded_broker");
    r.check_known(embedded, {"brokers", "events_partitions", "dead_letter_partitions"});
    if (auto v = r.get_int(embedded, "brokers", 1, 9)) kafka.embedded.brokers = static_cast<int>(*v);
    if (auto v = r.get_int(embedded, "events_partitions", 1, 256)) {
        kafka.embedded.events_partitions = static_cast<int>(*v);
    }
    if (auto v = r.get_int(embedded, "dead_letter_partitions", 1, 64)) {
        kafka.embedded.dead_letter_partitions = static_cast<int>(*v);
    }

    const auto read_props = [&](const char* name, std::map<std::string, std::string>& out) {
        const auto props = r.child(scope, name);
        if (props.node == nullptr) return;
        for (const auto& [key, value] : props.node->items()) {
            if (!value.is_string()) {
                r.fail({"kafka", name, key}, "librdkafka properties are strings");
            }
            if (key == "bootstrap.servers" || key == "group.id") {
                r.fail({"kafka", name, key}, "set it with kafka.bootstrap_servers / kafka.group_id instead");
            }
            if (key == "group.instance.id") r.fail({"kafka", name, key}, "set it with kafka.group_instance_id instead");
            if (is_secret_kafka_property(key)) {
                r.fail({"kafka", name, key}, R"(secrets are never written inline; give it in kafka.secret_properties as {"env": "VARIABLE"} or {"file": "/path"})");
            }
            out[key] = value.get<std::string>();
        }
    };
    read_props("properties", kafka.properties);
    read_props("consumer_properties", kafka.consumer_properties);
    read_props("producer_properties", kafka.producer_properties);

    const auto secrets = r.child(scope, "secret_properties");
    if (secrets.node == nullptr) return;
    constexpr const char* kShape = R"(must be {"env": "VARIABLE"} or {"file": "/path"})";
    for (const auto& [key, value] : secrets.node->items()) {
        const std::vector<std::string> path{"kafka", "secret_properties", key};
        if (key == "bootstrap.servers" || key == "group.id" || key == "group.instance.id") {
            r.fail(path, "not a secret; set it with kafka.bootstrap_servers / group_id / group_instance_id");
        }
        for (const auto* plain : {&kafka.properties, &kafka.consumer_properties, &kafka.producer_properties}) {
            if (plain->count(key) > 0) r.fail(path, "also given as a plain property; give it once");
        }
        if (!value.is_object()) r.fail(path, kShape);
        SecretRef ref;
        for (const auto& [field, v] : value.items()) {
            auto p = path;
            p.push_back(field);
            if (field != "env" && field != "file") r.fail(p, "unknown field (known fields here: env, file)");
            if (!v.is_string() || v.get<std::string>().empty()) r.fail(p, "must be a non-empty string");
            (field == "env" ? ref.env : ref.file) = v.get<std::string>();
        }
        if (ref.empty()) r.fail(path, kShape);
        if (!ref.env.empty() && !ref.file.empty()) r.fail(path, "give either env or file, not both");
        kafka.secret_properties[key] = ref;
    }
}

void parse_redis_url(Reader& r, const std::string& url, RedisConfig& redis) {
    static const std::regex re(R"(^redis://([^/:@]+)(?::(\d{1,5}))?(?:/(\d{1,2}))?/?$)");
    std::smatch m;
    if (url.find('@') != std::string::npos) {
        r.fail({"redis", "url"},
               "must not contain credentials; give the password with redis.password_env or "
               "redis.password_file");
    }
    if (!std::regex_match(url, m, re)) {
        r.fail({"redis", "url"}, "must look like redis://host:port/db, got \"" + url + "\"");
    }
    redis.host = m[1].str();
    if (m[2].matched) {
        const int port = std::stoi(m[2].str());
        if (port < 1 || port > 65535) r.fail({"redis", "url"}, "port must be 1-65535");
        redis.port = port;
    }
    if (m[3].matched) redis.database = std::stoi(m[3].str());
}

void read_secret_ref(Reader& r, const Reader::Scope& scope, const std::string& env_key,
                     const std::string& file_key, SecretRef& ref) {
    if (auto v = r.get_string(scope, env_key)) ref.env = *v;
    if (auto v = r.get_string(scope, file_key)) ref.file = *v;
    if (!ref.env.empty() && !ref.file.empty()) {
        auto p = scope.path;
        p.push_back(env_key);
        r.fail(p, "give either " + env_key + " or " + file_key + ", not both");
    }
}

void read_redis(Reader& r, const Reader::Scope& root, RedisConfig& redis) {
    const auto scope = r.child(root, "redis");
    r.check_known(scope, {"url", "password_env", "password_file", "key_prefix", "timeout_ms",
                          "dedupe_ttl_hours", "log_max_entries", "log_max_age_hours"});
    if (auto v = r.get_string(scope, "url")) parse_redis_url(r, *v, redis);
    read_secret_ref(r, scope, "password_env", "password_file", redis.password);
    if (auto v = r.get_string(scope, "key_prefix")) redis.key_prefix = *v;
    static const std::regex prefix_re("^[A-Za-z0-9_.-]{1,32}$");
    if (!std::regex_match(redis.key_prefix, prefix_re)) {
        r.fail({"redis", "key_prefix"}, "must be 1-32 characters of A-Z a-z 0-9 _ . -");
    }
    if (auto v = r.get_int(scope, "timeout_ms", 10, 600000)) redis.timeout = std::chrono::milliseconds(*v);
    if (auto v = r.get_int(scope, "dedupe_ttl_hours", 1, 24 * 366)) redis.dedupe_ttl = std::chrono::hours(*v);
    if (auto v = r.get_int(scope, "log_max_entries", 100, 100000000)) redis.log_max_entries = *v;
    if (auto v = r.get_int(scope, "log_max_age_hours", 1, 24 * 366)) redis.log_max_age = std::chrono::hours(*v);
}

void read_ops(Reader& r, const Reader::Scope& root, OpsConfig& ops) {
    const auto scope = r.child(root, "ops");
    if (scope.node != nullptr && scope.node->contains("token")) {
        r.fail({"ops", "token"}, "secrets are never written inline; name an environment variable with token_env or "
                                 "a file with token_file");
    }
    r.check_known(scope, {"listen", "token_env", "token_file"});
    read_secret_ref(r, scope, "token_env", "token_file", ops.token);
    const auto listen = r.get_string(scope, "listen");
    if (!listen) return;
    ops.listen_set = true;
    if (*listen == "off") {
        ops.enabled = false;
        return;
    }
    static const std::regex listen_re(R"(^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\]):([0-9]{1,5})$)");
    std::smatch m;
    if (!std::regex_match(*listen, m, listen_re) || std::stoi(m[2].str()) > 65535) {
        r.fail({"ops", "listen"}, "must be host:port (127.0.0.1:9740; port 0 for any free port) or \"off\", got \"" +
                                      *listen + "\"");
    }
    ops.host = m[1].str();
    if (ops.host.size() > 2 && ops.host.front() == '[') ops.host = ops.host.substr(1, ops.host.size() - 2);
    ops.port = std::stoi(m[2].str());
}

void read_notifications(Reader& r, const Reader::Scope& root, NotificationsConfig& out) {
    const auto scope = r.child(root, "notifications");
    r.check_known(scope, {"email", "webhook"});
    static const std::regex smtp_re(R"(^smtps?://[^\s/?#@]+(/[^\s?#]*)?$)");
    static const std::regex http_re(R"(^https?://[^\s/?#@]+(/[^\s#]*)?$)");
    static const std::regex address_re(R"(^[^\s@<>,;"]+@[^\s@<>,;"]+$)");
    const auto email = r.child(scope, "email");
    if (email.node != nullptr) {
        if (email.node->contains("password")) {
            r.fail({"notifications", "email", "password"}, "secrets are never written inline; use password_env or "
                                                           "password_file");
        }
        r.check_known(email, {"smtp_url", "from", "to", "username", "password_env", "password_file"});
        EmailNotificationConfig e;
        if (auto v = r.get_string(email, "smtp_url")) e.smtp_url = *v;
        if (!std::regex_match(e.smtp_url, smtp_re)) {
            r.fail({"notifications", "email", "smtp_url"}, "must be smtp://host:port or smtps://host:port, got \"" +
                                                               e.smtp_url + "\"");
        }
        if (auto v = r.get_string(email, "from")) e.from = *v;
        if (!std::regex_match(e.from, address_re)) {
            r.fail({"notifications", "email", "from"}, "must be an e-mail address, got \"" + e.from + "\"");
        }
        const auto it = email.node->find("to");
        if (it == email.node->end() || !it->is_array() || it->empty() || it->size() > 50) {
            r.fail({"notifications", "email", "to"}, "must be a list of 1-50 e-mail addresses");
        }
        for (const auto& a : *it) {
            if (!a.is_string() || !std::regex_match(a.get<std::string>(), address_re)) {
                r.fail({"notifications", "email", "to"}, "every entry must be an e-mail address, got " + a.dump());
            }
            e.to.push_back(a.get<std::string>());
        }
        if (auto v = r.get_string(email, "username")) e.username = *v;
        read_secret_ref(r, email, "password_env", "password_file", e.password);
        out.email = std::move(e);
    }
    const auto hook = r.child(scope, "webhook");
    if (hook.node != nullptr) {
        if (hook.node->contains("token")) {
            r.fail({"notifications", "webhook", "token"}, "secrets are never written inline; use token_env or "
                                                          "token_file");
        }
        r.check_known(hook, {"url", "token_env", "token_file"});
        WebhookNotificationConfig w;
        if (auto v = r.get_string(hook, "url")) w.url = *v;
        if (!std::regex_match(w.url, http_re)) {
            r.fail({"notifications", "webhook", "url"}, "must be an http:// or https:// URL without credentials, "
                                                        "got \"" + w.url + "\"");
        }
        read_secret_ref(r, hook, "token_env", "token_file", w.token);
        out.webhook = std::move(w);
    }
}

// An LDAP attribute description (RFC 4512): a name or an OID, with options (cn;lang-en).
constexpr const char* kLdapAttribute = R"((?:[A-Za-z][A-Za-z0-9-]*|[0-9]+(?:\.[0-9]+)+)(?:;[A-Za-z0-9-]+)*)";

bool is_ldap_attribute(const std::string& text) {
    static const std::regex one(std::string("^") + kLdapAttribute + "$");
    return std::regex_match(text, one);
}

// Read after the apps, so that an assignment can name only a configured app.
void read_sources(Reader& r, const Reader::Scope& root, Config& config) {
    const auto scope = r.child(root, "sources");
    r.check_known(scope, {"ldap"});
    const auto ldap = r.child(scope, "ldap");
    if (ldap.node == nullptr) return;
    const std::vector<std::string> at{"sources", "ldap"};
    auto field = [&](std::initializer_list<std::string> rest) {
        auto p = at;
        p.insert(p.end(), rest);
        return p;
    };
    if (ldap.node->contains("password")) {
        r.fail(field({"password"}), "secrets are never written inline; use password_env or password_file");
    }
    r.check_known(ldap, {"url", "start_tls", "tls_verify", "ca_file", "bind_dn", "password_env", "password_file",
                         "source", "users", "groups", "attributes", "assignments"});
    LdapSourceConfig out;
    static const std::regex url_re(R"(^(ldaps?)://[^\s/?#@]+/?$)");
    std::smatch m;
    if (auto v = r.get_string(ldap, "url")) out.url = *v;
    // Checked before the form, so a credential in the URL is never echoed in the message.
    if (out.url.find('@') != std::string::npos) {
        r.fail(field({"url"}), "must not hold credentials; use bind_dn and password_env or password_file");
    }
    if (!std::regex_match(out.url, m, url_re)) {
        r.fail(field({"url"}), "must be ldap://host:port or ldaps://host:port, got \"" + out.url + "\"");
    }
    if (out.url.back() == '/') out.url.pop_back();
    if (auto v = r.get_bool(ldap, "start_tls")) out.start_tls = *v;
    if (out.start_tls && m[1].str() == "ldaps") {
        r.fail(field({"start_tls"}), "is for ldap:// URLs; an ldaps:// connection is encrypted from the start");
    }
    if (auto v = r.get_bool(ldap, "tls_verify")) out.tls_verify = *v;
    if (auto v = r.get_string(ldap, "ca_file")) out.ca_file = *v;
    if (auto v = r.get_string(ldap, "bind_dn")) out.bind_dn = *v;
    read_secret_ref(r, ldap, "password_env", "password_file", out.password);
    const bool has_password = !out.password.env.empty() || !out.password.file.empty();
    if (out.bind_dn.empty() && has_password) r.fail(field({"bind_dn"}), "is needed when a password is given");
    if (!out.bind_dn.empty() && !has_password) {
        r.fail(field({"password_env"}), "a bind DN needs a password (password_env or password_file)");
    }
    out.source = "urn:ldap:" + out.url.substr(out.url.find("://") + 3);
    if (auto v = r.get_string(ldap, "source")) out.source = *v;
    if (out.source.empty()) r.fail(field({"source"}), "must not be empty");

    const auto users = r.child(ldap, "users");
    r.check_known(users, {"base_dn", "filter", "manager_attribute", "id_attribute"});
    if (auto v = r.get_string(users, "base_dn")) out.users_base_dn = *v;
    if (out.users_base_dn.empty()) r.fail(field({"users", "base_dn"}), "is required: where the users are");
    if (auto v = r.get_string(users, "filter")) out.users_filter = *v;
    const auto attribute_name = [&](const Reader::Scope& within, const std::string& section, const std::string& name,
                                    std::string& into) {
        if (auto v = r.get_string(within, name)) {
            if (!is_ldap_attribute(*v)) r.fail(field({section, name}), "must be one attribute name, got \"" + *v + "\"");
            into = *v;
        }
    };
    attribute_name(users, "users", "manager_attribute", out.manager_attribute);
    attribute_name(users, "users", "id_attribute", out.id_attribute);
    if (std::string id = out.id_attribute; !id.empty()) {
        std::transform(id.begin(), id.end(), id.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        if (id == "dn" || id == "distinguishedname" || id == "entrydn") {
            r.fail(field({"users", "id_attribute"}),
                   "must not be the DN, which changes on a rename; use entryUUID (the default) or another stable attribute");
        }
    }
    const auto groups = r.child(ldap, "groups");
    r.check_known(groups, {"base_dn", "filter", "member_attribute"});
    if (auto v = r.get_string(groups, "base_dn")) out.groups_base_dn = *v;
    if (auto v = r.get_string(groups, "filter")) out.groups_filter = *v;
    attribute_name(groups, "groups", "member_attribute", out.member_attribute);
    for (const auto* filter : {&out.users_filter, &out.groups_filter}) {
        if (filter->empty() || filter->front() != '(' || filter->back() != ')') {
            r.fail(field({filter == &out.users_filter ? "users" : "groups", "filter"}),
                   "must be an LDAP filter in parentheses (RFC 4515), got \"" + *filter + "\"");
        }
    }

    const auto attributes = r.child(ldap, "attributes");
    if (attributes.node != nullptr) {
        for (const auto& [name, value] : attributes.node->items()) {
            static const std::regex names_re(std::string("^(") + kLdapAttribute + "(\\|" + kLdapAttribute + ")*)?$");
            if (!value.is_string() || !std::regex_match(value.get<std::string>(), names_re)) {
                r.fail(field({"attributes", name}),
                       "must be a directory attribute name, alternatives \"a|b\" (the first the entry has), or \"\"");
                continue;
            }
            out.attributes[name] = value.get<std::string>();
        }
    }

    const auto lower = [](std::string v) {
        std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        v.erase(std::remove(v.begin(), v.end(), ' '), v.end());
        return v;
    };
    const auto it = ldap.node->find("assignments");
    if (it == ldap.node->end() || !it->is_array() || it->empty()) {
        r.fail(field({"assignments"}), "must list at least one {\"app\", \"group\"}: who is assigned to which app");
    }
    if (out.groups_base_dn.empty()) r.fail(field({"groups", "base_dn"}), "is required: where the app groups are");
    for (std::size_t i = 0; i < it->size(); ++i) {
        const Reader::Scope item{&(*it)[i], field({"assignments", "[" + std::to_string(i) + "]"}), {}};
        r.expect_object(item);
        r.check_known(item, {"app", "group", "role", "role_attribute"});
        LdapAssignmentConfig a;
        if (auto v = r.get_string(item, "app")) a.app = *v;
        if (config.find_app(a.app) == nullptr) {
            auto p = item.path;
            p.push_back("app");
            r.fail(p, "names no configured app: \"" + a.app + "\"");
        }
        if (auto v = r.get_string(item, "group")) a.group_dn = *v;
        const auto group = lower(a.group_dn), base = lower(out.groups_base_dn);
        if (group.size() <= base.size() || group.compare(group.size() - base.size(), base.size(), base) != 0 ||
            group[group.size() - base.size() - 1] != ',') {
            auto p = item.path;
            p.push_back("group");
            r.fail(p, "must be a group DN under sources.ldap.groups.base_dn (" + out.groups_base_dn +
                          "), which is all the source reads, got \"" + a.group_dn + "\"");
        }
        if (auto v = r.get_string(item, "role")) a.role = *v;
        if (auto v = r.get_string(item, "role_attribute")) {
            if (!is_ldap_attribute(*v)) {
                auto p = item.path;
                p.push_back("role_attribute");
                r.fail(p, "must be one attribute name, got \"" + *v + "\"");
            }
            a.role_attribute = *v;
        }
        if (a.role && !a.role_attribute.empty()) {
            auto p = item.path;
            p.push_back("role");
            r.fail(p, "give either role or role_attribute, not both");
        }
        for (const auto& earlier : out.assignments) {
            if (earlier.app == a.app) {
                auto p = item.path;
                p.push_back("app");
                r.fail(p, "\"" + a.app + "\" is assigned by an earlier entry already; one app group per app");
            }
        }
        out.assignments.push_back(std::move(a));
    }
    config.sources.ldap = std::move(out);
}

void read_worker(Reader& r, const Reader::Scope& root, WorkerConfig& worker) {
    const auto scope = r.child(root, "worker");
    r.check_known(scope, {"concurrency", "max_in_flight", "max_event_bytes", "max_event_depth", "spill_after_ms"});
    if (auto v = r.get_int(scope, "spill_after_ms", 10, 3600000)) worker.spill_after = std::chrono::milliseconds(*v);
    if (auto v = r.get_int(scope, "concurrency", 1, 256)) worker.concurrency = static_cast<int>(*v);
    if (auto v = r.get_int(scope, "max_event_bytes", 1024, 64 * 1024 * 1024)) {
        worker.max_event_bytes = static_cast<std::size_t>(*v);
    }
    if (auto v = r.get_int(scope, "max_event_depth", 4, kMaxJsonDepth)) worker.max_event_depth = static_cast<int>(*v);
    if (auto v = r.get_int(scope, "max_in_flight", 1, 100000)) worker.max_in_flight = static_cast<int>(*v);
    if (worker.max_in_flight < worker.concurrency) {
        r.fail({"worker", "max_in_flight"}, "must be at least worker.concurrency (" +
                                                std::to_string(worker.concurrency) + ")");
    }
}

void read_retry(Reader& r, const Reader::Scope& root, RetryConfig& retry) {
    const auto scope = r.child(root, "retry");
    r.check_known(scope, {"base_delay_ms", "max_delay_ms", "max_attempts", "max_age_minutes", "lease_ms",
                          "poll_interval_ms"});
    using std::chrono::milliseconds;
    if (auto v = r.get_int(scope, "base_delay_ms", 1, 3600000)) retry.base_delay = milliseconds(*v);
    if (auto v = r.get_int(scope, "max_delay_ms", 1, 24LL * 3600000)) retry.max_delay = milliseconds(*v);
    if (auto v = r.get_int(scope, "max_attempts", 1, 1000)) retry.max_attempts = static_cast<int>(*v);
    if (auto v = r.get_int(scope, "max_age_minutes", 1, 30LL * 24 * 60)) retry.max_age = milliseconds(*v * 60000);
    if (auto v = r.get_int(scope, "lease_ms", 1000, 3600000)) retry.lease = milliseconds(*v);
    if (auto v = r.get_int(scope, "poll_interval_ms", 10, 60000)) retry.poll_interval = milliseconds(*v);
    if (retry.max_delay < retry.base_delay) {
        r.fail({"retry", "max_delay_ms"}, "must be at least retry.base_delay_ms (" +
                                              std::to_string(retry.base_delay.count()) + ")");
    }
}

void read_quarantine(Reader& r, const Reader::Scope& root, QuarantineConfig& q) {
    const auto scope = r.child(root, "quarantine");
    r.check_known(scope, {"failure_percent", "min_operations", "window_seconds", "probe_intervals_seconds"});
    if (auto v = r.get_int(scope, "failure_percent", 1, 100)) q.failure_ratio = static_cast<double>(*v) / 100.0;
    if (auto v = r.get_int(scope, "min_operations", 1, 1000000)) q.min_operations = static_cast<int>(*v);
    if (auto v = r.get_int(scope, "window_seconds", 10, 86400)) q.window = std::chrono::milliseconds(*v * 1000);
    if (scope.node != nullptr && scope.node->is_object() && scope.node->contains("probe_intervals_seconds")) {
        const json& list = (*scope.node)["probe_intervals_seconds"];
        const std::vector<std::string> field = {"quarantine", "probe_intervals_seconds"};
        if (!list.is_array() || list.empty() || list.size() > 20) r.fail(field, "must be a list of 1-20 numbers of seconds");
        q.probe_intervals.clear();
        for (const auto& v : list) {
            if (!v.is_number_integer() || v.get<std::int64_t>() < 1 || v.get<std::int64_t>() > 86400) {
                r.fail(field, "every interval must be a whole number of seconds, 1-86400");
            }
            q.probe_intervals.emplace_back(v.get<std::int64_t>() * 1000);
        }
    }
}

// A claimed retry whose lease ran out while its worker was still sending would be claimed
// again and sent twice at once, so a lease must outlast the longest event: up to four SCIM calls
// (find, create, find after a conflict, update), each bounded by the app's timeouts.
std::chrono::milliseconds longest_event(const Config& config) {
    std::chrono::milliseconds longest{0};
    for (const auto& app : config.apps) longest = std::max(longest, 4 * (app.scim.connect_timeout + app.scim.timeout));
    return longest;
}

void check_retry_lease(Reader& r, Config& config) {
    const auto longest = longest_event(config);
    if (config.retry.lease.count() == 0) {
        config.retry.lease = effective_retry_lease(config);
    } else if (config.retry.lease < longest) {
        r.fail({"retry", "lease_ms"}, "must be at least " + std::to_string(longest.count()) +
                                          " (4 x (connect_timeout_ms + timeout_ms) of the slowest app)");
    }
}

std::string read_file(const std::string& path, bool& ok);

std::string directory_of(const std::string& path) {
    const auto slash = path.rfind('/');
    return slash == std::string::npos ? std::string(".") : path.substr(0, slash);
}

// Mappings and scoping are interpreted by transforms; here only their shape is checked and the
// mappings file (relative to the configuration file) is read.
void read_fragments(Reader& r, const Reader::Scope& scope, AppConfig& app) {
    const auto field = [&](const char* name) {
        auto p = scope.path;
        p.emplace_back(name);
        return display_path(p);
    };
    const auto object_of_lists = [&](const nlohmann::json& doc, const std::vector<std::string>& path) {
        if (!doc.is_object()) r.fail(path, "must be an object with \"users\" and/or \"groups\" lists");
        for (const auto& [key, value] : doc.items()) {
            auto p = path;
            p.push_back(key);
            if (key != "users" && key != "groups") r.fail(p, "unknown object type (use users or groups)");
            if (!value.is_array()) r.fail(p, "must be a list");
        }
    };
    const auto mappings = scope.node->find("mappings");
    const auto mappings_file = r.get_string(Reader::Scope{scope.node, scope.path, {"apps", app.id}}, "mappings_file");
    if (mappings != scope.node->end() && !mappings->is_null() && mappings_file) {
        auto p = scope.path;
        p.emplace_back("mappings_file");
        r.fail(p, "give either mappings or mappings_file, not both");
    }
    if (mappings != scope.node->end() && !mappings->is_null()) {
        auto p = scope.path;
        p.emplace_back("mappings");
        object_of_lists(*mappings, p);
        app.mappings = ConfigFragment{*mappings, r.source(), field("mappings")};
    } else if (mappings_file) {
        std::string path = *mappings_file;
        if (!path.empty() && path.front() != '/') path = directory_of(r.source()) + "/" + path;
        bool ok = false;
        const std::string text = read_file(path, ok);
        auto p = scope.path;
        p.emplace_back("mappings_file");
        if (!ok) r.fail(p, "cannot read " + path);
        auto doc = parse_json(text, /*allow_comments=*/true);
        if (!doc) throw ConfigError(path, "(document)", doc.error().message);
        static const Environment kNoOverrides;
        Reader file_reader(path, kNoOverrides);
        file_reader.check_known(Reader::Scope{&*doc, {}, {}}, {"users", "groups"});
        if (!doc->is_object()) throw ConfigError(path, "(document)", "must be an object with users and/or groups lists");
        for (const auto& [key, value] : doc->items()) {
            if (!value.is_array()) throw ConfigError(path, key, "must be a list");
        }
        app.mappings = ConfigFragment{std::move(*doc), path, ""};
    }
    const auto scoping = scope.node->find("scoping");
    if (scoping != scope.node->end() && !scoping->is_null()) {
        auto p = scope.path;
        p.emplace_back("scoping");
        object_of_lists(*scoping, p);
        app.scoping = ConfigFragment{*scoping, r.source(), field("scoping")};
    }
}

void read_rate_limit(Reader& r, const Reader::Scope& app_scope, RateLimitConfig& limit) {
    const auto scope = r.child(app_scope, "rate_limit");
    r.check_known(scope, {"requests_per_second", "burst"});
    if (auto v = r.get_int(scope, "requests_per_second", 0, 100000)) limit.requests_per_second = static_cast<int>(*v);
    const auto burst = r.get_int(scope, "burst", 1, 1000000);
    if (burst && limit.requests_per_second == 0) {
        auto p = scope.path;
        p.emplace_back("burst");
        r.fail(p, "needs rate_limit.requests_per_second (without a limit there is no burst to set)");
    }
    limit.burst = burst ? static_cast<int>(*burst) : std::max(1, limit.requests_per_second);
}

AppConfig read_app(Reader& r, const Reader::Scope& scope) {
    AppConfig app;
    r.check_known(scope, {"id", "profile", "max_in_flight", "max_queued", "member_batch", "reference_timeout_seconds", "scim", "skip_default_access",
                          "unassign_action", "scope", "skip_out_of_scope_deletions", "deletion_threshold", "hard_delete_after_days", "mappings",
                          "mappings_file", "scoping", "rate_limit", "dry_run"});
    const auto id = r.get_string(scope, "id");
    if (!id || id->empty()) {
        auto p = scope.path;
        p.emplace_back("id");
        r.fail(p, "is required");
    }
    app.id = *id;
    if (!valid_app_id(app.id)) {
        auto p = scope.path;
        p.emplace_back("id");
        r.fail(p, "must be 1-64 characters of A-Z a-z 0-9 . _ - starting with a letter or digit");
    }
    // Environment overrides for an app address it by id, not by position.
    Reader::Scope named{scope.node, scope.path, {"apps", app.id}};
    // The profile name is checked against the shipped profiles by transforms::build_app_profile.
    if (auto v = r.get_string(named, "profile")) app.profile = *v;
    if (auto v = r.get_int(named, "max_in_flight", 1, 256)) app.max_in_flight = static_cast<int>(*v);
    if (auto v = r.get_int(named, "max_queued", 1, 100000)) app.max_queued = static_cast<int>(*v);
    if (auto v = r.get_int(named, "member_batch", 1, 1000)) app.member_batch = static_cast<int>(*v);
    if (auto v = r.get_int(named, "reference_timeout_seconds", 1, 7 * 24 * 3600)) {
        app.reference_timeout_seconds = static_cast<int>(*v);
    }
    if (auto v = r.get_bool(named, "skip_default_access")) app.skip_default_access = *v;
    if (auto v = r.get_bool(named, "skip_out_of_scope_deletions")) app.skip_out_of_scope_deletions = *v;
    if (auto v = r.get_bool(named, "dry_run")) app.dry_run = *v;
    read_fragments(r, scope, app);
    read_rate_limit(r, named, app.rate_limit);
    const auto threshold = r.child(named, "deletion_threshold");
    r.check_known(threshold, {"max_operations", "max_percent", "window_minutes"});
    if (auto v = r.get_int(threshold, "max_operations", 0, 1000000)) app.deletion_threshold.max_operations = *v;
    if (auto v = r.get_int(threshold, "max_percent", 0, 100)) app.deletion_threshold.max_percent = *v;
    if (auto v = r.get_int(threshold, "window_minutes", 1, 7 * 24 * 60)) {
        app.deletion_threshold.window = std::chrono::minutes(*v);
    }
    if (auto v = r.get_int(named, "hard_delete_after_days", 0, 3650)) app.hard_delete_after_days = static_cast<int>(*v);
    if (auto v = r.get_string(named, "unassign_action")) {
        if (*v == "disable") {
            app.unassign_action = UnassignAction::Disable;
        } else if (*v == "delete") {
            app.unassign_action = UnassignAction::Delete;
        } else {
            auto p = scope.path;
            p.emplace_back("unassign_action");
            r.fail(p, "must be \"disable\" or \"delete\"");
        }
    }

    if (auto v = r.get_string(named, "scope")) {
        if (*v == "assigned") {
            app.scope = SyncScope::Assigned;
        } else if (*v == "all") {
            app.scope = SyncScope::All;
        } else {
            auto p = scope.path;
            p.emplace_back("scope");
            r.fail(p, "must be \"assigned\" (only users and groups assigned to the app) or \"all\"");
        }
    }

    const auto scim = r.child(named, "scim");
    if (scim.node != nullptr && scim.node->contains("token")) {
        auto p = scim.path;
        p.emplace_back("token");
        r.fail(p, "secrets are never written inline; name an environment variable with "
                  "token_env or a file with token_file");
    }
    r.check_known(scim, {"base_url", "token_env", "token_file", "connect_timeout_ms",
                         "timeout_ms", "verify_tls", "ca_file"});
    if (auto v = r.get_string(scim, "base_url")) app.scim.base_url = trim_trailing_slashes(*v);
    static const std::regex url_re(R"(^https?://[^\s/?#]+(/[^\s?#]*)?$)");
    if (app.scim.base_url.empty()) {
        auto p = scim.path;
        p.emplace_back("base_url");
        r.fail(p, "is required");
    }
    if (!std::regex_match(app.scim.base_url, url_re)) {
        auto p = scim.path;
        p.emplace_back("base_url");
        r.fail(p, "must be an http:// or https:// URL without query, got \"" + app.scim.base_url + "\"");
    }
    if (app.scim.base_url.find('@') != std::string::npos) {
        auto p = scim.path;
        p.emplace_back("base_url");
        r.fail(p, "must not carry credentials; use token_env or token_file");
    }
    read_secret_ref(r, scim, "token_env", "token_file", app.scim.token);
    if (app.scim.token.empty()) {
        auto p = scim.path;
        p.emplace_back("token_env");
        r.fail(p, "the SCIM bearer token is required: set token_env (an environment variable "
                  "name) or token_file (a file path)");
    }
    if (auto v = r.get_int(scim, "connect_timeout_ms", 100, 600000)) {
        app.scim.connect_timeout = std::chrono::milliseconds(*v);
    }
    if (auto v = r.get_int(scim, "timeout_ms", 100, 600000)) app.scim.timeout = std::chrono::milliseconds(*v);
    if (auto v = r.get_bool(scim, "verify_tls")) app.scim.verify_tls = *v;
    if (auto v = r.get_string(scim, "ca_file")) app.scim.ca_file = *v;
    return app;
}

void read_apps(Reader& r, const json& root, Config& config) {
    const auto it = root.find("apps");
    if (it == root.end() || it->is_null()) {
        r.fail({"apps"}, "is required: list the target applications");
    }
    if (!it->is_array() || it->empty()) {
        r.fail({"apps"}, "must be a non-empty array of applications");
    }
    std::set<std::string> ids;
    for (std::size_t i = 0; i < it->size(); ++i) {
        Reader::Scope scope{&(*it)[i], {"apps", "[" + std::to_string(i) + "]"}, {}};
        r.expect_object(scope);
        AppConfig app = read_app(r, scope);
        if (!ids.insert(app.id).second) {
            r.fail({"apps", "[" + std::to_string(i) + "]", "id"}, "duplicate app id \"" + app.id + "\"");
        }
        config.apps.push_back(std::move(app));
    }
}

std::string read_file(const std::string& path, bool& ok) {
    std::ifstream in(path, std::ios::binary);
    ok = static_cast<bool>(in);
    if (!ok) return {};
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

}  // namespace

ConfigError::ConfigError(std::string file, std::string field, std::string reason)
    : std::runtime_error(file + ": " + field + ": " + reason),
      file_(std::move(file)),
      field_(std::move(field)),
      reason_(std::move(reason)) {}

Environment current_environment() {
    Environment env;
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
        const std::string_view entry(*e);
        const auto eq = entry.find('=');
        if (eq != std::string_view::npos) {
            env.emplace(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
        }
    }
    return env;
}

std::string RedisConfig::url() const {
    return "redis://" + host + ":" + std::to_string(port) + "/" + std::to_string(database);
}

const AppConfig* Config::find_app(std::string_view id) const {
    for (const auto& app : apps) {
        if (app.id == id) return &app;
    }
    return nullptr;
}

std::string env_name_for(const std::vector<std::string>& path) {
    std::string name(kEnvPrefix);
    for (std::size_t i = 0; i < path.size(); ++i) {
        if (i > 0) name += "__";
        name += upper_token(path[i]);
    }
    return name;
}

Config parse_config(std::string_view text, const std::string& source, const Environment& env) {
    auto parsed = parse_json(text, /*allow_comments=*/true);
    if (!parsed) {
        throw ConfigError(source, "(document)", parsed.error().message);
    }
    const json& root = *parsed;
    Reader r(source, env);
    if (!root.is_object()) {
        r.fail({"(document)"}, "must be a JSON object");
    }
    Config config;
    config.source = source;
    const Reader::Scope top{&root, {}, {}};
    r.check_known(top, {"kafka", "redis", "worker", "retry", "quarantine", "ops", "notifications", "sources", "apps"});
    read_kafka(r, top, config.kafka);
    read_redis(r, top, config.redis);
    read_worker(r, top, config.worker);
    read_retry(r, top, config.retry);
    read_quarantine(r, top, config.quarantine);
    read_ops(r, top, config.ops);
    read_notifications(r, top, config.notifications);
    read_apps(r, root, config);
    read_sources(r, top, config);
    check_retry_lease(r, config);
    r.check_unused_env();
    return config;
}

Config load_config(const std::string& path, const Environment& env) {
    bool ok = false;
    const std::string text = read_file(path, ok);
    if (!ok) {
        throw ConfigError(path, "(file)", "cannot be read");
    }
    return parse_config(text, path, env);
}

std::string resolve_secret(const SecretRef& ref, const Environment& env, const std::string& source,
                           const std::string& field) {
    if (!ref.env.empty()) {
        const auto it = env.find(ref.env);
        if (it == env.end() || it->second.empty()) {
            throw ConfigError(source, field + "_env",
                              "environment variable " + ref.env + " is not set or empty");
        }
        return it->second;
    }
    if (!ref.file.empty()) {
        bool ok = false;
        std::string value = read_file(ref.file, ok);
        if (!ok) {
            throw ConfigError(source, field + "_file", "cannot read " + ref.file);
        }
        while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) value.pop_back();
        if (value.empty()) {
            throw ConfigError(source, field + "_file", ref.file + " is empty");
        }
        return value;
    }
    throw ConfigError(source, field + "_env", "no secret configured");
}

std::string OpsConfig::listen_text() const {
    if (!enabled) return "off";
    const bool v6 = host.find(':') != std::string::npos;
    return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

bool is_secret_kafka_property(std::string_view name) {
    std::string lower(name);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    // Named: librdkafka's key material and Java-style JAAS lines; by pattern: whatever a
    // future librdkafka calls a password or a secret.
    static const std::set<std::string, std::less<>> kNamed{"ssl.key.pem", "ssl_key", "sasl.oauthbearer.config",
                                                           "sasl.jaas.config", "ssl.keystore.password",
                                                           "ssl.key.password", "sasl.password",
                                                           "sasl.oauthbearer.client.secret"};
    return kNamed.count(lower) > 0 || lower.find("password") != std::string::npos ||
           lower.find("secret") != std::string::npos;
}

std::map<std::string, std::string> resolve_kafka_secrets(const Config& config, const Environment& env) {
    std::map<std::string, std::string> out;
    for (const auto& [name, ref] : config.kafka.secret_properties) {
        const std::string field = "kafka.secret_properties." + name;
        try {
            out[name] = resolve_secret(ref, env, config.source, field);
        } catch (const ConfigError& e) {
            // resolve_secret names fields the SCIM way (<field>_env); these are <field>.env.
            throw ConfigError(e.file(), field + (ref.env.empty() ? ".file" : ".env"), e.reason());
        }
    }
    return out;
}

std::string resolve_ops_token(const Config& config, const Environment& env) {
    if (config.ops.token.empty()) return {};
    return resolve_secret(config.ops.token, env, config.source, "ops.token");
}

std::string resolve_ldap_password(const Config& config, const Environment& env) {
    if (!config.sources.ldap || config.sources.ldap->password.empty()) return {};
    return resolve_secret(config.sources.ldap->password, env, config.source, "sources.ldap.password");
}

NotificationSecrets resolve_notification_secrets(const Config& config, const Environment& env) {
    NotificationSecrets out;
    const auto& n = config.notifications;
    if (n.email && !n.email->password.empty()) {
        out.smtp_password = resolve_secret(n.email->password, env, config.source, "notifications.email.password");
    }
    if (n.webhook && !n.webhook->token.empty()) {
        out.webhook_token = resolve_secret(n.webhook->token, env, config.source, "notifications.webhook.token");
    }
    return out;
}

std::string resolve_app_token(const Config& config, const AppConfig& app, const Environment& env) {
    std::size_t index = 0;
    for (; index < config.apps.size(); ++index) {
        if (&config.apps[index] == &app) break;
    }
    return resolve_secret(app.scim.token, env, config.source,
                          "apps[" + std::to_string(index) + "].scim.token");
}

std::chrono::milliseconds effective_retry_lease(const Config& config) {
    if (config.retry.lease.count() > 0) return config.retry.lease;
    return std::max(longest_event(config), std::chrono::milliseconds(10000));
}

}  // namespace provbridge
