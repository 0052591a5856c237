// End-to-end benchmark (not a test): the provbridge binary against the embedded broker, a
// throwaway Redis and the SCIMMY target, measuring
//   1. the target's own capacity for the same requests (GET filter + POST per user),
//   2. throughput: a backlog of N user-assign events, processed from first to last outcome,
//   3. latency: events produced at a steady rate, event produced -> SCIM request answered,
//   4. the worker's peak RSS, and throughput with 5% 429 + 5% 503 against without,
//   5. app isolation: one app's throughput alone (twice, for the noise), and beside an app
//      whose target answers after 5 s (same partitions, same worker),
//   6. the time from kill -9 of a worker to its restarted successor processing again.
// Prints the figures, writes CSV/JSON to --out and, when gnuplot is installed, a plot.
#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <thread>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "provbridge/consumers/curl_scim_client.hpp"
#include "provbridge/consumers/redis_store.hpp"
#include "provbridge/core/keys.hpp"
#include "provbridge/ops/embedded_broker.hpp"
#include "provbridge/ops/local_services.hpp"
#include "provbridge/ops/process.hpp"
#include "provbridge/producers/producer.hpp"
#include "provbridge/transforms/mapping.hpp"
#include "provbridge/transforms/scim_protocol.hpp"

namespace {

using namespace provbridge;
using nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

constexpr const char* kApp = "bench";
constexpr const char* kToken = "bench-token-4c2e";

json user_attributes(const std::string& tag, std::size_t i) {
    const std::string upn = tag + "-" + std::to_string(i) + "@bench.example";
    return {{"userPrincipalName", upn}, {"mail", upn}, {"mailNickname", tag + std::to_string(i)},
            {"givenName", "Zoë"}, {"surname", "Bench" + std::to_string(i)}, {"displayName", "Zoë Bench"},
            {"jobTitle", "Engineer"}, {"department", "R&D"}, {"employeeId", std::to_string(i)},
            {"mobile", "+33 6 00 00 00 00"}, {"preferredLanguage", "fr-FR"}, {"accountEnabled", true}};
}

std::string assign_event(const std::string& tag, std::size_t i) {
    json e = {{"specversion", "1.0"}, {"id", tag + "-evt-" + std::to_string(i)}, {"source", "urn:directory:bench"},
              {"type", "provisioning.user.assigned"},
              {"data", {{"app", kApp}, {"object", {{"type", "user"}, {"id", tag + "-" + std::to_string(i)},
                                                    {"version", 1}, {"attributes", user_attributes(tag, i)}}},
                        {"assignment", {{"role", "User"}}}}}};
    return e.dump();
}

double percentile(std::vector<double> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    const auto idx = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
    return v[std::min(idx, v.size() - 1)];
}

// The target's capacity for what a user creation costs it: a filter query and a POST.
double measure_target(const std::string& base_url, int threads, std::size_t users) {
    const auto mapping = transforms::default_user_mapping();
    std::atomic<std::size_t> next{0};
    std::atomic<std::size_t> failed{0};
    const auto start = SteadyClock::now();
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&] {
            consumers::ScimClientOptions o;
            o.base_url = base_url;
            o.token = kToken;
            consumers::CurlScimClient client(o);
            for (std::size_t i = next++; i < users; i = next++) {
                const json attrs = user_attributes("cap", i);
                const auto desired = transforms::desired_attributes(
                    mapping, transforms::SourceContext{attrs, false, std::nullopt}, transforms::Phase::Create);
                const auto find = client.send(
                    transforms::find_request("/Users", mapping.matching().front()->target, desired["userName"]));
                const auto post = client.send(transforms::create_request("/Users", transforms::build_resource(mapping, desired)));
                if (find.status != 200 || post.status != 201) ++failed;
            }
        });
    }
    for (auto& t : pool) t.join();
    const double seconds = std::chrono::duration<double>(SteadyClock::now() - start).count();
    if (failed > 0) std::cerr << "warning: " << failed << " capacity requests failed\n";
    return static_cast<double>(users) / seconds;
}

std::vector<OutcomeRecord> read_log(consumers::ProvisioningLogReader& reader, const std::string& app = kApp) {
    std::vector<OutcomeRecord> out;
    std::string last = "0-0";
    for (;;) {
        auto page = reader.log_since(app, last, 5000, std::chrono::milliseconds(0));
        if (!page || page->empty()) break;
        for (auto& e : *page) out.push_back(std::move(e.record));
        last = page->back().id;
    }
    return out;
}

// Reads the worker's JSON progress until `finished` reaches target.
bool wait_finished(ops::ChildProcess& worker, std::uint64_t target, std::chrono::seconds timeout) {
    const auto deadline = SteadyClock::now() + timeout;
    std::uint64_t last_printed = 0;
    while (SteadyClock::now() < deadline) {
        auto line = worker.read_line(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now()));
        if (!line) return false;
        auto doc = json::parse(*line, nullptr, false);
        if (doc.is_discarded() || !doc.contains("finished")) continue;
        const auto finished = doc["finished"].get<std::uint64_t>();
        if (finished >= last_printed + 1000 || finished >= target) {
            std::cout << (isatty(STDOUT_FILENO) != 0 ? "\r" : "") << "  " << finished << " / " << target
                      << " events finished" << (isatty(STDOUT_FILENO) != 0 ? "" : "\n") << std::flush;
            last_printed = finished;
        }
        if (finished >= target) {
            if (isatty(STDOUT_FILENO) != 0) std::cout << "\n";
            return true;
        }
    }
    return false;
}

