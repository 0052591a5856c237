#include "provbridge/transforms/alerts.hpp"

#include <chrono>
#include <cstdio>

namespace provbridge::transforms {
namespace {

struct Told {
    bool quarantined = false;
    std::int64_t since_ms = 0;
    bool staged = false;
};

// alert_key's format: "q=<0|1>;since=<ms>;staged=<0|1>"; anything else reads as nothing told.
Told parse_told(const std::string& key) {
    Told t;
    int q = 0;
    long long since = 0;
    int staged = 0;
    if (std::sscanf(key.c_str(), "q=%d;since=%lld;staged=%d", &q, &since, &staged) == 3) {
        t.quarantined = q != 0;
        t.since_ms = since;
        t.staged = staged != 0;
    }
    return t;
}

std::string utc(std::int64_t ms) {
    using namespace std::chrono;
    const sys_time<milliseconds> t{milliseconds(ms)};
    const auto day = floor<days>(t);
    const year_month_day ymd{day};
    const hh_mm_ss hms{floor<seconds>(t - day)};
    char out[64];
    std::snprintf(out, sizeof out, "%04d-%02u-%02uT%02lld:%02lld:%02lldZ", static_cast<int>(ymd.year()),
                  static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                  static_cast<long long>(hms.hours().count()), static_cast<long long>(hms.minutes().count()),
                  static_cast<long long>(hms.seconds().count()));
    return out;
}

// RFC 5322's date: "Wed, 02 Dec 2026 00:40:02 +0000".
std::string rfc5322_date(std::int64_t ms) {
    using namespace std::chrono;
    static const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    const sys_time<milliseconds> t{milliseconds(ms)};
    const auto day = floor<days>(t);
    const year_month_day ymd{day};
    const weekday wd{day};
    const hh_mm_ss hms{floor<seconds>(t - day)};
    char out[64];
    std::snprintf(out, sizeof out, "%s, %02u %s %04d %02lld:%02lld:%02lld +0000", kDays[wd.c_encoding()],
                  static_cast<unsigned>(ymd.day()), kMonths[static_cast<unsigned>(ymd.month()) - 1],
                  static_cast<int>(ymd.year()), static_cast<long long>(hms.hours().count()),
                  static_cast<long long>(hms.minutes().count()), static_cast<long long>(hms.seconds().count()));
    return out;
}

// A header value: one line of printable ASCII (anything else becomes '?'), so no header can be
// injected through an app id or an error code.
std::string header_text(const std::string& text) {
    std::string out;
    for (char c : text) {
        const auto u = static_cast<unsigned char>(c);
        out.push_back(u >= 0x20 && u < 0x7f ? c : '?');
    }
    return out.substr(0, 900);
}

// Body lines: CRLF, none longer than SMTP allows (998), control characters dropped.
std::string body_text(const std::string& text) {
    std::string out;
    std::size_t line = 0;
    for (char c : text) {
        if (c == '\n') {
            out += "\r\n";
            line = 0;
            continue;
        }
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t') continue;
        if (line >= 990 && (static_cast<unsigned char>(c) & 0xC0) != 0x80) {
            out += "\r\n";
            line = 0;
        }
        out.push_back(c);
        ++line;
    }
    return out;
}

std::string dashboard_line(const std::string& url, const std::string& app) {
    return url.empty() ? std::string() : "\nDashboard: " + url + "#/apps/" + app + "\n";
}

}  // namespace

std::string alert_key(const AlertState& state) {
    return "q=" + std::string(state.quarantined ? "1" : "0") +
           ";since=" + std::to_string(state.quarantined ? state.since_ms : 0) +
           ";staged=" + std::string(state.staged > 0 ? "1" : "0");
}

std::vector<Notification> alert_changes(const std::string& app, const std::string& told, const AlertState& now,
                                        std::int64_t now_ms, const std::string& dashboard_url) {
    const Told before = parse_told(told);
    std::vector<Notification> out;
    const auto make = [&](NotificationKind kind, std::string subject, std::string text, nlohmann::json detail) {
        Notification n;
        n.app = app;
        n.kind = kind;
        n.subject = std::move(subject);
        n.text = std::move(text) + dashboard_line(dashboard_url, app);
        n.detail = std::move(detail);
        n.at_ms = now_ms;
        out.push_back(std::move(n));
    };
    const bool entered = now.quarantined && (!before.quarantined || before.since_ms != now.since_ms);
    if (before.quarantined && (!now.quarantined || entered)) {
        make(NotificationKind::QuarantineLifted, "provbridge: app " + app + " is out of quarantine",
             "App " + app + " left its quarantine (it began " + utc(before.since_ms) + ").\n"
                 "Its waiting events run again.\n",
             {{"since", utc(before.since_ms)}});
    }
    if (entered) {
        make(NotificationKind::QuarantineEntered,
             "provbridge: app " + app + " is quarantined (" + now.code + ")",
             "App " + app + " is quarantined since " + utc(now.since_ms) + ": " + now.code + ".\n"
                 "Reason: " + now.reason + "\n"
                 "Its events wait in Redis; none is lost. The next probe is at " + utc(now.next_probe_ms) +
                 "; the quarantine ends by itself when a probe succeeds.\n"
                 "What to do: check the app's endpoint and token (provbridge test-connection --app " + app +
                 "); once it is fixed, `provbridge quarantine clear --app " + app +
                 "` (or Clear on the dashboard) lets the events run at once.\n",
             {{"code", now.code}, {"reason", now.reason}, {"since", utc(now.since_ms)},
              {"next_probe", utc(now.next_probe_ms)}});
    }
    if (!before.staged && now.staged > 0) {
        make(NotificationKind::DeletesStaged,
             "provbridge: app " + app + " has disables and deletes staged for an operator",
             "The deletion threshold of app " + app + " holds " + std::to_string(now.staged) +
                 " disable(s) or delete(s): more were asked for than it allows within its window.\n"
                 "Nothing is sent until an operator decides: `provbridge deletes status --app " + app +
                 "`, then `deletes allow` or `deletes discard` (or Allow / Discard on the dashboard).\n",
             {{"staged", now.staged}});
    }
    if (before.staged && now.staged == 0) {
        make(NotificationKind::DeletesReleased, "provbridge: app " + app + " has no staged deletes any more",
             "The disables and deletes the deletion threshold of app " + app +
                 " held were allowed or discarded.\n",
             nlohmann::json::object());
    }
    return out;
}

std::string email_message(const Notification& n, const std::string& from, const std::vector<std::string>& to,
                          const std::string& message_id) {
    std::string recipients;
    for (const auto& r : to) recipients += (recipients.empty() ? "" : ", ") + header_text(r);
    return "Date: " + rfc5322_date(n.at_ms) + "\r\n" + "From: " + header_text(from) + "\r\n" + "To: " + recipients +
           "\r\n" + "Message-ID: <" + header_text(message_id) + ">\r\n" + "Subject: " + header_text(n.subject) +
           "\r\n" + "MIME-Version: 1.0\r\n" + "Content-Type: text/plain; charset=utf-8\r\n" +
           "Content-Transfer-Encoding: 8bit\r\n" + "X-Provbridge-Event: " + std::string(to_string(n.kind)) + "\r\n" +
           "\r\n" + body_text(n.text);
}

nlohmann::json webhook_document(const Notification& n) {
    return {{"source", "provbridge"},
            {"event", std::string(to_string(n.kind))},
            {"app", n.app},
            {"at", utc(n.at_ms)},
            {"subject", n.subject},
            {"text", n.text},
            {"detail", n.detail}};
}

}  // namespace provbridge::transforms
