#include "record_harness.hpp"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <tuple>
#include <utility>

#include <nlohmann/json.hpp>

#include "fake_random.hpp"
#include "fakes.hpp"
#include "provbridge/core/config.hpp"
#include "provbridge/core/event.hpp"
#include "provbridge/core/outcome.hpp"
#include "provbridge/core/redact.hpp"

namespace provbridge::fuzz {
namespace {

using nlohmann::json;

constexpr std::string_view kSeparator = "\n%%\n";
constexpr std::string_view kUserSchema = "urn:ietf:params:scim:schemas:core:2.0:User";
constexpr std::string_view kListSchema = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
constexpr std::string_view kErrorSchema = "urn:ietf:params:scim:api:messages:2.0:Error";
// Deep enough to overflow any recursive parser or serialiser of a response body.
constexpr std::size_t kHostileResponseDepth = 100'000;

// The apps' SCIM token, which a target may quote back; it must reach no outcome, dead letter or
// link (the processor's redactor knows it, as the worker's does). It is derived from the input
// (a hash of it), so that no input can carry it: libFuzzer learns the strings the redactor
// searches for and writes them into events, where a token would be the event's own data
// (an object id, a userName) and rightly kept.
std::string token_for(std::string_view input) {
    std::uint64_t hash = 14695981039346656037ULL;  // FNV-1a
    for (const unsigned char c : input) hash = (hash ^ c) * 1099511628211ULL;
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(hash));
    return std::string("fuzz-t0ken/") + hex + "+S3cret";
}

// The same token as a JSON string body quotes it when it escapes '/' as "\/".
std::string json_escaped_slashes(std::string_view text) {
    std::string out;
    for (const char c : text) {
        if (c == '/') out += '\\';
        out += c;
    }
    return out;
}

// Violation messages quote user data; a 1 MiB value must not become a 1 MiB report.
std::string clip(std::string_view text, std::size_t limit = 200) {
    if (text.size() <= limit) return std::string(text);
    return std::string(text.substr(0, limit)) + "…(" + std::to_string(text.size()) + " bytes)";
}

// The script a record's SCIM answers come from; shared by every app's client of one run,
// because only the event's own app may be called (which the invariants check).
struct Script {
    std::string letters;
    std::size_t next = 0;
    std::string token;  // what the 'u' and 'v' answers quote back
};

ScimResponse http(long status, std::string body = {}) {
    ScimResponse response;
    response.status = status;
    response.body = std::move(body);
    return response;
}

ScimResponse scim_error(long status, const std::string& detail, const std::string& scim_type = {}) {
    json body = {{"schemas", {kErrorSchema}}, {"status", std::to_string(status)}, {"detail", detail}};
    if (!scim_type.empty()) body["scimType"] = scim_type;
    return http(status, body.dump(-1, ' ', false, json::error_handler_t::replace));
}

ScimResponse list_of(const json& resources, std::int64_t total) {
    json body = {{"schemas", {kListSchema}},
                 {"totalResults", total},
                 {"startIndex", 1},
                 {"itemsPerPage", resources.size()},
                 {"Resources", resources}};
    return http(200, body.dump(-1, ' ', false, json::error_handler_t::replace));
}

ScimResponse transport(TransportStatus status, std::string error) {
    ScimResponse response;
    response.transport = status;
    response.transport_error = std::move(error);
    return response;
}

// A SCIM app in memory: keeps what was created, and answers each request as the script's
// next letter says (tests/fuzz/README.md lists them); any other letter, or none left, gets
// the answer a well-behaved app would give.
class ScriptedScimClient final : public ScimClient {
public:
    explicit ScriptedScimClient(Script& script) : script_(script) {}

    ScimResponse send(const ScimRequest& request) override {
        requests.push_back(request);
        // Serialised as CurlScimClient does: dump() refuses strings that are not UTF-8, which
        // that client reports as a transport failure.
        std::string body;
        if (request.body) {
            try {
                body = request.body->dump();
            } catch (const json::exception& e) {
                return transport(TransportStatus::Failed, std::string("request body cannot be serialised: ") + e.what());
            }
        }
        const char letter = script_.next < script_.letters.size() ? script_.letters[script_.next] : '\0';
        ++script_.next;
        return answer(letter, request, body);
    }

    std::vector<ScimRequest> requests;

private:
    // The value of `<attribute> eq <literal>`, as the app would read it.
    static json filter_value(const ScimRequest& request) {
        for (const auto& [name, value] : request.query) {
            if (name != "filter") continue;
            const auto eq = value.find(" eq ");
            if (eq == std::string::npos) return nullptr;
            return json::parse(value.substr(eq + 4), nullptr, false);
        }
        return nullptr;
    }

