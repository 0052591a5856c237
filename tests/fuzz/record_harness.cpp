#include "record_harness.hpp"

#include <algorithm>
#include <map>
#include <memory>
#include <utility>

#include <nlohmann/json.hpp>

#include "fakes.hpp"
#include "provbridge/core/config.hpp"
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
// link (the processor's redactor knows it, as the worker's does).
constexpr std::string_view kToken = "fuzz-t0ken/S3cret+";

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
            case 'u': return scim_error(401, "bad credentials: Authorization: Bearer " + std::string(kToken));
            case 'v':
                return http(400, R"({"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"400",)"
                                 R"("detail":"you sent Bearer fuzz-t0ken\/S3cret+"})");
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

RecordHarness::RecordHarness() : apps_(consumers::build_app_runtimes(fuzz_config())) {}

FuzzRun RecordHarness::run(std::string_view bytes) const {
    FuzzRun run;
    test_support::FakeStateStore store;
    test_support::FakeDeadLetterSink dead_letters;
    test_support::FakeClock clock;
    Script script;
    std::map<std::string, std::unique_ptr<ScriptedScimClient>> owned;
    std::map<std::string, ScimClient*> clients;
    for (const auto& a : apps_) {
        auto& client = owned[a.config.id];
        client = std::make_unique<ScriptedScimClient>(script);
        clients[a.config.id] = client.get();
    }
    const Redactor redactor({std::string(kToken)});
    consumers::ProcessorOptions options;
    options.redactor = &redactor;
    consumers::EventProcessor processor(apps_, clients, store, dead_letters, clock, nullptr, options);

    const auto inputs = decode_input(bytes);
    for (std::size_t i = 0; i < inputs.size(); ++i) {
        const auto& input = inputs[i];
        const auto broken = [&](const std::string& what) {
            run.violations.push_back("record " + std::to_string(i) + ": " + what);
        };
        script = Script{input.scim_script, 0};
        const std::size_t log_before = store.log.size();
        const std::size_t dead_before = dead_letters.published.size();
        std::map<std::string, std::size_t> sent_before;
        for (const auto& [id, client] : owned) sent_before[id] = client->requests.size();

        RecordRun step;
        step.result = processor.process(input.record);
        std::string called_app;
        for (const auto& [id, client] : owned) {
            const auto& all = client->requests;
            if (all.size() == sent_before[id]) continue;
            if (!called_app.empty()) broken("requests went to two apps: " + called_app + " and " + id);
            called_app = id;
            step.requests.insert(step.requests.end(), all.begin() + static_cast<long>(sent_before[id]), all.end());
        }
        step.dead_letters = dead_letters.published.size() - dead_before;
        const std::size_t logged = store.log.size() - log_before;

        using Status = consumers::ProcessResult::Status;
        const auto& result = step.result;
        if (result.status == Status::Fatal) {
            broken("ended Fatal although no fake ever fails: " + clip(result.fatal_reason));
        } else if (!result.record) {
            broken("ended without an outcome record");
        } else if (result.status == Status::Duplicate) {
            if (!step.requests.empty() || step.dead_letters != 0 || logged != 0) {
                broken("a duplicate delivery sent requests, dead-lettered or logged again");
            }
        } else {
            const OutcomeRecord& out = *result.record;
            const auto leaks = [&](const std::string& text) { return text.find(kToken) != std::string::npos; };
            if (leaks(to_json(out).dump(-1, ' ', false, json::error_handler_t::replace))) {
                broken("the token reached the outcome record");
            }
            if (step.dead_letters > 0 && leaks(dead_letters.published.back().reason.reason)) {
                broken("the token reached a dead-letter reason");
            }
            for (const auto& [key, link] : store.links) {
                if (leaks(link.applied.dump(-1, ' ', false, json::error_handler_t::replace))) {
                    broken("the token reached the link " + key);
                }
            }
            if (logged != 1) broken("expected exactly one logged outcome, got " + std::to_string(logged));
            if (out.scim_requests != static_cast<long>(step.requests.size())) {
                broken("the outcome counts " + std::to_string(out.scim_requests) + " SCIM requests, " +
                       std::to_string(step.requests.size()) + " were sent");
            }
            // No request may carry an identifier the input checks refuse.
            if (out.code == "InvalidIdentifier" && !step.requests.empty()) {
                broken("an event refused for a control character in an identifier sent requests first");
            }
            if (!called_app.empty() && called_app != out.app) {
                broken("an event recorded for app \"" + clip(out.app) + "\" sent requests to " + called_app);
            }
            switch (out.status) {
                case OutcomeStatus::DeadLettered:
                    if (step.dead_letters != 1) {
                        broken("dead-lettered with " + std::to_string(step.dead_letters) + " dead-letter records");
                    } else if (!same_record(dead_letters.published.back().record, input.record)) {
                        broken("the dead-letter record is not the original record");
                    }
                    if (out.code.empty() || out.reason.empty()) broken("dead-lettered without a code and a reason");
                    // The processor's exception boundary keeps the worker alive, but the
                    // per-event path returns errors as values: a throw is a bug to find.
                    if (out.code == "InternalError") broken("an exception reached the boundary: " + clip(out.reason));
                    break;
                case OutcomeStatus::Skipped:
                    if (step.dead_letters != 0) broken("skipped but dead-lettered");
                    if (out.code.empty()) broken("skipped without a code");
                    break;
                case OutcomeStatus::Applied:
                    if (step.dead_letters != 0) broken("applied but dead-lettered");
                    if (out.action == Action::None) broken("applied without an action");
                    if (step.requests.empty()) broken("applied without a SCIM request");
                    if (out.action == Action::Create && out.scim_id.empty()) broken("created without a SCIM id");
                    break;
            }
            // What the Redis store writes: the outcome and the link's applied values as JSON,
            // read back the way a duplicate delivery reads them.
            const std::string stored = to_json(out).dump(-1, ' ', false, json::error_handler_t::replace);
            (void)outcome_from_json(json::parse(stored));
        }
        for (const auto& [key, link] : store.links) {
            (void)link.applied.dump(-1, ' ', false, json::error_handler_t::replace);
        }
        clock.advance(std::chrono::seconds(1));
        run.records.push_back(std::move(step));
    }
    return run;
}

}  // namespace provbridge::fuzz
