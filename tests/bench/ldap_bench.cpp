// LDAP source benchmark (not a test): `provbridge source ldap` following a real slapd (syncprov)
// into the SCIMMY target through `provbridge run`, against the same events produced straight to
// Kafka in the same run, measuring
//   1. the initial sync of N directory users (all in the app group): source start -> the last
//      account answered by the target, in events/s; beside it the source alone (its dry run:
//      read and judge, nothing sent) and the same N events produced directly into another app
//      of the same worker, on a target of its own;
//   2. change latency: M title changes with ldapmodify at a steady rate, from the change's
//      entryCSN (the directory's own time of the modify) to the target's answer, split at the
//      Kafka record's timestamp (the source's part, the bridge's part); beside it M updates
//      produced straight to Kafka at the same rate (record timestamp -> answer).
// Prints the figures, writes CSV/JSON to --out and, when gnuplot is installed, a plot.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <thread>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "provbridge/consumers/redis_store.hpp"
#include "provbridge/core/keys.hpp"
#include "provbridge/ops/embedded_broker.hpp"
#include "provbridge/ops/local_services.hpp"
#include "provbridge/ops/process.hpp"
#include "provbridge/producers/ldap_client.hpp"
#include "provbridge/producers/producer.hpp"

namespace {

using namespace provbridge;
using nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

constexpr const char* kToken = "ldap-bench-token-5d1a";
constexpr const char* kLdapApp = "ldap";
constexpr const char* kDirectApp = "direct";
constexpr const char* kTopic = "provisioning.events";

std::int64_t wall_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string uid_of(std::size_t i) { return "person" + std::to_string(i); }

std::string people_ldif(const std::string& suffix, std::size_t users) {
    std::string ldif = "dn: ou=people," + suffix + "\nobjectClass: organizationalUnit\nou: people\n\n";
    ldif += "dn: ou=groups," + suffix + "\nobjectClass: organizationalUnit\nou: groups\n\n";
    for (std::size_t i = 0; i < users; ++i) {
        const auto uid = uid_of(i);
        ldif += "dn: uid=" + uid + ",ou=people," + suffix + "\nobjectClass: inetOrgPerson\nuid: " + uid + "\ncn: Zoë " +
                uid + "\ngivenName: Zoë\nsn: Bench" + std::to_string(i) + "\ndisplayName: Zoë Bench\nmail: " + uid +
                "@bench.example\ntitle: Engineer\ndepartmentNumber: R&D\nemployeeNumber: " + std::to_string(i) +
                "\nmobile: +33 6 00 00 00 00\npreferredLanguage: fr-FR\n\n";
    }
    ldif += "dn: cn=app-ldap,ou=groups," + suffix + "\nobjectClass: groupOfNames\ncn: app-ldap\n";
    for (std::size_t i = 0; i < users; ++i) ldif += "member: uid=" + uid_of(i) + ",ou=people," + suffix + "\n";
    return ldif + "\n";
}

std::vector<OutcomeRecord> read_log(consumers::ProvisioningLogReader& reader, const std::string& app) {
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

// Reads JSON progress lines of `process` until `done` holds for one (printing `label` progress).
std::optional<json> wait_progress(ops::ChildProcess& process, const std::function<bool(const json&)>& done,
                                  std::chrono::seconds timeout, const std::string& label, const char* counter,
                                  std::uint64_t of) {
    const auto deadline = SteadyClock::now() + timeout;
    std::uint64_t printed = 0;
    const bool tty = isatty(STDOUT_FILENO) != 0;
    while (SteadyClock::now() < deadline) {
        auto line = process.read_line(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now()));
        if (!line) return std::nullopt;
        auto doc = json::parse(*line, nullptr, false);
        if (doc.is_discarded() || !doc.is_object() || !doc.contains(counter)) continue;
        const auto n = doc[counter].get<std::uint64_t>();
        if (n >= printed + 1000 || done(doc)) {
            std::cout << (tty ? "\r" : "") << "   " << label << ": " << n << " / " << of << (tty ? "   " : "\n") << std::flush;
            printed = n;
        }
        if (done(doc)) {
            if (tty) std::cout << "\n";
            return doc;
        }
    }
    return std::nullopt;
}

double percentile(std::vector<double> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    const auto idx = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
    return v[std::min(idx, v.size() - 1)];
}

// The CSN time (ms) an LDAP event carries in its id: ldap:<uuid>:<version micros>:<app>:<kind>.
std::int64_t csn_ms_of(const std::string& event_id) {
    const auto first = event_id.find(':', 5);
    const auto second = event_id.find(':', first + 1);
    if (first == std::string::npos || second == std::string::npos) return 0;
    return std::stoll(event_id.substr(first + 1, second - first - 1)) / 1000;
}

// The dry run's event for the direct app, changed as the directory's title change is.
json user_updated(const json& assigned, std::size_t i, const std::string& title) {
    json e = assigned;
    e["id"] = "direct-upd-" + std::to_string(i);
    e["type"] = "provisioning.user.updated";
    e["data"]["object"]["version"] = e["data"]["object"]["version"].get<std::int64_t>() + 1;
    e["data"]["object"]["attributes"]["jobTitle"] = title;
    return e;
}

json warm_up_event() {
    const std::string uid = "warm-up";
    return {{"specversion", "1.0"},
            {"id", "direct-warm-up"},
            {"source", "urn:directory:bench-direct"},
            {"type", "provisioning.user.assigned"},
            {"data",
             {{"app", kDirectApp},
              {"object",
               {{"type", "user"},
                {"id", uid},
                {"version", 1},
                {"attributes",
                 {{"userPrincipalName", uid + "@bench.example"}, {"mail", uid + "@bench.example"},
                  {"mailNickname", uid}, {"givenName", "Zoë"}, {"surname", "Bench"},
                  {"displayName", "Zoë Bench"}, {"accountEnabled", true}}}}},
              {"assignment", {{"role", "User"}}}}}};
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"provbridge LDAP source benchmark"};
    std::size_t users = 10000;
    std::size_t changes = 100;
    double change_rate = 10;
    int concurrency = 8;
    std::string out_dir = "bench-results";
    app.add_option("--users", users, "Directory users, all in the app group (the initial sync)");
    app.add_option("--changes", changes, "Title changes for the latency run");
    app.add_option("--change-rate", change_rate, "Changes per second in the latency run");
    app.add_option("--concurrency", concurrency, "Worker lanes");
    app.add_option("--out", out_dir, "Directory for CSV, JSON and the plot");
    CLI11_PARSE(app, argc, argv);
    std::filesystem::create_directories(out_dir);
    changes = std::min(changes, users);