    json stored_or_synthesised(const ScimRequest& request) {
        const json wanted = filter_value(request);
        for (const auto& [id, resource] : resources_) {
            if (resource.value("userName", json()) == wanted) return resource;
        }
        return {{"schemas", {kUserSchema}}, {"id", "found-" + std::to_string(++ids_)}, {"userName", wanted},
                {"active", true}};
    }

    json created(const ScimRequest& request) {
        json resource = request.body && request.body->is_object() ? *request.body : json::object();
        resource["id"] = "scim-" + std::to_string(++ids_);
        resource["meta"] = {{"resourceType", "User"}};
        resources_[resource["id"].get<std::string>()] = resource;
        return resource;
    }

    ScimResponse plausible(const ScimRequest& request) {
        switch (request.method) {
            case HttpMethod::Get:
                if (filter_value(request).is_null()) return scim_error(404, "Resource " + request.path + " not found");
                return list_of(json::array(), 0);
            case HttpMethod::Post:
                return http(201, created(request).dump(-1, ' ', false, json::error_handler_t::replace));
            case HttpMethod::Put:
            case HttpMethod::Patch:
                return http(200, json{{"schemas", {kUserSchema}}, {"id", request.path.substr(request.path.rfind('/') + 1)}}
                                     .dump(-1, ' ', false, json::error_handler_t::replace));
            case HttpMethod::Delete:
                return http(204);
        }
        return http(500);
    }

    ScimResponse answer(char letter, const ScimRequest& request, const std::string& body) {
        switch (letter) {
            case 'E': return list_of(json::array(), 0);
            case 'L': return list_of(json::array({stored_or_synthesised(request)}), 1);
            case 'D': {
                json first = stored_or_synthesised(request);
                json second = first;
                second["id"] = "dup-" + std::to_string(++ids_);
                return list_of(json::array({first, second}), 2);
            }
            case 'T': return list_of(json::array(), 3);  // a total that disagrees with Resources
            case 'M':  // a resource whose attributes have the wrong types
                return list_of(json::array({{{"id", "bad-" + std::to_string(++ids_)},
                                             {"userName", json::array({"x"})},
                                             {"active", "yes"},
                                             {"name", "not an object"},
                                             {"emails", {{"type", "work"}}},
                                             {"phoneNumbers", 7},
                                             {std::string(kUserSchema), nullptr}}}),
                               1);
            case 'I': {  // an id taken from user data: it ends up in the next request's path
                json resource = stored_or_synthesised(request);
                const json wanted = filter_value(request);
                resource["id"] = wanted.is_string() ? wanted : json("?#%/../x y");
                return list_of(json::array({resource}), 1);
            }
            case 'K': return list_of(json::array({{{"id", 42}, {"userName", "n"}}}), 1);
            case 'C': return http(201, created(request).dump(-1, ' ', false, json::error_handler_t::replace));
            case 'c': return http(201, "{}");
            case 'O': return http(200, json{{"id", "x"}}.dump());
            case 'N': return http(204);
            case 'G': return http(200, "<html><body>Service temporarily unavailable</body></html>");
            case 'H': return http(200, R"({"totalResults":"many","Resources":{"id":"x"}})");
            case 'A': return http(200, "[1,2,3]");
            case 'J': return http(200, std::string(kHostileResponseDepth, '[') + std::string(kHostileResponseDepth, ']'));
            case '4': return scim_error(404, "Resource " + request.path + " not found");
            case 'X': return scim_error(409, "userName " + clip(body, 4096) + " is already taken", "uniqueness");
            case 'B': return scim_error(400, "rejected: " + body, "invalidValue");
            case 'P': return scim_error(400, "invalid path in " + body, "invalidPath");
            case 'Q': return scim_error(422, "unprocessable");
            case 'e': return http(400, R"({"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"detail":{"x":"y"},"status":400,"scimType":7})");
            case 'U': return scim_error(401, "token expired");
            // Targets that quote the Authorization header back: raw, and JSON-escaped with \/.
            case 'u': return scim_error(401, "bad credentials: Authorization: Bearer " + script_.token);
            case 'v':
                return http(400, R"({"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"400",)"
                                 R"("detail":"you sent Bearer )" + json_escaped_slashes(script_.token) + R"("})");
            case 'F': return scim_error(403, "insufficient rights");
            case 'R': {
                auto response = scim_error(429, "slow down");
                response.retry_after = "120";
                return response;
            }
            case 'r': {
                auto response = scim_error(429, "slow down");
                response.retry_after = "Wed, 21 Oct 2015 07:28:00 GMT";
                return response;
            }
            case 'S': return http(500, "<html>Internal Server Error</html>");
            case 'V': return scim_error(503, "maintenance");
            case '3': return http(302, "");
            case '1': return http(100, "");
            case 'W': return transport(TransportStatus::Timeout, "Operation timed out after 30000 milliseconds");
            case 'Z': return transport(TransportStatus::ConnectFailed, "Connection refused");
            case 'Y': return transport(TransportStatus::TlsError, "SSL certificate problem");
            default: return plausible(request);
        }
    }

    Script& script_;
    std::map<std::string, json> resources_;
    int ids_ = 0;
};

