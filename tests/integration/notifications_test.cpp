// Notifications against local sinks started here: an SMTP server (Debian's aiosmtpd) and an
// HTTP server (cpp-httplib) for the webhook, with two real workers watching the same app.
#include <gtest/gtest.h>

#include <httplib.h>

#include <condition_variable>
#include <fstream>
#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>

#include "bridge_harness.hpp"
#include "provbridge/ops/process.hpp"

namespace provbridge {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
using test_support::BridgeHarness;

constexpr const char* kApp = "app";

// Takes the webhook's POSTs and keeps them, for the test to wait on.
class WebhookSink {
public:
    WebhookSink() {
        server_.Post("/hook", [this](const httplib::Request& req, httplib::Response& res) {
            {
                std::lock_guard lock(mutex_);
                bodies_.push_back(json::parse(req.body, nullptr, false));
                authorizations_.push_back(req.get_header_value("Authorization"));
            }
            cv_.notify_all();
            res.status = 204;
        });
        port_ = server_.bind_to_any_port("127.0.0.1");
        thread_ = std::thread([this] { server_.listen_after_bind(); });
    }
    ~WebhookSink() {
        while (!server_.is_running()) std::this_thread::yield();
        server_.stop();
        thread_.join();
    }
    int port() const { return port_; }
    // Waits until at least n documents arrived (or the timeout); returns how many there are.
    std::size_t wait_for(std::size_t n, std::chrono::milliseconds timeout) {
        std::unique_lock lock(mutex_);
        cv_.wait_for(lock, timeout, [&] { return bodies_.size() >= n; });
        return bodies_.size();
    }
    std::vector<json> bodies() {
        std::lock_guard lock(mutex_);
        return bodies_;
    }
    std::vector<std::string> authorizations() {
        std::lock_guard lock(mutex_);
        return authorizations_;
    }

private:
    httplib::Server server_;
    int port_ = 0;
    std::thread thread_;
    std::mutex mutex_;
    std::condition_variable cv_;
    std::vector<json> bodies_;
    std::vector<std::string> authorizations_;
};

json user_event(const std::string& id, const std::string& user) {
    return {{"specversion", "1.0"},
            {"id", id},
            {"source", "urn:directory:notify"},
            {"type", "provisioning.user.assigned"},
            {"data",
             {{"app", kApp},
              {"object",
               {{"type", "user"},
                {"id", user},
                {"version", 1},
                {"attributes",
                 {{"userPrincipalName", user + "@contoso.example"}, {"mailNickname", user}, {"givenName", user},
                  {"surname", "Tester"}, {"displayName", user + " Tester"}, {"accountEnabled", true}}}}},
              {"assignment", {{"role", "User"}}}}}};
}

TEST(Notifications, AQuarantineEnteredAndLiftedIsOneEmailAndOneWebhookEachWhateverTheWorkers) {
    const int smtp_port = ops::pick_free_port();
    ops::ChildProcess::Options smtp_options;
    smtp_options.argv = {"/usr/bin/python3", "-u", "-m", "aiosmtpd", "-n", "-d", "-l",
                         "127.0.0.1:" + std::to_string(smtp_port)};
    smtp_options.merge_stderr = true;
    ops::ChildProcess smtp(std::move(smtp_options));
    ASSERT_TRUE(smtp.wait_for_line("Server is listening", 30000ms).has_value()) << "the SMTP sink did not start";
    WebhookSink hook;
    ops::TempDir dir("provbridge-notify-");
    const std::string hook_token = "hook-secret-5c1d";
    std::ofstream(dir.path() + "/hook-token") << hook_token << "\n";

    BridgeHarness::Options options;
    options.app = kApp;
    options.group = "notify";
    options.config_extra = {
        {"notifications",
         {{"email",
           {{"smtp_url", "smtp://127.0.0.1:" + std::to_string(smtp_port)},
            {"from", "provbridge@contoso.example"},
            {"to", {"ops@contoso.example", "oncall@contoso.example"}}}},
          {"webhook",
           {{"url", "http://127.0.0.1:" + std::to_string(hook.port()) + "/hook"},
            {"token_file", dir.path() + "/hook-token"}}}}}};
    BridgeHarness bridge(options);
    // Two workers of the group watch the same app: each change must still be told once.
    auto first = bridge.start_worker(false, "error");
    auto second = bridge.start_worker(false, "error");

    // The token rotated at the target: the app answers 401 and is quarantined.
    bridge.admin(HttpMethod::Put, "/_admin/token", {}, json{{"token", "rotated-elsewhere"}});
    for (int i = 0; i < 3; ++i) bridge.send_event(user_event("n" + std::to_string(i), "notified-" + std::to_string(i)));
    std::string mail;
    const auto collect_until = [&](const std::string& needle) {
        while (auto line = smtp.read_line(60000ms)) {
            mail += *line + "\n";
            if (line->find(needle) != std::string::npos) return true;
        }
        return false;
    };
    ASSERT_TRUE(collect_until("Subject: provbridge: app app is quarantined (Unauthorized)")) << mail;
    ASSERT_TRUE(collect_until("END MESSAGE")) << mail;
    ASSERT_GE(hook.wait_for(1, 60000ms), 1u);

    // The token restored: the next probe lifts the quarantine, and that is told once too.
    bridge.admin(HttpMethod::Put, "/_admin/token", {}, json{{"token", bridge.token()}});
    ASSERT_TRUE(collect_until("Subject: provbridge: app app is out of quarantine")) << mail;
    ASSERT_TRUE(collect_until("END MESSAGE")) << mail;
    ASSERT_GE(hook.wait_for(2, 60000ms), 2u);
    // The waiting events are applied; by then both workers have looked at the app many times.
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    std::int64_t applied = 0;
    while (applied < 3 && std::chrono::steady_clock::now() < deadline) {
        auto last = bridge.reader().last_log_id(kApp);
        ASSERT_TRUE(last.ok());
        auto stats = bridge.reader().stats(kApp);
        ASSERT_TRUE(stats.ok());
        applied = stats->count("created") ? stats->at("created") : 0;
        if (applied < 3) (void)bridge.reader().log_since(kApp, *last, 10, 1000ms);
    }
    EXPECT_EQ(applied, 3);
    EXPECT_EQ(hook.wait_for(3, 5000ms), 2u) << "a change was told twice";

    const auto bodies = hook.bodies();
    ASSERT_EQ(bodies.size(), 2u);
    EXPECT_EQ(bodies[0]["event"], "quarantine_entered");
    EXPECT_EQ(bodies[0]["app"], kApp);
    EXPECT_EQ(bodies[0]["detail"]["code"], "Unauthorized");
    EXPECT_EQ(bodies[1]["event"], "quarantine_lifted");
    for (const auto& auth : hook.authorizations()) EXPECT_EQ(auth, "Bearer " + hook_token);

    // Exactly two messages, to both recipients, with the reason and what to do.
    std::size_t subjects = 0;
    for (std::size_t at = mail.find("Subject: "); at != std::string::npos; at = mail.find("Subject: ", at + 1)) {
        ++subjects;
    }
    EXPECT_EQ(subjects, 2u) << mail;
    EXPECT_NE(mail.find("To: ops@contoso.example, oncall@contoso.example"), std::string::npos) << mail;
    EXPECT_NE(mail.find("Reason: "), std::string::npos) << mail;
    EXPECT_NE(mail.find("provbridge quarantine clear --app app"), std::string::npos) << mail;
    EXPECT_NE(mail.find("Dashboard: http://127.0.0.1:"), std::string::npos) << mail;
    EXPECT_EQ(mail.find(bridge.token()), std::string::npos) << "the SCIM token is in a message";
    EXPECT_EQ(mail.find(hook_token), std::string::npos) << "the webhook token is in a message";
    first->stop(30000ms);
    second->stop(30000ms);
}

}  // namespace
}  // namespace provbridge