    try {
        std::cout << "Starting Redis, two SCIMMY targets, the embedded broker and slapd\n";
        ops::LocalRedis redis;
        ops::LocalScimTarget ldap_target(ops::default_scim_target_script(), kToken);
        ops::LocalScimTarget direct_target(ops::default_scim_target_script(), kToken);
        ops::EmbeddedBroker broker(3, {{kTopic, 6}, {"provisioning.deadletter", 1}});
        ops::LocalSlapd slapd(ops::LocalSlapd::Options{});
        ops::TempDir dir("provbridge-ldap-bench-");
        std::ofstream(dir.path() + "/token") << kToken << "\n";
        std::cout << "Seeding the directory with " << users << " users in the app group\n";
        const auto seed_start = SteadyClock::now();
        if (auto seeded = slapd.apply(people_ldif(slapd.suffix(), users)); !seeded.ok()) {
            throw std::runtime_error(seeded.error().message);
        }
        std::cout << "   " << std::chrono::duration<double>(SteadyClock::now() - seed_start).count() << " s\n";

        const auto app_of = [&](const char* id, const ops::LocalScimTarget& target) {
            return json{{"id", id}, {"scim", {{"base_url", target.base_url()}, {"token_file", dir.path() + "/token"}}}};
        };
        const auto source_of = [&](const std::string& name, const char* app_id) {
            return json{{"url", slapd.url()},
                        {"bind_dn", slapd.admin_dn()},
                        {"password_file", slapd.password_file()},
                        {"source", name},
                        {"users", {{"base_dn", "ou=people," + slapd.suffix()}}},
                        {"groups", {{"base_dn", "ou=groups," + slapd.suffix()}}},
                        {"assignments", {{{"app", app_id}, {"group", "cn=app-ldap,ou=groups," + slapd.suffix()}}}}};
        };
        json config = {
            {"kafka",
             {{"bootstrap_servers", broker.bootstrap_servers()},
              {"group_id", "ldap-bench"},
              {"consumer_properties", {{"fetch.wait.max.ms", "10"}}}}},
            {"redis", {{"url", redis.url()}}},
            {"ops", {{"listen", "127.0.0.1:0"}}},
            {"worker", {{"concurrency", concurrency}, {"max_in_flight", 2000}}},
            {"apps", json::array({app_of(kLdapApp, ldap_target), app_of(kDirectApp, direct_target)})},
            {"sources", {{"ldap", source_of("urn:directory:bench", kLdapApp)}}}};
        const std::string config_path = dir.path() + "/bridge.json";
        std::ofstream(config_path) << config.dump(2);
        // The dry run's own source (its own progress keys), judging for the direct app.
        config["sources"]["ldap"] = source_of("urn:directory:bench-direct", kDirectApp);
        const std::string direct_config_path = dir.path() + "/direct.json";
        std::ofstream(direct_config_path) << config.dump(2);

        std::cout << "1a. The source alone: dry run of the initial sync (read and judge, nothing sent)\n";
        std::vector<std::pair<std::string, std::string>> direct_events;
        double dry_s = 0;
        {
            ops::ChildProcess::Options o;
            o.argv = {PROVBRIDGE_BINARY, "source", "ldap", "--config", direct_config_path, "--dry-run", "--log-level", "warn"};
            const auto start = SteadyClock::now();
            ops::ChildProcess dry(std::move(o));
            while (direct_events.size() < users) {
                auto line = dry.read_line(std::chrono::seconds(300));
                if (!line) break;
                auto doc = json::parse(*line, nullptr, false);
                if (doc.is_discarded() || !doc.contains("data")) continue;
                const auto& data = doc["data"];
                direct_events.emplace_back(data["app"].get<std::string>() + "/user/" + data["object"]["id"].get<std::string>(),
                                           doc.dump());
            }
            dry_s = std::chrono::duration<double>(SteadyClock::now() - start).count();
            dry.stop();
        }
        if (direct_events.size() != users) throw std::runtime_error("the dry run printed " + std::to_string(direct_events.size()) + " events");
        std::cout << "   " << users << " events in " << dry_s << " s\n";

        // The worker first, and one event through it: the consumer group has joined before the clock runs.
        ops::ChildProcess::Options wopts;
        wopts.argv = {PROVBRIDGE_BINARY, "run", "--config", config_path, "--json-progress", "--log-level", "warn"};
        ops::ChildProcess worker(std::move(wopts));
        producers::KafkaProducer producer({{"bootstrap.servers", broker.bootstrap_servers()}, {"linger.ms", "5"}});
        if (!producer.send(kTopic, std::string(kDirectApp) + "/user/warm-up", warm_up_event().dump()).get()) {
            throw std::runtime_error("produce failed");
        }
        const std::uint64_t warm = 1;
        if (!wait_progress(worker, [&](const json& d) { return d["finished"].get<std::uint64_t>() >= warm; },
                           std::chrono::seconds(120), "warm-up", "finished", warm)) {
            throw std::runtime_error("the worker did not start");
        }

        std::cout << "1b. Initial sync through Kafka and the worker into the target\n";
        const auto sync_start_ms = wall_ms();
        ops::ChildProcess::Options sopts;
        sopts.argv = {PROVBRIDGE_BINARY, "source", "ldap", "--config", config_path, "--json-progress", "--log-level", "warn"};
        ops::ChildProcess source(std::move(sopts));
        auto synced = wait_progress(
            source, [](const json& d) { return d.value("connected", false) && !d.value("refreshing", true); },
            std::chrono::seconds(900), "entries read", "entries_read", users + 1);
        if (!synced) throw std::runtime_error("the source did not finish its initial sync");
        const auto sent = (*synced)["events_sent"].get<std::uint64_t>();
        if (!wait_progress(worker, [&](const json& d) { return d["finished"].get<std::uint64_t>() >= warm + sent; },
                           std::chrono::seconds(1800), "events finished", "finished", warm + sent)) {
            throw std::runtime_error("the worker did not finish the initial sync");
        }
        consumers::ProvisioningLogReader reader(consumers::RedisOptions{"127.0.0.1", redis.port(), 0, "", std::chrono::seconds(5)},
                                                KeyScheme("pb"));
        std::int64_t last_answer = 0, first_start = INT64_MAX, last_produced = 0;
        std::size_t created = 0;
        for (const auto& r : read_log(reader, kLdapApp)) {
            last_answer = std::max(last_answer, r.answered_at_ms > 0 ? r.answered_at_ms : r.finished_at_ms);
            last_produced = std::max(last_produced, r.produced_at_ms);
            first_start = std::min(first_start, r.started_at_ms);
            if (r.status == OutcomeStatus::Applied) ++created;
        }
        const double sync_s = static_cast<double>(last_answer - sync_start_ms) / 1000.0;
        const double worker_ldap_s = static_cast<double>(last_answer - first_start) / 1000.0;
        std::cout << "   " << created << " accounts in " << sync_s << " s from the source's start ("
                  << static_cast<double>(last_produced - sync_start_ms) / 1000.0 << " s to the source's last event in Kafka)\n";

        std::cout << "1c. The same " << users << " events produced straight to Kafka, into the direct app\n";
        {
            std::vector<std::future<Result<producers::DeliveryReport>>> pending;
            for (const auto& [key, value] : direct_events) pending.push_back(producer.send(kTopic, key, value));
            for (auto& p : pending) {
                if (!p.get()) throw std::runtime_error("produce failed");
            }
        }
        if (!wait_progress(worker, [&](const json& d) { return d["finished"].get<std::uint64_t>() >= warm + sent + users; },
                           std::chrono::seconds(1800), "events finished", "finished", warm + sent + users)) {
            throw std::runtime_error("the worker did not finish the direct events");
        }
        std::int64_t direct_first = INT64_MAX, direct_last = 0;
        for (const auto& r : read_log(reader, kDirectApp)) {
            if (r.event_id == "direct-warm-up") continue;
            direct_first = std::min(direct_first, r.produced_at_ms);
            direct_last = std::max(direct_last, r.answered_at_ms > 0 ? r.answered_at_ms : r.finished_at_ms);
        }
        const double direct_s = static_cast<double>(direct_last - direct_first) / 1000.0;

        std::cout << "2. Latency: " << changes << " title changes with ldapmodify at " << change_rate
                  << "/s, then as many updates produced straight to Kafka\n";
        const auto interval = std::chrono::duration<double>(1.0 / change_rate);
        auto start = SteadyClock::now();
        for (std::size_t i = 0; i < changes; ++i) {
            // Open loop: each change at its time, whatever the bridge does.
            std::this_thread::sleep_until(start + std::chrono::duration_cast<SteadyClock::duration>(interval * static_cast<double>(i)));
            auto applied = slapd.apply("dn: uid=" + uid_of(i) + ",ou=people," + slapd.suffix() +
                                       "\nchangetype: modify\nreplace: title\ntitle: Changed " + std::to_string(i) + "\n");
            if (!applied.ok()) throw std::runtime_error(applied.error().message);
        }
        const std::uint64_t after_ldap = warm + sent + users + changes;
        if (!wait_progress(worker, [&](const json& d) { return d["finished"].get<std::uint64_t>() >= after_ldap; },
                           std::chrono::seconds(600), "events finished", "finished", after_ldap)) {
            throw std::runtime_error("the worker did not finish the LDAP changes");
        }
        start = SteadyClock::now();
        std::vector<std::future<Result<producers::DeliveryReport>>> pending;
        for (std::size_t i = 0; i < changes; ++i) {
            std::this_thread::sleep_until(start + std::chrono::duration_cast<SteadyClock::duration>(interval * static_cast<double>(i)));
            pending.push_back(producer.send(kTopic, direct_events[i].first,
                                            user_updated(json::parse(direct_events[i].second), i, "Changed " + std::to_string(i)).dump()));
        }
        for (auto& p : pending) p.get();
        if (!wait_progress(worker, [&](const json& d) { return d["finished"].get<std::uint64_t>() >= after_ldap + changes; },
                           std::chrono::seconds(600), "events finished", "finished", after_ldap + changes)) {
            throw std::runtime_error("the worker did not finish the direct updates");
        }
        const long rss_kb = worker.peak_rss_kb();
        const long source_rss_kb = source.peak_rss_kb();
        source.stop();
        worker.stop(std::chrono::seconds(30));

        // 3. What confirming an inferred deletion costs. The slapd here keeps no session log, so a
        // restarted source gets a present phase: every entry deleted while it was down is left
        // out, and the source looks each one up by entryUUID before it sends a deletion.
        const std::size_t deleted = std::max<std::size_t>(1, std::min<std::size_t>(1000, users / 10));
        std::cout << "3. Deletion confirmation: a restart with nothing changed, then " << deleted
                  << " users deleted while the source is down and a restart again\n";
        const auto restart = [&](std::int64_t* confirmed) {
            ops::ChildProcess::Options o;
            o.argv = {PROVBRIDGE_BINARY, "source", "ldap", "--config", config_path, "--json-progress", "--log-level", "warn"};
            const auto began = SteadyClock::now();
            ops::ChildProcess again(std::move(o));
            auto done = wait_progress(
                again, [](const json& d) { return d.value("connected", false) && !d.value("refreshing", true); },
                std::chrono::seconds(600), "entries read", "entries_read", 1);
            const double took = std::chrono::duration<double>(SteadyClock::now() - began).count();
            if (!done) throw std::runtime_error("the restarted source did not finish its refresh");
            *confirmed = done->value("deletions_confirmed", std::int64_t{-1});
            again.stop();
            return took;
        };
        std::int64_t confirmed_unchanged = 0, confirmed = 0;
        const double restart_unchanged_s = restart(&confirmed_unchanged);
        std::vector<std::string> gone_ids, alive_ids;
        std::string deletes;
        for (std::size_t i = 0; i < direct_events.size(); ++i) {
            const auto doc = json::parse(direct_events[i].second);
            const auto id = doc["data"]["object"]["id"].get<std::string>();
            if (i < deleted) {
                gone_ids.push_back(id);
                deletes += "dn: uid=" + doc["data"]["object"]["attributes"]["mailNickname"].get<std::string>() +
                           ",ou=people," + slapd.suffix() + "\nchangetype: delete\n\n";
            } else if (alive_ids.size() < deleted) {
                alive_ids.push_back(id);
            }
        }
        if (auto applied = slapd.apply(deletes); !applied.ok()) throw std::runtime_error(applied.error().message);
        const double restart_deleted_s = restart(&confirmed);
        if (confirmed != static_cast<std::int64_t>(deleted)) {
            throw std::runtime_error("the source confirmed " + std::to_string(confirmed) + " deletions, not " +
                                     std::to_string(deleted));
        }
        // The lookups alone, on a connection of their own: the entries gone (a confirmed
        // deletion) and as many that exist (a refuted one, read whole).
        producers::ldap::ConnectOptions admin;
        admin.url = slapd.url();
        admin.bind_dn = slapd.admin_dn();
        admin.password = slapd.admin_password();
        auto connection = producers::ldap::SyncConnection::open(admin);
        if (!connection.ok()) throw std::runtime_error(connection.error().message);
        const producers::ldap::SearchSpec people{"ou=people," + slapd.suffix(), "(objectClass=inetOrgPerson)",
                                                 {"*", "entryUUID", "entryCSN", "modifyTimestamp"}};
        const auto time_lookup = [&](const std::vector<std::string>& ids, std::size_t expect) {
            const auto began = SteadyClock::now();
            auto found = (*connection)->find(people, ids, std::chrono::seconds(60));
            const double took = std::chrono::duration<double>(SteadyClock::now() - began).count();
            if (!found.ok()) throw std::runtime_error(found.error().message);
            if (found->size() != expect) throw std::runtime_error("the lookup found " + std::to_string(found->size()));
            return took;
        };
        const double lookup_gone_s = time_lookup(gone_ids, 0);
        const double lookup_alive_s = time_lookup(alive_ids, alive_ids.size());
        // The listing a resume answered from a session log is checked with (entryUUIDs alone).
        const auto listing_began = SteadyClock::now();
        auto listed = (*connection)->list(people, std::chrono::seconds(60));
        const double listing_s = std::chrono::duration<double>(SteadyClock::now() - listing_began).count();
        if (!listed.ok()) throw std::runtime_error(listed.error().message);
        if (listed->size() != users - deleted) throw std::runtime_error("the listing found " + std::to_string(listed->size()));
        const double listing_per_entry_us = 1e6 * listing_s / static_cast<double>(listed->size());
        const double per_deletion_us = 1e6 * lookup_gone_s / static_cast<double>(deleted);
        const double per_refuted_us = 1e6 * lookup_alive_s / static_cast<double>(alive_ids.size());
        const double per_entry_read_us = 1e6 * dry_s / static_cast<double>(users);
        const double restart_extra_per_deletion_us =
            1e6 * (restart_deleted_s - restart_unchanged_s) / static_cast<double>(deleted);

        std::vector<double> ldap_ms, source_part_ms, bridge_part_ms, direct_ms;
        std::ofstream csv(out_dir + "/ldap-latency.csv");
        csv << "path,latency_ms,source_part_ms\n";
        for (const auto& r : read_log(reader, kLdapApp)) {
            if (r.event_type != "provisioning.user.updated" || r.status != OutcomeStatus::Applied) continue;
            const auto answered = r.answered_at_ms > 0 ? r.answered_at_ms : r.finished_at_ms;
            const auto csn = csn_ms_of(r.event_id);
            ldap_ms.push_back(static_cast<double>(answered - csn));
            source_part_ms.push_back(static_cast<double>(r.produced_at_ms - csn));
            bridge_part_ms.push_back(static_cast<double>(answered - r.produced_at_ms));
            csv << "ldap," << ldap_ms.back() << "," << source_part_ms.back() << "\n";
        }
        for (const auto& r : read_log(reader, kDirectApp)) {
            if (r.event_type != "provisioning.user.updated" || r.status != OutcomeStatus::Applied) continue;
            direct_ms.push_back(static_cast<double>((r.answered_at_ms > 0 ? r.answered_at_ms : r.finished_at_ms) -
                                                    r.produced_at_ms));
            csv << "direct," << direct_ms.back() << ",\n";
        }
        csv.close();

        const double ldap_rate = static_cast<double>(created) / sync_s;
        const double direct_rate = static_cast<double>(users) / direct_s;
        const json figures = {
            {"users", users},
            {"concurrency", concurrency},
            {"accounts_created", created},
            {"source_dry_run_s", dry_s},
            {"source_dry_run_events_per_s", static_cast<double>(users) / dry_s},
            {"initial_sync_s", sync_s},
            {"initial_sync_events_per_s", ldap_rate},
            {"initial_sync_worker_s", worker_ldap_s},
            {"source_last_produced_s", static_cast<double>(last_produced - sync_start_ms) / 1000.0},
            {"direct_s", direct_s},
            {"direct_events_per_s", direct_rate},
            {"ldap_over_direct", ldap_rate / direct_rate},
            {"changes", changes},
            {"change_rate_per_s", change_rate},
            {"ldap_changes_answered", ldap_ms.size()},
            {"ldap_latency_p50_ms", percentile(ldap_ms, 0.5)},
            {"ldap_latency_p99_ms", percentile(ldap_ms, 0.99)},
            {"ldap_source_part_p50_ms", percentile(source_part_ms, 0.5)},
            {"ldap_bridge_part_p50_ms", percentile(bridge_part_ms, 0.5)},
            {"direct_latency_p50_ms", percentile(direct_ms, 0.5)},
            {"direct_latency_p99_ms", percentile(direct_ms, 0.99)},
            {"deletions", deleted},
            {"restart_unchanged_s", restart_unchanged_s},
            {"restart_after_deletions_s", restart_deleted_s},
            {"restart_extra_per_deletion_us", restart_extra_per_deletion_us},
            {"confirmation_lookup_per_deletion_us", per_deletion_us},
            {"lookup_per_refuted_deletion_us", per_refuted_us},
            {"refresh_per_entry_us", per_entry_read_us},
            {"confirmation_over_refresh_entry", per_deletion_us / per_entry_read_us},
            {"listing_entries", listed->size()},
            {"listing_s", listing_s},
            {"listing_per_entry_us", listing_per_entry_us},
            {"listing_over_refresh_entry", listing_per_entry_us / per_entry_read_us},
            {"worker_peak_rss_kb", rss_kb},
            {"source_peak_rss_kb", source_rss_kb}};
        std::ofstream(out_dir + "/ldap.json") << figures.dump(2) << "\n";

        std::cout << "\nResults (" << concurrency << " lanes, " << std::thread::hardware_concurrency() << " cores)\n"
                  << "  initial sync of " << users << " directory users: " << created << " accounts in " << sync_s
                  << " s = " << static_cast<long>(ldap_rate) << " events/s\n"
                  << "  the same events produced straight to Kafka: " << direct_s << " s = "
                  << static_cast<long>(direct_rate) << " events/s\n"
                  << "  ldap / direct: " << static_cast<int>(100 * ldap_rate / direct_rate) << " %\n"
                  << "  the source alone (dry run): " << static_cast<long>(static_cast<double>(users) / dry_s)
                  << " events/s\n"
                  << "  change latency, LDAP modify (entryCSN) -> SCIM answered: p50 " << percentile(ldap_ms, 0.5)
                  << " ms, p99 " << percentile(ldap_ms, 0.99) << " ms (" << ldap_ms.size() << " of " << changes
                  << "; source part p50 " << percentile(source_part_ms, 0.5) << " ms, bridge part p50 "
                  << percentile(bridge_part_ms, 0.5) << " ms)\n"
                  << "  produced straight to Kafka -> SCIM answered: p50 " << percentile(direct_ms, 0.5) << " ms, p99 "
                  << percentile(direct_ms, 0.99) << " ms\n"
                  << "  deletion confirmation, " << deleted << " users deleted while the source was down: restart "
                  << restart_deleted_s << " s vs " << restart_unchanged_s << " s with nothing changed ("
                  << restart_extra_per_deletion_us << " us more per deletion, judging and sending included); the "
                  << "lookup alone " << per_deletion_us << " us per deletion (" << per_refuted_us
                  << " us per entry found still there) = " << per_deletion_us / per_entry_read_us
                  << "x reading and judging one entry in the refresh (" << per_entry_read_us << " us)\n"
                  << "  listing checked on a resume from a session log: " << listed->size() << " entryUUIDs in "
                  << listing_s * 1000 << " ms = " << listing_per_entry_us << " us per entry = "
                  << listing_per_entry_us / per_entry_read_us << "x reading and judging one entry in the refresh\n"
                  << "  peak RSS: worker " << rss_kb / 1024.0 << " MB, source " << source_rss_kb / 1024.0 << " MB\n"
                  << "  written: " << out_dir << "/ldap.json, ldap-latency.csv\n";

        if (std::system("command -v gnuplot > /dev/null 2>&1") == 0) {
            const std::string script = out_dir + "/ldap-latency.gp";
            std::ofstream gp(script);
            gp << "set terminal pngcairo size 900,500\nset output '" << out_dir << "/ldap-latency.png'\n"
               << "set datafile separator ','\nset title 'Change latency: LDAP modify vs event produced -> SCIM answered'\n"
               << "set xlabel 'latency (ms)'\nset ylabel 'fraction of changes'\nset key bottom right\nset grid\n"
               << "plot '" << out_dir << "/ldap-latency.csv' using (strcol(1) eq 'ldap' ? $2 : 1/0):(1.0/" << ldap_ms.size()
               << ") smooth cumulative lw 2 title 'LDAP modify (entryCSN) -> answered', "
               << "'' using (strcol(1) eq 'direct' ? $2 : 1/0):(1.0/" << std::max<std::size_t>(direct_ms.size(), 1)
               << ") smooth cumulative lw 2 title 'produced to Kafka -> answered'\n";
            gp.close();
            if (std::system(("gnuplot " + script).c_str()) == 0) std::cout << "  plot: " << out_dir << "/ldap-latency.png\n";
        }
    } catch (const std::exception& e) {
        std::cerr << "benchmark failed: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