std::string_view after_one_space(std::string_view s) {
    if (!s.empty() && s.front() == ' ') s.remove_prefix(1);
    return s;
}

AppConfig app(std::string id, std::string profile) {
    AppConfig a;
    a.id = std::move(id);
    a.profile = std::move(profile);
    a.scim.base_url = "https://" + a.id + ".example/scim/v2";
    return a;
}

Config fuzz_config() {
    Config config;
    config.source = "fuzz.json";

    // generic, with every kind of row: expressions over strings (byte-level Left/Mid,
    // diacritics, regex Replace, Split), a constant, on_create with a default, a unique-value
    // lookup in the target, and scoping with a regex, a comparison and a boolean.
    AppConfig demo = app("demo", "generic");
    demo.mappings = ConfigFragment{
        json::parse(R"json({"users": [
          {"target": "displayName", "type": "expression",
           "expression": "IIF(IsNullOrEmpty([displayName]), Join(\" \", [givenName], [surname]), [displayName])"},
          {"target": "externalId", "type": "expression", "expression": "ToLower(NormalizeDiacritics(Left([mailNickname], 12)))"},
          {"target": "nickName", "type": "expression", "apply": "on_create",
           "expression": "SelectUniqueValue(Join(\"@\", ToLower(StripSpaces([mailNickname])), \"contoso.com\"), Join(\"@\", Append(Mid([givenName], 1, 3), Mid([surname], 1, 5)), \"contoso.com\"))"},
          {"target": "title", "type": "expression", "expression": "Replace([jobTitle], , \"[ \\t]+\", , \" \", , )"},
          {"target": "userType", "type": "constant", "value": "Employee"},
          {"target": "preferredLanguage", "source": "preferredLanguage", "apply": "on_create", "default": "en-US"},
          {"target": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter", "type": "expression",
           "expression": "Item(Split([extensionAttribute1], \",\"), 1)"},
          {"target": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:division", "type": "expression",
           "expression": "Switch([department], PCase([department]), \"R&D\", \"Research\", \"Ops\", \"Operations\")"}
        ] })json"),
        "fuzz.json", "apps[0].mappings"};
    demo.scoping = ConfigFragment{
        json::parse(R"json({"users": [
          {"name": "contoso staff", "clauses": [
            {"attribute": "userPrincipalName", "operator": "REGEX MATCH", "value": "^[^@]+@contoso\\.com$"},
            {"attribute": "accountEnabled", "operator": "NOT EQUALS", "value": "false"}]},
          {"name": "senior sales", "clauses": [
            {"attribute": "department", "operator": "EQUALS", "value": "Sales"},
            {"attribute": "employeeId", "operator": "Greater_Than", "value": "100"}]}
        ] })json"),
        "fuzz.json", "apps[0].scoping"};

    AppConfig leapsome = app("leapsome", "leapsome");
    leapsome.unassign_action = UnassignAction::Delete;

    AppConfig genesys = app("genesys", "genesys");
    genesys.skip_out_of_scope_deletions = true;
    genesys.skip_default_access = false;
    genesys.scoping = ConfigFragment{
        json::parse(R"json({"users": [{"name": "enabled", "clauses": [
          {"attribute": "accountEnabled", "operator": "IS TRUE"},
          {"attribute": "mail", "operator": "ENDS_WITH", "value": "@contoso.com"}]}] })json"),
        "fuzz.json", "apps[2].scoping"};

    config.apps = {demo, leapsome, genesys, app("elium", "elium")};
    return config;
}

bool same_record(const InboundRecord& a, const InboundRecord& b) {
    if (a.key != b.key || a.value != b.value || a.headers.size() != b.headers.size()) return false;
    for (std::size_t i = 0; i < a.headers.size(); ++i) {
        if (a.headers[i].name != b.headers[i].name || a.headers[i].value != b.headers[i].value) return false;
    }
    return true;
}

}  // namespace