std::string app_event(const std::string& app, const std::string& tag, std::size_t i) {
    auto e = json::parse(assign_event(tag, i));
    e["data"]["app"] = app;
    return e.dump();
}

void produce_all(producers::KafkaProducer& producer, const std::string& topic,
                 const std::vector<std::pair<std::string, std::string>>& records) {
    std::vector<std::future<Result<producers::DeliveryReport>>> pending;
    for (const auto& [key, value] : records) pending.push_back(producer.send(topic, key, value));
    for (auto& p : pending) {
        if (!p.get()) throw std::runtime_error("produce failed");
    }
}

// Events per second of the records whose object id starts with `tag`: first start to last finish.
double rate_of(const std::vector<OutcomeRecord>& records, const std::string& tag, std::size_t* count = nullptr) {
    std::int64_t first = INT64_MAX;
    std::int64_t last = 0;
    std::size_t n = 0;
    for (const auto& r : records) {
        if (r.object_id.rfind(tag, 0) != 0) continue;
        first = std::min(first, r.started_at_ms);
        last = std::max(last, r.finished_at_ms);
        ++n;
    }
    if (count != nullptr) *count = n;
    const double seconds = static_cast<double>(last - first) / 1000.0;
    return n > 0 && seconds > 0 ? static_cast<double>(n) / seconds : 0.0;
}

// The longest time between two consecutive outcomes of the records whose object id starts with
// `tag`: a stall shows here even when the batch's average rate hides it.
std::int64_t longest_pause_ms(const std::vector<OutcomeRecord>& records, const std::string& tag) {
    std::vector<std::int64_t> finished;
    for (const auto& r : records) {
        if (r.object_id.rfind(tag, 0) == 0) finished.push_back(r.finished_at_ms);
    }
    std::sort(finished.begin(), finished.end());
    std::int64_t longest = 0;
    for (std::size_t i = 1; i < finished.size(); ++i) longest = std::max(longest, finished[i] - finished[i - 1]);
    return longest;
}

// Steps 5 and 6, on a topic and apps of their own so that the earlier steps' events are not read.
json run_isolation(ops::LocalRedis& redis, ops::EmbeddedBroker& broker, ops::LocalScimTarget& fast_target,
                   consumers::CurlScimClient& fast_admin, const std::string& dir, const std::string& out_dir,
                   int concurrency, std::size_t events) {
    constexpr const char* kTopic = "isolation.events";
    ops::LocalScimTarget slow_target(ops::default_scim_target_script(), kToken);
    consumers::ScimClientOptions admin;
    admin.base_url = slow_target.root_url();
    admin.token = kToken;
    consumers::CurlScimClient slow_admin(admin);
    const auto call = [](consumers::CurlScimClient& client, HttpMethod method, const std::string& path, json body) {
        ScimRequest request;
        request.method = method;
        request.path = path;
        request.body = std::move(body);
        if (client.send(request).status / 100 != 2) throw std::runtime_error("the target refused " + path);
    };
    call(fast_admin, HttpMethod::Post, "/_admin/reset", json::object());
    const std::string config_path = dir + "/isolation.json";
    std::ofstream(config_path) << json{
        {"kafka", {{"bootstrap_servers", broker.bootstrap_servers()}, {"group_id", "bench-isolation"},
                   {"topics", {{"events", kTopic}}},
                   {"consumer_properties", {{"session.timeout.ms", "6000"}, {"heartbeat.interval.ms", "1000"},
                                            {"fetch.wait.max.ms", "10"}}}}},
        {"redis", {{"url", redis.url()}}},
        {"ops", {{"listen", "127.0.0.1:0"}}},
        {"worker", {{"concurrency", concurrency}, {"max_in_flight", 2000}}},
        {"apps", json::array({{{"id", "fast"}, {"scim", {{"base_url", fast_target.base_url()},
                                                          {"token_file", dir + "/token"}}}},
                              {{"id", "slow"}, {"scim", {{"base_url", slow_target.base_url()},
                                                          {"token_file", dir + "/token"}}}}})}}
                                        .dump(2);
    producers::KafkaProducer producer({{"bootstrap.servers", broker.bootstrap_servers()}, {"linger.ms", "5"}});
    consumers::ProvisioningLogReader reader(
        consumers::RedisOptions{"127.0.0.1", redis.port(), 0, "", std::chrono::seconds(5)}, KeyScheme("pb"));
    const auto start_worker = [&] {
        ops::ChildProcess::Options wopts;
        wopts.argv = {PROVBRIDGE_BINARY, "run", "--config", config_path, "--json-progress", "--log-level", "warn"};
        return std::make_unique<ops::ChildProcess>(std::move(wopts));
    };

    std::cout << "5. Isolation: " << events << " events of app 'fast' alone, then " << events
              << " more beside " << events / 5 << " of app 'slow', whose target answers after 5 s\n";
    // A warm-up batch first, so that neither measured batch pays for the worker's start (group
    // join, connections, the target's first requests).
    constexpr std::size_t kWarmUp = 300;
    std::vector<std::pair<std::string, std::string>> warm_up;
    for (std::size_t i = 0; i < kWarmUp; ++i) warm_up.emplace_back("fast/user/warm-" + std::to_string(i), app_event("fast", "warm", i));
    produce_all(producer, kTopic, warm_up);
    auto worker = start_worker();
    if (!wait_finished(*worker, kWarmUp, std::chrono::seconds(600))) throw std::runtime_error("isolation: warm-up did not finish");
    call(fast_admin, HttpMethod::Post, "/_admin/reset", json::object());
    std::vector<std::pair<std::string, std::string>> alone;
    for (std::size_t i = 0; i < events; ++i) alone.emplace_back("fast/user/alone-" + std::to_string(i), app_event("fast", "alone", i));
    produce_all(producer, kTopic, alone);
    if (!wait_finished(*worker, kWarmUp + events, std::chrono::seconds(600))) throw std::runtime_error("isolation: alone did not finish");
    // The same batch alone once more: how far two runs of one thing differ here is the noise
    // the beside/alone ratio is read against.
    call(fast_admin, HttpMethod::Post, "/_admin/reset", json::object());
    std::vector<std::pair<std::string, std::string>> again;
    for (std::size_t i = 0; i < events; ++i) again.emplace_back("fast/user/again-" + std::to_string(i), app_event("fast", "again", i));
    produce_all(producer, kTopic, again);
    if (!wait_finished(*worker, kWarmUp + 2 * events, std::chrono::seconds(600))) throw std::runtime_error("isolation: alone again did not finish");
    call(slow_admin, HttpMethod::Put, "/_admin/latency", json{{"delayMs", 5000}});
    // SCIMMY filters by scanning every user: without a reset the second batch would find the
    // first batch's users in the target, and each lookup would cost more than in the first.
    call(fast_admin, HttpMethod::Post, "/_admin/reset", json::object());
    std::vector<std::pair<std::string, std::string>> mixed;
    for (std::size_t i = 0; i < events; ++i) {
        if (i % 5 == 0) mixed.emplace_back("slow/user/slow-" + std::to_string(i / 5), app_event("slow", "slow", i / 5));
        mixed.emplace_back("fast/user/beside-" + std::to_string(i), app_event("fast", "beside", i));
    }
    produce_all(producer, kTopic, mixed);
    // Done when every fast event is: the slow app's cannot all be done by then (5 s each).
    // The log is read from where the last look ended: reading all of it every time would cost
    // this process more CPU in this batch than in the first, on the cores the worker uses.
    const auto deadline = SteadyClock::now() + std::chrono::seconds(600);
    std::size_t beside_done = 0;
    std::string seen = "0-0";
    while (SteadyClock::now() < deadline) {
        for (;;) {
            auto page = reader.log_since("fast", seen, 5000, std::chrono::milliseconds(0));
            if (!page || page->empty()) break;
            for (const auto& e : *page) beside_done += e.record.object_id.rfind("beside-", 0) == 0 ? 1 : 0;
            seen = page->back().id;
        }
        if (beside_done >= events) break;
        if (!worker->read_line(std::chrono::milliseconds(500)) && worker->wait(std::chrono::milliseconds(0))) {
            throw std::runtime_error("isolation: the worker exited");
        }
    }
    if (beside_done < events) throw std::runtime_error("isolation: the fast app did not finish beside the slow one");
    const auto fast_log = read_log(reader, "fast");
    std::size_t slow_done = 0;
    (void)rate_of(read_log(reader, "slow"), "slow-", &slow_done);
    const double alone_rate = rate_of(fast_log, "alone-");
    const double again_rate = rate_of(fast_log, "again-");
    const double beside_rate = rate_of(fast_log, "beside-");
    {
        // Each batch's outcomes from its own first start, to plot one over the other.
        std::ofstream csv(out_dir + "/e2e-isolation.csv");
        csv << "batch,finished_ms\n";
        for (const std::string tag : {"alone", "again", "beside"}) {
            std::int64_t first = INT64_MAX;
            for (const auto& r : fast_log) {
                if (r.object_id.rfind(tag + "-", 0) == 0) first = std::min(first, r.started_at_ms);
            }
            for (const auto& r : fast_log) {
                if (r.object_id.rfind(tag + "-", 0) == 0) csv << tag << "," << r.finished_at_ms - first << "\n";
            }
        }
    }

    // 6. kill -9 and restart: the slow target answers at once again, a new batch waits in the
    // topic, and the clock runs from the kill to the first outcome the new worker records.
    call(slow_admin, HttpMethod::Put, "/_admin/latency", json{{"delayMs", 0}});
    std::cout << "6. kill -9 of the worker, restart, time until it processes again\n";
    worker->signal(SIGKILL);
    (void)worker->wait(std::chrono::seconds(30));
    const auto killed_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch()).count();
    std::vector<std::pair<std::string, std::string>> after;
    for (std::size_t i = 0; i < 200; ++i) after.emplace_back("fast/user/after-" + std::to_string(i), app_event("fast", "after", i));
    produce_all(producer, kTopic, after);
    auto restarted = start_worker();
    std::int64_t first_after = 0;
    const auto restart_deadline = SteadyClock::now() + std::chrono::seconds(120);
    while (first_after == 0 && SteadyClock::now() < restart_deadline) {
        (void)restarted->read_line(std::chrono::milliseconds(100));
        for (const auto& r : read_log(reader, "fast")) {
            if (r.finished_at_ms > killed_ms && (first_after == 0 || r.finished_at_ms < first_after)) first_after = r.finished_at_ms;
        }
    }
    restarted->stop(std::chrono::seconds(60));
    if (first_after == 0) throw std::runtime_error("the restarted worker did not process anything");
    return {{"isolation_fast_alone_events_per_s", alone_rate},
            {"isolation_fast_alone_again_events_per_s", again_rate},
            {"isolation_longest_pause_alone_ms", longest_pause_ms(fast_log, "alone-")},
            {"isolation_longest_pause_beside_ms", longest_pause_ms(fast_log, "beside-")},
            {"isolation_fast_beside_slow_events_per_s", beside_rate},
            {"isolation_slow_done_when_fast_done", slow_done},
            {"isolation_slow_events", events / 5},
            {"kill9_to_processing_s", static_cast<double>(first_after - killed_ms) / 1000.0}};
}