std::vector<FuzzRecord> decode_input(std::string_view bytes) {
    std::vector<FuzzRecord> records;
    while (records.size() < kMaxRecordsPerInput) {
        const auto end = bytes.find(kSeparator);
        std::string_view chunk = bytes.substr(0, end);
        FuzzRecord r;
        r.record.topic = "provisioning.events";
        r.record.partition = static_cast<std::int32_t>(records.size() % 6);
        r.record.offset = 1000 + static_cast<std::int64_t>(records.size());
        r.record.timestamp_ms = 1'790'000'000'000 + static_cast<std::int64_t>(records.size());
        while (!chunk.empty() && chunk.front() == '@') {
            const auto eol = chunk.find('\n');
            const std::string_view line = chunk.substr(1, eol == std::string_view::npos ? std::string_view::npos : eol - 1);
            chunk = eol == std::string_view::npos ? std::string_view{} : chunk.substr(eol + 1);
            const auto colon = line.find(':');
            const std::string_view name = line.substr(0, colon);
            const std::string_view value =
                colon == std::string_view::npos ? std::string_view{} : after_one_space(line.substr(colon + 1));
            if (name == "key") {
                r.record.key = std::string(value);
            } else if (name == "scim") {
                r.scim_script.append(value);
            } else {
                r.record.headers.push_back({std::string(name), std::string(value)});
            }
        }
        r.record.value = std::string(chunk);
        records.push_back(std::move(r));
        if (end == std::string_view::npos) break;
        bytes.remove_prefix(end + kSeparator.size());
    }
    return records;
}

namespace {

// Who a stored outcome belongs to, as the store keys outcomes: an event by (app, source, id),
// a record that did not parse to an event by (app, topic, partition, offset).
using Identity = std::tuple<std::string, std::string, std::string, std::string, std::int32_t, std::int64_t>;

Identity identity_of(const OutcomeRecord& r) {
    if (r.event_id.empty()) return {r.app, {}, {}, r.topic, r.partition, r.offset};
    return {r.app, r.source, r.event_id, {}, -1, -1};
}

Identity identity_of(const ParkedEvent& e) { return {e.app, e.source, e.event_id, {}, -1, -1}; }

Identity identity_of(const Event& e) { return {e.app, e.source, e.id, {}, -1, -1}; }

std::string describe(const Identity& id) {
    const auto& [app, source, event_id, topic, partition, offset] = id;
    if (event_id.empty()) {
        return "the record at " + topic + "[" + std::to_string(partition) + "]@" + std::to_string(offset) + " of " +
               clip(app);
    }
    return "event " + clip(event_id) + " of " + clip(app);
}

std::string dumped(const json& value) { return value.dump(-1, ' ', false, json::error_handler_t::replace); }

// One input against fresh fakes: the records in order, then the drain, checking as it goes.
class InputRun {
public:
    InputRun(const std::vector<consumers::AppRuntime>& apps, std::string_view bytes)
        : apps_(apps), store_(clock_), token_(token_for(bytes)), redactor_({token_}), inputs_(decode_input(bytes)) {
        for (const auto& a : apps_) {
            auto& client = owned_[a.config.id];
            client = std::make_unique<ScriptedScimClient>(script_);
            clients_[a.config.id] = client.get();
        }
        consumers::ProcessorOptions options;
        options.redactor = &redactor_;
        options.retry.max_attempts = kRetryMaxAttempts;
        options.retry.base_delay = kRetryBaseDelay;
        options.retry.max_delay = kRetryMaxDelay;
        options.retry.lease = kDrainLease;
        options.random = &random_;
        processor_.emplace(apps_, clients_, store_, dead_letters_, clock_, nullptr, options);
        tails_.resize(inputs_.size());
        identities_.resize(inputs_.size());
    }

    FuzzRun run() {
        for (std::size_t i = 0; i < inputs_.size(); ++i) {
            process_record(i);
            clock_.advance(std::chrono::seconds(1));
        }
        drain();
        check_final();
        return std::move(run_);
    }

private:
    using Status = consumers::ProcessResult::Status;
    using Broken = std::function<void(const std::string&)>;

    // What the fakes held before a call to the processor.
    struct Mark {
        std::size_t log = 0;
        std::size_t dead = 0;
        std::map<std::string, std::size_t> sent;
    };
    // What one call to the processor did.
    struct Effects {
        std::vector<ScimRequest> requests;
        std::string called_app;  // empty when nothing was sent
        std::size_t dead_letters = 0;
        std::size_t logged = 0;
    };

    Mark mark() const {
        Mark m{store_.log.size(), dead_letters_.published.size(), {}};
        for (const auto& [id, client] : owned_) m.sent[id] = client->requests.size();
        return m;
    }

    Effects since(const Mark& m, const Broken& broken) const {
        Effects e;
        for (const auto& [id, client] : owned_) {
            const auto& all = client->requests;
            const std::size_t before = m.sent.at(id);
            if (all.size() == before) continue;
            if (!e.called_app.empty()) broken("requests went to two apps: " + e.called_app + " and " + id);
            e.called_app = id;
            e.requests.insert(e.requests.end(), all.begin() + static_cast<long>(before), all.end());
        }
        e.dead_letters = dead_letters_.published.size() - m.dead;
        e.logged = store_.log.size() - m.log;
        return e;
    }

    // Every queue entry, with the object's queue and its place in it.
    struct Entry {
        const ParkedEvent* event;
        bool head;
    };
    std::map<Identity, Entry> queued() const {
        std::map<Identity, Entry> entries;
        for (const auto& [object, events] : store_.queues) {
            for (std::size_t n = 0; n < events.size(); ++n) entries[identity_of(events[n])] = Entry{&events[n], n == 0};
        }
        return entries;
    }

    // What the store keeps besides outcomes: links, and the failures parked events carry.
    void check_stored(const Broken& broken) const {
        for (const auto& [key, link] : store_.links) {
            // What the Redis store writes: the link's applied values as JSON.
            if (leaks(dumped(link.applied))) broken("the token reached the link " + key);
        }
        for (const auto& [object, events] : store_.queues) {
            for (const auto& e : events) {
                for (const auto& f : e.trail) {
                    // Reported once per event, not again at every later step it stays parked.
                    if ((leaks(f.code) || leaks(f.detail)) && leaked_.insert(identity_of(e)).second) {
                        broken("the token reached the trail of the parked " + describe(identity_of(e)));
                    }
                }
            }
        }
    }

    // An outcome written by this call (process() or a head run): what holds for every one.
    void check_recorded(const OutcomeRecord& out, const Effects& e, const InboundRecord& original,
                        const Broken& broken) const {
        if (leaks(dumped(to_json(out)))) broken("the token reached the outcome record");
        if (e.dead_letters > 0) {
            const auto& why = dead_letters_.published.back().reason;
            bool leaked = leaks(why.reason) || leaks(why.code);
            for (const auto& f : why.trail) leaked = leaked || leaks(f.detail) || leaks(f.code);
            if (leaked) broken("the token reached a dead-letter reason");
        }
        if (e.logged != 1) broken("expected exactly one logged outcome, got " + std::to_string(e.logged));
        if (out.scim_requests != static_cast<long>(e.requests.size())) {
            broken("the outcome counts " + std::to_string(out.scim_requests) + " SCIM requests, " +
                   std::to_string(e.requests.size()) + " were sent");
        }
        if (out.attempts < 1 || out.attempts > kRetryMaxAttempts) {
            broken("the outcome counts " + std::to_string(out.attempts) + " attempts (at most " +
                   std::to_string(kRetryMaxAttempts) + ")");
        }
        if (out.trail.size() > static_cast<std::size_t>(std::max(out.attempts, 0))) {
            broken("a trail of " + std::to_string(out.trail.size()) + " failures for " +
                   std::to_string(out.attempts) + " attempts");
        }
        // No request may carry an identifier the input checks refuse.
        if (out.code == "InvalidIdentifier" && !e.requests.empty()) {
            broken("an event refused for a control character in an identifier sent requests first");
        }
        if (!e.called_app.empty() && e.called_app != out.app) {
            broken("an event recorded for app \"" + clip(out.app) + "\" sent requests to " + e.called_app);
        }
        switch (out.status) {
            case OutcomeStatus::DeadLettered:
                if (e.dead_letters != 1) {
                    broken("dead-lettered with " + std::to_string(e.dead_letters) + " dead-letter records");
                } else {
                    const auto& letter = dead_letters_.published.back();
                    if (!same_record(letter.record, original)) broken("the dead-letter record is not the original record");
                    if (letter.reason.attempts != out.attempts || letter.reason.trail.size() != out.trail.size()) {
                        broken("the dead letter counts " + std::to_string(letter.reason.attempts) + " attempts and " +
                               std::to_string(letter.reason.trail.size()) + " failures, the outcome " +
                               std::to_string(out.attempts) + " and " + std::to_string(out.trail.size()));
                    }
                }
                if (out.code.empty() || out.reason.empty()) broken("dead-lettered without a code and a reason");
                // The processor's exception boundary keeps the worker alive, but the
                // per-event path returns errors as values: a throw is a bug to find.
                if (out.code == "InternalError") broken("an exception reached the boundary: " + clip(out.reason));
                break;
            case OutcomeStatus::Skipped:
                if (e.dead_letters != 0) broken("skipped but dead-lettered");
                if (out.code.empty()) broken("skipped without a code");
                break;
            case OutcomeStatus::Warning:
                if (e.dead_letters != 0) broken("a warning but dead-lettered");
                if (out.code != "UnresolvedReference" || out.error_class != "reference") {
                    broken("a warning that is not a reference failure: " + clip(out.code));
                }
                break;
            case OutcomeStatus::Applied:
                if (e.dead_letters != 0) broken("applied but dead-lettered");
                if (out.action == Action::None) broken("applied without an action");
                // A deletion of an account inactive already only schedules its hard delete.
                if (e.requests.empty() && out.action != Action::ScheduledDelete) {
                    broken("applied without a SCIM request");
                }
                if (out.action == Action::Create && out.scim_id.empty()) broken("created without a SCIM id");
                break;
        }
        // What the Redis store writes: the outcome as JSON, read back the way a duplicate
        // delivery reads it.
        (void)outcome_from_json(json::parse(dumped(to_json(out))));
    }