// Step 7: one group of `members` users. The users are created first; then one
// group.members.added names them all, and the clock runs from its production to its outcome
// (every member sent) and to the last of the members' reevaluations (each user's access is
// decided again: a group assigned to the app changed). The PATCHes are counted by the target.
json run_group(ops::LocalRedis& redis, ops::EmbeddedBroker& broker, ops::LocalScimTarget& target,
               consumers::CurlScimClient& admin, const std::string& dir, int concurrency, std::size_t members) {
    constexpr const char* kTopic = "groups.events";
    constexpr const char* kGroupApp = "grp";
    const auto call = [&admin](HttpMethod method, const std::string& path, json body = nullptr) {
        ScimRequest request;
        request.method = method;
        request.path = path;
        if (!body.is_null()) request.body = std::move(body);
        const auto response = admin.send(request);
        if (response.status / 100 != 2) throw std::runtime_error("the target refused " + path);
        return json::parse(response.body, nullptr, false);
    };
    call(HttpMethod::Post, "/_admin/reset", json::object());
    const std::string config_path = dir + "/groups.json";
    std::ofstream(config_path) << json{
        {"kafka", {{"bootstrap_servers", broker.bootstrap_servers()}, {"group_id", "bench-groups"},
                   {"topics", {{"events", kTopic}}},
                   {"consumer_properties", {{"session.timeout.ms", "6000"}, {"heartbeat.interval.ms", "1000"},
                                            {"fetch.wait.max.ms", "10"}}}}},
        {"redis", {{"url", redis.url()}}},
        {"ops", {{"listen", "127.0.0.1:0"}}},
        {"worker", {{"concurrency", concurrency}, {"max_in_flight", 2000}}},
        {"apps", json::array({{{"id", kGroupApp}, {"member_batch", 100},
                               {"scim", {{"base_url", target.base_url()}, {"token_file", dir + "/token"}}}}})}}
                                        .dump(2);
    producers::KafkaProducer producer({{"bootstrap.servers", broker.bootstrap_servers()}, {"linger.ms", "5"}});
    consumers::ProvisioningLogReader reader(
        consumers::RedisOptions{"127.0.0.1", redis.port(), 0, "", std::chrono::seconds(5)}, KeyScheme("pb"));
    std::cout << "7. A group of " << members << " members: the users and the group first, then one members.added\n";
    std::vector<std::pair<std::string, std::string>> users;
    std::vector<std::string> ids;
    for (std::size_t i = 0; i < members; ++i) {
        users.emplace_back(std::string(kGroupApp) + "/user/gm-" + std::to_string(i), app_event(kGroupApp, "gm", i));
        ids.push_back("gm-" + std::to_string(i));
    }
    const json group = {{"specversion", "1.0"}, {"id", "grp-assigned"}, {"source", "urn:directory:bench"},
                        {"type", "provisioning.group.assigned"},
                        {"data", {{"app", kGroupApp},
                                  {"object", {{"type", "group"}, {"id", "big"}, {"version", 1},
                                              {"attributes", {{"displayName", "Everyone"}}}}},
                                  {"assignment", {{"role", "User"}}}}}};
    users.emplace_back(std::string(kGroupApp) + "/group/big", group.dump());
    produce_all(producer, kTopic, users);
    ops::ChildProcess::Options wopts;
    wopts.argv = {PROVBRIDGE_BINARY, "run", "--config", config_path, "--json-progress", "--log-level", "warn"};
    ops::ChildProcess worker(std::move(wopts));
    // The users, the group, and the group's members follow-up (no members yet).
    if (!wait_finished(worker, members + 2, std::chrono::seconds(1800))) throw std::runtime_error("groups: users did not finish");
    const auto patches = [&] { return call(HttpMethod::Get, "/_admin/stats")["byRoute"].value("PATCH /Groups/{id}", 0); };
    const auto patches_before = patches();
    const json added = {{"specversion", "1.0"}, {"id", "grp-members"}, {"source", "urn:directory:bench"},
                        {"type", "provisioning.group.members.added"},
                        {"data", {{"app", kGroupApp}, {"object", {{"type", "group"}, {"id", "big"}, {"version", 2}}},
                                  {"members", ids}}}};
    const auto produced_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::system_clock::now().time_since_epoch()).count();
    produce_all(producer, kTopic, {{std::string(kGroupApp) + "/group/big", added.dump()}});
    // The members event, and each member's reevaluation.
    if (!wait_finished(worker, 2 * members + 3, std::chrono::seconds(1800))) throw std::runtime_error("groups: members did not finish");
    worker.stop(std::chrono::seconds(60));
    std::int64_t applied_ms = 0;
    std::int64_t last_reevaluation_ms = 0;
    std::string code;
    for (const auto& r : read_log(reader, kGroupApp)) {
        if (r.event_id == "grp-members") {
            applied_ms = r.finished_at_ms;
            code = std::string(to_string(r.status));
        }
        if (r.event_type == "provisioning.user.reevaluate") last_reevaluation_ms = std::max(last_reevaluation_ms, r.finished_at_ms);
    }
    const auto bridge_patches = patches() - patches_before;
    std::size_t in_target = 0;
    for (const auto& g : call(HttpMethod::Get, "/_admin/groups")) {
        if (g["displayName"] == "Everyone") in_target = g.value("members", json::array()).size();
    }
    // The target's own cost of the same work: a second group sent the same PATCHes (100 members
    // each) straight from here, one after another, as the bridge sends one group's.
    consumers::ScimClientOptions scim;
    scim.base_url = target.base_url();
    scim.token = kToken;
    consumers::CurlScimClient direct(scim);
    std::vector<std::string> target_ids;
    for (const auto& u : call(HttpMethod::Get, "/_admin/users")) target_ids.push_back(u["id"].get<std::string>());
    ScimRequest create;
    create.method = HttpMethod::Post;
    create.path = "/Groups";
    create.body = json{{"schemas", {"urn:ietf:params:scim:schemas:core:2.0:Group"}}, {"displayName", "Direct"}};
    const auto created = direct.send(create);
    const auto created_doc = json::parse(created.body, nullptr, false);
    if (created.status != 201 || !created_doc.contains("id")) throw std::runtime_error("groups: cannot create the direct group");
    const auto direct_start = SteadyClock::now();
    for (std::size_t first = 0; first < target_ids.size(); first += 100) {
        json values = json::array();
        for (std::size_t i = first; i < std::min(target_ids.size(), first + 100); ++i) values.push_back({{"value", target_ids[i]}});
        ScimRequest patch;
        patch.method = HttpMethod::Patch;
        patch.path = "/Groups/" + created_doc["id"].get<std::string>();
        patch.body = json{{"schemas", {"urn:ietf:params:scim:api:messages:2.0:PatchOp"}},
                          {"Operations", {{{"op", "add"}, {"path", "members"}, {"value", values}}}}};
        if (direct.send(patch).status / 100 != 2) throw std::runtime_error("groups: the direct PATCH failed");
    }
    const double direct_s = std::chrono::duration<double>(SteadyClock::now() - direct_start).count();
    return {{"group_members", members},
            {"group_target_patches_alone_s", direct_s},
            {"group_members_in_target", in_target},
            {"group_member_patches", bridge_patches},
            {"group_members_outcome", code},
            {"group_members_applied_s", static_cast<double>(applied_ms - produced_ms) / 1000.0},
            {"group_reevaluations_done_s", static_cast<double>(last_reevaluation_ms - produced_ms) / 1000.0}};
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"provbridge end-to-end benchmark"};
    std::size_t events = 5000;
    std::size_t latency_events = 1000;
    double latency_rate = 200;
    int concurrency = 8;
    std::size_t capacity_users = 3000;
    std::size_t isolation_events = 5000;
    std::size_t group_members = 10000;
    std::string out_dir = "bench-results";
    app.add_option("--events", events, "Backlog of user-assign events for the throughput run");
    app.add_option("--latency-events", latency_events, "Events for the latency run");
    app.add_option("--latency-rate", latency_rate, "Events per second produced in the latency run");
    app.add_option("--concurrency", concurrency, "Worker lanes, and client threads for the target's capacity");
    app.add_option("--capacity-users", capacity_users, "Users created to measure the target's capacity");
    app.add_option("--isolation-events", isolation_events, "Events of the fast app in each isolation run (0: skip)");
    app.add_option("--group-members", group_members, "Members of the one group of step 7 (0: skip)");
    app.add_option("--out", out_dir, "Directory for CSV, JSON and the plot");
    CLI11_PARSE(app, argc, argv);
    std::filesystem::create_directories(out_dir);

    try {
        std::cout << "Starting Redis, the SCIMMY target and the embedded broker\n";
        ops::LocalRedis redis;
        ops::LocalScimTarget target(ops::default_scim_target_script(), kToken);
        ops::EmbeddedBroker broker(3, {{"provisioning.events", 6}, {"provisioning.deadletter", 1}});
        ops::TempDir dir("provbridge-bench-");
        std::ofstream(dir.path() + "/token") << kToken << "\n";

        std::cout << "1. Target capacity: " << capacity_users << " x (GET filter + POST /Users) on " << concurrency
                  << " connections\n";
        consumers::ScimClientOptions admin;
        admin.base_url = target.root_url();
        admin.token = kToken;
        consumers::CurlScimClient admin_client(admin);
        ScimRequest reset;
        reset.method = HttpMethod::Post;
        reset.path = "/_admin/reset";
        // A first pass warms node's JIT up, as the bridge's own run would; only the second counts.
        measure_target(target.base_url(), concurrency, std::max<std::size_t>(capacity_users / 3, 200));
        admin_client.send(reset);
        const double target_rate = measure_target(target.base_url(), concurrency, capacity_users);
        std::cout << "   " << static_cast<long>(target_rate) << " user creations/s\n";
        admin_client.send(reset);

        const std::string config_path = dir.path() + "/bridge.json";
        std::ofstream(config_path) << json{
            {"kafka", {{"bootstrap_servers", broker.bootstrap_servers()}, {"group_id", "bench"},
                       {"consumer_properties", {{"session.timeout.ms", "6000"}, {"heartbeat.interval.ms", "1000"},
                                       // The mock broker holds empty fetches for this long.
                                       {"fetch.wait.max.ms", "10"}}}}},
            {"redis", {{"url", redis.url()}}},
            {"ops", {{"listen", "127.0.0.1:0"}}},
            {"worker", {{"concurrency", concurrency}, {"max_in_flight", 2000}}},
            {"apps", json::array({{{"id", kApp}, {"scim", {{"base_url", target.base_url()},
                                                           {"token_file", dir.path() + "/token"}}}}})}}
                                            .dump(2);
        producers::KafkaProducer producer({{"bootstrap.servers", broker.bootstrap_servers()}, {"linger.ms", "5"}});

        std::cout << "2. Throughput: producing a backlog of " << events << " user-assign events\n";
        {
            std::vector<std::future<Result<producers::DeliveryReport>>> pending;
            for (std::size_t i = 0; i < events; ++i) {
                pending.push_back(producer.send("provisioning.events", std::string(kApp) + "/user/tp-" + std::to_string(i),
                                                assign_event("tp", i)));
            }
            for (auto& p : pending) {
                if (!p.get()) throw std::runtime_error("produce failed");
            }
        }
        ops::ChildProcess::Options wopts;
        wopts.argv = {PROVBRIDGE_BINARY, "run", "--config", config_path, "--json-progress", "--log-level", "warn"};
        ops::ChildProcess worker(std::move(wopts));
        if (!wait_finished(worker, events, std::chrono::seconds(600))) throw std::runtime_error("throughput run did not finish");

        std::cout << "3. Latency: " << latency_events << " events at " << latency_rate << "/s\n";
        const auto interval = std::chrono::duration<double>(1.0 / latency_rate);
        const auto start = SteadyClock::now();
        std::vector<std::future<Result<producers::DeliveryReport>>> pending;
        for (std::size_t i = 0; i < latency_events; ++i) {
            // Open-loop load: each event leaves at its scheduled time, whatever the bridge does.
            std::this_thread::sleep_until(start + std::chrono::duration_cast<SteadyClock::duration>(interval * static_cast<double>(i)));
            pending.push_back(producer.send("provisioning.events", std::string(kApp) + "/user/lat-" + std::to_string(i),
                                            assign_event("lat", i)));
        }
        for (auto& p : pending) p.get();
        if (!wait_finished(worker, events + latency_events, std::chrono::seconds(600))) {
            throw std::runtime_error("latency run did not finish");
        }
        std::cout << "4. Throughput with faults: a backlog of " << events
                  << " events while the target answers 5% 429 (Retry-After: 1) and 5% 503\n";
        const auto add_fault = [&](json rule) {
            ScimRequest request;
            request.method = HttpMethod::Post;
            request.path = "/_admin/faults";
            request.body = std::move(rule);
            if (admin_client.send(request).status != 201) throw std::runtime_error("the target refused a fault rule");
        };
        add_fault({{"status", 429}, {"probability", 0.05}, {"seed", 7}, {"retryAfter", "1"}});
        add_fault({{"status", 503}, {"probability", 0.05}, {"seed", 11}});
        {
            std::vector<std::future<Result<producers::DeliveryReport>>> faulted;
            for (std::size_t i = 0; i < events; ++i) {
                faulted.push_back(producer.send("provisioning.events", std::string(kApp) + "/user/ft-" + std::to_string(i),
                                                assign_event("ft", i)));
            }
            for (auto& p : faulted) {
                if (!p.get()) throw std::runtime_error("produce failed");
            }
        }
        if (!wait_finished(worker, 2 * events + latency_events, std::chrono::seconds(900))) {
            throw std::runtime_error("the run with faults did not finish");
        }
        const long rss_kb = worker.peak_rss_kb();
        worker.stop(std::chrono::seconds(30));
        const json isolation = isolation_events > 0 ? run_isolation(redis, broker, target, admin_client, dir.path(), out_dir,
                                                                     concurrency, isolation_events)
                                                    : json::object();
        const json groups = group_members > 0 ? run_group(redis, broker, target, admin_client, dir.path(), concurrency,
                                                          group_members)
                                              : json::object();

        consumers::ProvisioningLogReader reader(consumers::RedisOptions{"127.0.0.1", redis.port(), 0, "", std::chrono::seconds(5)},
                                                KeyScheme("pb"));
        const auto records = read_log(reader);
        std::vector<double> latencies;
        std::int64_t tp_first = INT64_MAX;
        std::int64_t tp_last = 0;
        std::size_t created = 0;
        std::size_t throughput_done = 0;
        std::int64_t ft_first = INT64_MAX;
        std::int64_t ft_last = 0;
        std::size_t ft_done = 0;
        std::size_t ft_retried = 0;
        std::size_t dead_lettered = 0;
        std::vector<std::int64_t> tp_finish;
        std::vector<std::int64_t> ft_finish;
        std::ofstream timeline(out_dir + "/e2e-throughput.csv");
        std::ofstream latency_csv(out_dir + "/e2e-latency.csv");
        timeline << "finished_at_ms\n";
        latency_csv << "latency_ms\n";
        for (const auto& r : records) {
            if (r.action == Action::Create) ++created;
            if (r.status == OutcomeStatus::DeadLettered) ++dead_lettered;
            if (r.object_id.rfind("ft-", 0) == 0) {
                ft_first = std::min(ft_first, r.started_at_ms);
                ft_last = std::max(ft_last, r.finished_at_ms);
                ++ft_done;
                ft_finish.push_back(r.finished_at_ms);
                if (r.attempts > 1) ++ft_retried;
            }
            if (r.object_id.rfind("tp-", 0) == 0) {
                tp_first = std::min(tp_first, r.started_at_ms);
                tp_last = std::max(tp_last, r.finished_at_ms);
                ++throughput_done;
                tp_finish.push_back(r.finished_at_ms);
                timeline << r.finished_at_ms << "\n";
            } else if (r.object_id.rfind("lat-", 0) == 0 && r.answered_at_ms > 0) {
                const double ms = static_cast<double>(r.answered_at_ms - r.produced_at_ms);
                latencies.push_back(ms);
                latency_csv << ms << "\n";
            }
        }
        timeline.close();
        latency_csv.close();
        const double tp_seconds = static_cast<double>(tp_last - tp_first) / 1000.0;
        const double throughput = tp_seconds > 0 ? static_cast<double>(throughput_done) / tp_seconds : 0;
        const double ft_seconds = static_cast<double>(ft_last - ft_first) / 1000.0;
        const double ft_throughput = ft_seconds > 0 ? static_cast<double>(ft_done) / ft_seconds : 0;
        // The rate at which 99% of a backlog is done: with faults the last events finish only after
        // their backoff (the unluckiest failed several times in a row), which says how long a
        // retry waits, not how fast the bridge works.
        const auto rate_99 = [](std::vector<std::int64_t> finish, std::int64_t first) {
            if (finish.empty()) return 0.0;
            std::sort(finish.begin(), finish.end());
            const auto n = static_cast<std::size_t>(0.99 * static_cast<double>(finish.size()));
            const double seconds = static_cast<double>(finish[std::max<std::size_t>(n, 1) - 1] - first) / 1000.0;
            return seconds > 0 ? static_cast<double>(n) / seconds : 0.0;
        };
        std::sort(tp_finish.begin(), tp_finish.end());
        std::sort(ft_finish.begin(), ft_finish.end());
        const std::int64_t ft_at_99 =
            ft_finish.empty() ? 0 : ft_finish[static_cast<std::size_t>(0.99 * static_cast<double>(ft_finish.size() - 1))];
        const double tp_rate_99 = rate_99(tp_finish, tp_first);
        const double ft_rate_99 = rate_99(ft_finish, ft_first);
        // The steady rate while the backlog is worked off: events finished between the 10th and the
        // 90th percentile of finish times, per second (sorted above).
        const auto rate_mid = [](const std::vector<std::int64_t>& finish) {
            if (finish.size() < 10) return 0.0;
            const auto lo = finish.size() / 10;
            const auto hi = finish.size() * 9 / 10;
            const double seconds = static_cast<double>(finish[hi] - finish[lo]) / 1000.0;
            return seconds > 0 ? static_cast<double>(hi - lo) / seconds : 0.0;
        };
        const double tp_rate_mid = rate_mid(tp_finish);
        const double ft_rate_mid = rate_mid(ft_finish);
        json result = {{"events", events},
                             {"created", created},
                             {"throughput_events_per_s", throughput},
                             {"target_capacity_creations_per_s", target_rate},
                             {"latency_rate_per_s", latency_rate},
                             {"latency_p50_ms", percentile(latencies, 0.50)},
                             {"latency_p99_ms", percentile(latencies, 0.99)},
                             {"latency_max_ms", percentile(latencies, 1.0)},
                             {"worker_peak_rss_mb", static_cast<double>(rss_kb) / 1024.0},
                             {"faults_throughput_events_per_s", ft_throughput},
                             {"faults_retried_events", ft_retried},
                             {"throughput_99_events_per_s", tp_rate_99},
                             {"faults_throughput_99_events_per_s", ft_rate_99},
                             {"throughput_mid_events_per_s", tp_rate_mid},
                             {"faults_throughput_mid_events_per_s", ft_rate_mid},
                             {"dead_lettered", dead_lettered},
                             {"concurrency", concurrency},
                             {"cpus", std::thread::hardware_concurrency()}};
        result.update(isolation);
        result.update(groups);
        std::ofstream(out_dir + "/e2e.json") << result.dump(2) << "\n";
        std::printf("\n%-44s %10s\n", "figure", "value");
        std::printf("%-44s %10.0f\n", "end-to-end user creations/s (backlog)", throughput);
        std::printf("%-44s %10.0f\n", "target capacity, GET filter + POST /s", target_rate);
        std::printf("%-44s %9.0f%%\n", "bridge throughput / target capacity", 100.0 * throughput / target_rate);
        std::printf("%-44s %10.1f\n", "latency p50 ms (produced -> SCIM answered)", percentile(latencies, 0.5));
        std::printf("%-44s %10.1f\n", "latency p99 ms", percentile(latencies, 0.99));
        std::printf("%-44s %10.1f\n", "worker peak RSS MB", static_cast<double>(rss_kb) / 1024.0);
        std::printf("%-44s %10.0f\n", "with 5% 429 + 5% 503: user creations/s", ft_throughput);
        std::printf("%-44s %9.0f%%\n", "with faults / without (all events)", throughput > 0 ? 100.0 * ft_throughput / throughput : 0);
        std::printf("%-44s %10.0f\n", "first 99%: creations/s without faults", tp_rate_99);
        std::printf("%-44s %10.0f\n", "first 99%: creations/s with faults", ft_rate_99);
        std::printf("%-44s %9.0f%%\n", "with faults / without (first 99%)", tp_rate_99 > 0 ? 100.0 * ft_rate_99 / tp_rate_99 : 0);
        std::printf("%-44s %10.0f\n", "steady (10%-90%): creations/s without faults", tp_rate_mid);
        std::printf("%-44s %10.0f\n", "steady (10%-90%): creations/s with faults", ft_rate_mid);
        std::printf("%-44s %9.0f%%\n", "with faults / without (steady)", tp_rate_mid > 0 ? 100.0 * ft_rate_mid / tp_rate_mid : 0);
        std::printf("%-44s %10.1f\n", "faults run: seconds from 99% to the last",
                    static_cast<double>(ft_last - ft_at_99) / 1000.0);
        std::printf("%-44s %10zu\n", "events retried in the faults run", ft_retried);
        std::printf("%-44s %10zu\n", "dead-lettered (should be 0)", dead_lettered);
        std::printf("%-44s %10zu\n", "accounts created", created);
        if (!isolation.empty()) {
            const double alone = isolation["isolation_fast_alone_events_per_s"];
            const double beside = isolation["isolation_fast_beside_slow_events_per_s"];
            std::printf("%-44s %10.0f\n", "isolation: fast app alone, events/s", alone);
            const double again = isolation["isolation_fast_alone_again_events_per_s"];
            std::printf("%-44s %10.0f\n", "isolation: fast app alone again, events/s", again);
            std::printf("%-44s %9.0f%%\n", "isolation: alone again / alone (noise)", alone > 0 ? 100.0 * again / alone : 0);
            std::printf("%-44s %10.0f\n", "isolation: fast app beside a 5 s app, events/s", beside);
            std::printf("%-44s %9.0f%%\n", "isolation: beside / alone", alone > 0 ? 100.0 * beside / alone : 0);
            std::printf("%-44s %9.0f%%\n", "isolation: beside / mean of both alone runs",
                        alone + again > 0 ? 200.0 * beside / (alone + again) : 0);
            std::printf("%-44s %4lld / %lld\n", "isolation: longest pause alone / beside, ms",
                        static_cast<long long>(isolation["isolation_longest_pause_alone_ms"].get<std::int64_t>()),
                        static_cast<long long>(isolation["isolation_longest_pause_beside_ms"].get<std::int64_t>()));
            std::printf("%-44s %6zu / %zu\n", "isolation: slow events done meanwhile",
                        isolation["isolation_slow_done_when_fast_done"].get<std::size_t>(),
                        isolation["isolation_slow_events"].get<std::size_t>());
            std::printf("%-44s %10.1f\n", "kill -9 -> restarted worker processing, s",
                        isolation["kill9_to_processing_s"].get<double>());
        }

        if (!groups.empty()) {
            std::printf("%-44s %10zu\n", "group: members", groups["group_members"].get<std::size_t>());
            std::printf("%-44s %10zu\n", "group: members in the target", groups["group_members_in_target"].get<std::size_t>());
            std::printf("%-44s %10lld\n", "group: PATCH /Groups/{id} requests",
                        static_cast<long long>(groups["group_member_patches"].get<std::int64_t>()));
            std::printf("%-44s %10.1f\n", "group: members.added produced -> applied, s",
                        groups["group_members_applied_s"].get<double>());
            std::printf("%-44s %10.1f\n", "group: the same PATCHes sent directly, s",
                        groups["group_target_patches_alone_s"].get<double>());
            std::printf("%-44s %10.1f\n", "group: -> every member reevaluated, s",
                        groups["group_reevaluations_done_s"].get<double>());
        }

        std::ofstream plot(out_dir + "/e2e.gnuplot");
        const bool isolation_plot = !isolation.empty();
        plot << "set terminal pngcairo size " << (isolation_plot ? 1500 : 1100) << ",440 font 'sans,10'\nset output '"
             << out_dir << "/e2e.png'\n"
             << "set multiplot layout 1," << (isolation_plot ? 3 : 2) << " title 'provbridge end to end ("
             << concurrency << " lanes)'\n"
             << "set datafile separator ','\nset key off\nset grid\n"
             << "set title 'Throughput: user creations per second (backlog of " << events << ")'\n"
             << "set xlabel 'seconds'\nset ylabel 'events/s'\nbin=0.5\n"
             << "plot '" << out_dir << "/e2e-throughput.csv' every ::1 using (bin*floor((($1-" << tp_first
             << ")/1000.0)/bin)):(1.0/bin) smooth frequency with steps lw 2\n"
             << "set title 'Latency, produced -> SCIM answered, at " << latency_rate << "/s'\n"
             << "set xlabel 'ms'\nset ylabel 'fraction of events'\nset yrange [0:1]\n"
             << "plot '" << out_dir << "/e2e-latency.csv' every ::1 using 1:(1.0/" << std::max<std::size_t>(1, latencies.size())
             << ") smooth cumulative with lines lw 2\n";
        if (isolation_plot) {
            // One line per batch of the fast app, each from its own first start.
            plot << "set title 'Isolation: fast app outcomes, alone and beside a 5 s app'\n"
                 << "set xlabel 'seconds from the batch start'\nset ylabel 'events done'\nset autoscale y\n"
                 << "set key left top\n";
            const char* batches[][2] = {{"alone", "alone"}, {"again", "alone again"}, {"beside", "beside the 5 s app"}};
            plot << "plot ";
            for (std::size_t b = 0; b < 3; ++b) {
                plot << (b > 0 ? ", " : "") << "'" << out_dir << "/e2e-isolation.csv' every ::1 using (strcol(1) eq '"
                     << batches[b][0] << "' ? $2/1000.0 : 1/0):(1) smooth cumulative with lines lw 2 title '"
                     << batches[b][1] << "'";
            }
            plot << "\n";
        }
        plot << "unset multiplot\n";
        plot.close();
        if (std::system(("command -v gnuplot >/dev/null 2>&1 && gnuplot " + out_dir + "/e2e.gnuplot").c_str()) == 0) {
            std::cout << "\nPlot: " << out_dir << "/e2e.png\n";
        } else {
            std::cout << "\n(gnuplot not installed: no plot; CSV files are in " << out_dir << ")\n";
        }
        std::cout << "Figures: " << out_dir << "/e2e.json, samples: " << out_dir << "/e2e-*.csv\n";
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "benchmark failed: " << e.what() << "\n";
        return 1;
    }
}