    // A call that wrote nothing: no outcome, no dead letter, nothing sent.
    static void check_silent(const Effects& e, const std::string& what, const Broken& broken) {
        if (!e.requests.empty() || e.dead_letters != 0 || e.logged != 0) {
            broken(what + " sent requests, dead-lettered or logged");
        }
    }

    void process_record(std::size_t i) {
        const auto& input = inputs_[i];
        const Broken broken = [&](const std::string& what) {
            run_.violations.push_back("record " + std::to_string(i) + ": " + what);
        };
        script_ = Script{input.scim_script, 0, token_};
        const auto before = queued();
        const Mark m = mark();
        RecordRun step;
        step.result = processor_->process(input.record);
        const Effects e = since(m, broken);
        step.requests = e.requests;
        step.dead_letters = e.dead_letters;
        const auto& result = step.result;
        switch (result.status) {
            case Status::Fatal:
                broken("ended Fatal although no fake ever fails: " + clip(result.fatal_reason));
                break;
            case Status::LeaseLost:
                broken("a record that was no claimed head ended LeaseLost");
                break;
            case Status::Recorded:
                if (!result.record) {
                    broken("recorded without an outcome record");
                    break;
                }
                identities_[i] = identity_of(*result.record);
                if (result.record->attempts != 1 || result.record->trail.size() > 1) {
                    broken("a first attempt recorded as attempt " + std::to_string(result.record->attempts) +
                           " with " + std::to_string(result.record->trail.size()) + " failures");
                }
                check_recorded(*result.record, e, input.record, broken);
                break;
            case Status::Duplicate:
                check_silent(e, "a duplicate delivery", broken);
                if (result.record) {
                    identities_[i] = identity_of(*result.record);
                    if (!seen(*identities_[i], i)) {
                        broken("a duplicate of " + describe(*identities_[i]) + ", which no earlier record carried");
                    }
                } else {
                    // A redelivery of an event that waits in its queue: it must be one.
                    auto event = parse_record(input.record);
                    if (!event) {
                        broken("a duplicate without an outcome, of a record that does not parse");
                    } else if (before.count(identity_of(*event)) == 0) {
                        broken("a duplicate without an outcome, of " + describe(identity_of(*event)) +
                               ", which is not parked");
                    } else {
                        identities_[i] = identity_of(*event);
                    }
                }
                break;
            case Status::Parked:
                check_parked(i, result, e, before, broken);
                break;
        }
        check_stored(broken);
        run_.records.push_back(std::move(step));
    }

    // Whether an earlier record carried this identity.
    bool leaks(const std::string& text) const { return text.find(token_) != std::string::npos; }

    bool seen(const Identity& id, std::size_t before_record) const {
        for (std::size_t k = 0; k < before_record; ++k) {
            if (identities_[k] == id) return true;
        }
        return false;
    }

    void check_parked(std::size_t i, const consumers::ProcessResult& result, const Effects& e,
                      const std::map<Identity, Entry>& before, const Broken& broken) {
        if (result.record) broken("parked with an outcome record");
        if (e.dead_letters != 0 || e.logged != 0) broken("parked, yet dead-lettered or logged");
        const auto after = queued();
        std::vector<std::pair<Identity, Entry>> added;
        for (const auto& [id, entry] : after) {
            if (before.count(id) == 0) added.emplace_back(id, entry);
        }
        if (added.size() != 1 || after.size() != before.size() + 1) {
            broken("parked, but " + std::to_string(added.size()) + " new events (of " + std::to_string(after.size()) +
                   ", " + std::to_string(before.size()) + " before) are in the queues");
            return;
        }
        const auto& [id, entry] = added.front();
        identities_[i] = id;
        parked_by_[id] = i;
        tails_[i] = script_;  // what its later attempts are answered with
        const ParkedEvent& parked = *entry.event;
        if (!same_record(parked.record, inputs_[i].record)) broken("the parked record is not the original record");
        if (!e.called_app.empty() && e.called_app != parked.app) {
            broken("an event parked for app \"" + clip(parked.app) + "\" sent requests to " + e.called_app);
        }
        if (result.due_ms == 0) {
            // Behind an earlier event of its object: nothing tried, nothing sent.
            if (!e.requests.empty()) broken("parked behind another event after sending requests");
            if (entry.head) broken("parked behind another event, but at the head of its queue");
            if (parked.attempts != 0 || !parked.trail.empty()) broken("parked behind another event with attempts made");
        } else {
            // Its first attempt failed for a reason that may pass: it heads its object's queue.
            if (e.requests.empty()) broken("parked for a retry without sending a request");
            if (!entry.head) broken("parked for a retry, but not at the head of its queue");
            if (parked.attempts != 1 || parked.trail.size() != 1) {
                broken("parked after its first attempt with " + std::to_string(parked.attempts) + " attempts and " +
                       std::to_string(parked.trail.size()) + " failures");
            }
            check_due(parked, result.due_ms, broken);
        }
    }

    void check_due(const ParkedEvent& parked, std::int64_t due_ms, const Broken& broken) const {
        const auto due = store_.due_at(parked.app, parked.object_type, parked.object_id);
        if (!due || *due != due_ms) broken("the queue's head is not due when the processor said");
        if (due_ms < clock_.wall_ms()) broken("a retry due in the past");
    }

    void drain() {
        const Broken broken = [&](const std::string& what) { run_.violations.push_back("drain: " + what); };
        // Each event takes at most kRetryMaxAttempts head runs, and every round runs at least
        // one head: this bound is never reached while the queues make progress.
        const std::size_t max_rounds = inputs_.size() * static_cast<std::size_t>(kRetryMaxAttempts) * 2 + 2;
        for (std::size_t round = 0; !store_.queues.empty(); ++round) {
            if (round == max_rounds) {
                broken("the queues still hold " + std::to_string(queued().size()) + " events after " +
                       std::to_string(max_rounds) + " rounds");
                return;
            }
            ++run_.drain_rounds;
            if (store_.due.empty()) {
                broken("events are queued but no queue has a due head");
                return;
            }
            std::int64_t next_due = std::numeric_limits<std::int64_t>::max();
            std::set<std::string> due_apps;
            for (const auto& [object, at] : store_.due) {
                next_due = std::min(next_due, at);
                due_apps.insert(object.app);
            }
            if (next_due > clock_.wall_ms()) clock_.advance(std::chrono::milliseconds(next_due - clock_.wall_ms()));
            std::size_t ran = 0;
            for (const auto& app : due_apps) {
                auto claimed = store_.claim_due(app, clock_.wall_ms(), kDrainLease, 64, "fuzz");
                if (!claimed) {
                    broken("claim_due failed: " + clip(claimed.error().message));
                    continue;
                }
                for (const auto& head : *claimed) {
                    if (head.event.app != app) broken("claimed for " + app + " the head of " + clip(head.event.app));
                    ++ran;
                    // A Fatal or lost head leaves the store in a state no worker would go on
                    // from (it would stop, or leave the head to its new owner): reported once.
                    if (!run_head(head)) return;
                }
            }
            if (ran == 0) {
                broken("no head was due at the earliest due time");
                return;
            }
        }
    }

    // Runs one claimed head and checks it; false when the drain cannot go on.
    bool run_head(const ClaimedHead& head) {
        const Identity id = identity_of(head.event);
        const auto owner = parked_by_.find(id);
        if (owner == parked_by_.end()) {
            run_.violations.push_back("drain: claimed " + describe(id) + ", which no record parked");
            return false;
        }
        const std::size_t k = owner->second;
        HeadRun step;
        step.record = k;
        step.attempt = head.event.attempts + 1;
        const Broken broken = [&](const std::string& what) {
            run_.violations.push_back("record " + std::to_string(k) + ", attempt " + std::to_string(step.attempt) +
                                      ": " + what);
        };
        if (!same_record(head.event.record, inputs_[k].record)) broken("the claimed record is not the original record");
        script_ = tails_[k];
        const Mark m = mark();
        step.result = processor_->process_parked(head);
        tails_[k] = script_;
        const Effects e = since(m, broken);
        step.requests = e.requests;
        step.dead_letters = e.dead_letters;
        if (!e.called_app.empty() && e.called_app != head.event.app) {
            broken("the head of an event for app \"" + clip(head.event.app) + "\" sent requests to " + e.called_app);
        }
        const auto& result = step.result;
        switch (result.status) {
            case Status::Fatal:
                broken("ended Fatal although no fake ever fails: " + clip(result.fatal_reason));
                break;
            case Status::LeaseLost:
                broken("the lease was lost although one owner holds every lease and none can expire");
                break;
            case Status::Recorded: {
                if (!result.record) {
                    broken("recorded without an outcome record");
                    break;
                }
                const auto& out = *result.record;
                if (identity_of(out) != id) broken("recorded " + describe(identity_of(out)) + " for the head " + describe(id));
                if (out.attempts != step.attempt) {
                    broken("the outcome counts " + std::to_string(out.attempts) + " attempts");
                }
                if (out.trail.size() != head.event.trail.size() && out.trail.size() != head.event.trail.size() + 1) {
                    broken("the outcome's trail has " + std::to_string(out.trail.size()) + " failures, the head's " +
                           std::to_string(head.event.trail.size()));
                }
                check_recorded(out, e, inputs_[k].record, broken);
                break;
            }
            case Status::Duplicate:
                // The head's event had its outcome already: the head is just removed.
                check_silent(e, "a head whose event had an outcome", broken);
                if (!result.record || identity_of(*result.record) != id) {
                    broken("a head found recorded without its outcome");
                }
                break;
            case Status::Parked: {
                if (result.record) broken("rescheduled with an outcome record");
                if (e.dead_letters != 0 || e.logged != 0) broken("rescheduled, yet dead-lettered or logged");
                if (e.requests.empty()) broken("rescheduled without sending a request");
                if (step.attempt >= kRetryMaxAttempts) broken("rescheduled after its last attempt");
                const auto entries = queued();
                const auto entry = entries.find(id);
                if (entry == entries.end() || !entry->second.head) {
                    broken("rescheduled, but not at the head of its queue");
                    break;
                }
                const ParkedEvent& parked = *entry->second.event;
                if (parked.attempts != step.attempt || parked.trail.size() != head.event.trail.size() + 1) {
                    broken("rescheduled with " + std::to_string(parked.attempts) + " attempts and " +
                           std::to_string(parked.trail.size()) + " failures");
                }
                check_due(parked, result.due_ms, broken);
                break;
            }
        }
        if ((result.status == Status::Recorded || result.status == Status::Duplicate) && queued().count(id) > 0) {
            broken("the head is still queued");
        }
        check_stored(broken);
        run_.records[k].head_runs += 1;
        const bool go_on = result.status != Status::Fatal && result.status != Status::LeaseLost;
        run_.heads.push_back(std::move(step));
        return go_on;
    }

    void check_final() {
        const Broken broken = [&](const std::string& what) { run_.violations.push_back(what); };
        if (!store_.parked.empty() || !store_.queues.empty() || !store_.leases.empty()) {
            broken(std::to_string(store_.parked.size()) + " events left parked, " +
                   std::to_string(store_.leases.size()) + " leases held");
        }
        // Every record ends with exactly one outcome of its own event (a record repeating an
        // event id shares that event's one outcome), and nothing else is recorded.
        std::set<Identity> distinct;
        for (std::size_t i = 0; i < inputs_.size(); ++i) {
            if (!identities_[i]) continue;  // a violation was reported for the record already
            const Identity& id = *identities_[i];
            distinct.insert(id);
            const OutcomeRecord* stored = nullptr;
            std::size_t outcomes = 0;
            for (const auto& [key, out] : store_.outcomes) {
                if (identity_of(out) == id) {
                    ++outcomes;
                    stored = &out;
                }
            }
            const auto logged = std::count_if(store_.log.begin(), store_.log.end(),
                                              [&](const OutcomeRecord& out) { return identity_of(out) == id; });
            if (outcomes != 1 || logged != 1) {
                broken("record " + std::to_string(i) + ": " + describe(id) + " ended with " + std::to_string(outcomes) +
                       " stored outcomes and " + std::to_string(logged) + " logged");
            }
            if (stored != nullptr) run_.records[i].outcome = *stored;
        }
        if (store_.log.size() != distinct.size() || store_.outcomes.size() != distinct.size()) {
            broken(std::to_string(store_.log.size()) + " outcomes logged and " + std::to_string(store_.outcomes.size()) +
                   " stored for " + std::to_string(distinct.size()) + " events and records");
        }
        const auto dead = std::count_if(store_.log.begin(), store_.log.end(), [](const OutcomeRecord& out) {
            return out.status == OutcomeStatus::DeadLettered;
        });
        if (dead_letters_.published.size() != static_cast<std::size_t>(dead) ||
            store_.dead_letter_index.size() != static_cast<std::size_t>(dead)) {
            broken(std::to_string(dead_letters_.published.size()) + " dead letters published and " +
                   std::to_string(store_.dead_letter_index.size()) + " indexed for " + std::to_string(dead) +
                   " dead-lettered outcomes");
        }
    }

    const std::vector<consumers::AppRuntime>& apps_;
    test_support::FakeClock clock_;
    test_support::FakeStateStore store_;
    test_support::FakeDeadLetterSink dead_letters_;
    test_support::FakeRandom random_ = test_support::FakeRandom::always_bound();
    const std::string token_;
    const Redactor redactor_;
    Script script_;
    std::map<std::string, std::unique_ptr<ScriptedScimClient>> owned_;
    std::map<std::string, ScimClient*> clients_;
    std::optional<consumers::EventProcessor> processor_;
    std::vector<FuzzRecord> inputs_;
    // Per record: what is left of its script once its attempts so far used their answers, and
    // whose outcome it must end with.
    std::vector<Script> tails_;
    std::vector<std::optional<Identity>> identities_;
    std::map<Identity, std::size_t> parked_by_;  // parked event → the record that parked it
    mutable std::set<Identity> leaked_;          // parked events whose trail leaked, reported
    FuzzRun run_;
};

}  // namespace

RecordHarness::RecordHarness() : apps_(consumers::build_app_runtimes(fuzz_config())) {}

FuzzRun RecordHarness::run(std::string_view bytes) const { return InputRun(apps_, bytes).run(); }

}  // namespace provbridge::fuzz
